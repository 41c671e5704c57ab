"""The tenant-facing S3 application: one middleware for outcomes, one catch-all handler.

Owns: the order of a request's life (address -> authenticate -> classify -> isolation and quota ->
verify the body while streaming it upstream -> stream the answer back -> storage events), the
rendering of S3 errors (the only place an `S3Error` becomes a response), and the outcome of every
request: exactly one response (or one aborted connection), one log line, one meter entry and one
metrics observation.

Does not own: who is asking (authn), what the operation is (routing), which buckets are theirs
(isolation), what a write does to storage (effects), moving bodies (bodies), body framing and
checks (payload), addressing rules (addressing), the upstream connection (forward), the
per-request record (exchange), aggregation (meter), key storage (ledger).

aiohttp answers malformed HTTP (bad request line, conflicting framing headers) itself with a plain
400 before any middleware runs; those requests never reach this module and cannot be S3 XML.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta

from aiohttp import web

from proxy import addressing, authz, bodies, effects, payload, routing, sigv4
from proxy.authn import Authenticator
from proxy.cache import TTLCache
from proxy.config import Config
from proxy.exchange import Exchange, loggable_target, new_request_id
from proxy.forward import Upstream, UpstreamRequest
from proxy.inflight import InFlight
from proxy.isolation import Isolation
from proxy.ledger import Credentials, Ledger
from proxy.log import access_logger, server_logger
from proxy.meter import FlushResult, Meter
from proxy.metrics import Metrics
from proxy.s3errors import S3Error, S3ErrorCode, error_xml
from proxy.usage import Batch

Clock = Callable[[], datetime]

CONFIG = web.AppKey("config", Config)
LEDGER = web.AppKey("ledger", Ledger)
AUTHN = web.AppKey("authn", Authenticator)
ISOLATION = web.AppKey("isolation", Isolation)
KEY_USAGE: web.AppKey[KeyUsage] = web.AppKey("key_usage")
IN_FLIGHT = web.AppKey("in_flight", InFlight)
KEYS: web.AppKey[TTLCache[Credentials | None]] = web.AppKey("keys")
UPSTREAM = web.AppKey("upstream", Upstream)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
METER = web.AppKey("meter", Meter)
METRICS = web.AppKey("metrics", Metrics)
#: Worker threads that digest large bodies off the event loop (bodies.OFFLOAD_BYTES).
DIGESTS = web.AppKey("digests", bodies.DigestWorkers)

#: How often keys' last_used_at reaches the ledger.
_KEY_USAGE_FLUSH_SECONDS = 5.0


EXCHANGE = web.RequestKey("exchange", Exchange)


class KeyUsage:
    """When each access key was last used, collected in memory and written in batches."""

    def __init__(self) -> None:
        self._pending: dict[str, datetime] = {}

    def used(self, access_key_id: str, at: datetime) -> None:
        self._pending[access_key_id] = at

    def take(self) -> dict[str, datetime]:
        pending, self._pending = self._pending, {}
        return pending


def render_error(request: web.Request, error: S3Error, request_id: str) -> web.Response:
    raw_path = request.raw_path.partition("?")[0]
    body = (
        b""
        if request.method == "HEAD"
        else error_xml(error, request_id=request_id, resource=raw_path)
    )
    resp = web.Response(status=error.status, body=body if body else None)
    resp.headers["Content-Type"] = "application/xml"
    resp.headers["x-amz-request-id"] = request_id
    if request.method == "HEAD":
        # HEAD errors carry no body but their length is the empty body's, as S3 answers.
        resp.headers["Content-Length"] = "0"
    if request.body_exists and not request.content.is_eof():
        # The body was never read (refused before it started, or left mid-way): the connection
        # cannot carry another request, and the tenant must not keep sending into it.
        resp.force_close()
    return resp


@web.middleware
async def outcome_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    exchange = Exchange(request_id=new_request_id())
    request[EXCHANGE] = exchange
    status = 0
    in_flight = request.app[IN_FLIGHT]
    in_flight.enter()
    try:
        resp = await handler(request)
        status = resp.status
        if in_flight.draining and not resp.prepared:
            resp.force_close()  # stopping: this connection carries no further request
        return resp
    except S3Error as e:
        exchange.error_code = e.code.name
        status = e.status
        return _error_out(request, e, exchange)
    except Exception:
        server_logger.exception("request %s failed", exchange.request_id)
        exchange.error_code = S3ErrorCode.InternalError.name
        status = 500
        return _error_out(request, S3Error(S3ErrorCode.InternalError), exchange)
    finally:
        in_flight.leave()
        _meter(request, exchange, status)
        elapsed_ms = round((time.monotonic() - exchange.started) * 1000, 1)
        fields = {
            "request_id": exchange.request_id,
            "remote": request.remote,
            "method": request.method,
            "target": loggable_target(request.raw_path),
            "operation": exchange.operation,
            "status": exchange.status or status,
            "error": exchange.error_code,
            "tenant": exchange.tenant,
            "key_id": exchange.access_key_id,
            "bytes_in": exchange.bytes_in,
            "bytes_out": exchange.bytes_out,
            "ms": elapsed_ms,
            "upstream_id": exchange.upstream_request_id,
        }
        access_logger.info(
            "%s %s %s %s op=%s status=%d error=%s tenant=%s key=%s in=%d out=%d ms=%.1f"
            " upstream_id=%s",
            *fields.values(),
            extra={"fields": fields},
        )


def _error_out(request: web.Request, error: S3Error, exchange: Exchange) -> web.Response:
    resp = render_error(request, error, exchange.request_id)
    exchange.bytes_out += len(resp.body) if isinstance(resp.body, bytes) else 0
    return resp


def _meter(request: web.Request, exchange: Exchange, status: int) -> None:
    """Count the outcome. Once an answer's headers went out its status stands, even when the
    body was cut off (an aborted download counts the bytes that were sent)."""
    status = exchange.status or status
    at = request.app[CLOCK]()
    if not request.app[CONFIG].meter.enabled:
        pass
    elif exchange.tenant_id is None:
        request.app[METER].anonymous(
            at=at, error_code=exchange.error_code, bytes_in=0, bytes_out=exchange.bytes_out
        )
    else:
        request.app[METER].call(
            at=at,
            tenant_id=exchange.tenant_id,
            access_key_id=exchange.access_key_id,
            bucket=exchange.bucket,
            operation=exchange.operation,
            status=status,
            bytes_in=exchange.bytes_in,
            bytes_out=exchange.bytes_out,
        )
    request.app[METRICS].observe(
        exchange.operation if exchange.tenant_id is not None else "Unauthenticated",
        status,
        exchange.bytes_in,
        exchange.bytes_out,
        time.monotonic() - exchange.started,
    )
    if exchange.status >= 500:  # exchange.status is set only from the upstream's answer
        request.app[METRICS].upstream_errors.labels("5xx").inc()
    elif exchange.error_code == S3ErrorCode.ServiceUnavailable.name:
        request.app[METRICS].upstream_errors.labels("unreachable").inc()


async def s3_handler(request: web.Request) -> web.StreamResponse:
    cfg = request.app[CONFIG]
    exchange: Exchange = request[EXCHANGE]
    raw_path, _, raw_query = request.raw_path.partition("?")
    headers = list(request.headers.items())
    # Addressing errors are raised only after authentication: an anonymous or forged request
    # learns nothing, not even whether its bucket name is valid.
    target: addressing.Target | None = None
    addressing_error: S3Error | None = None
    try:
        target = addressing.resolve(request.host, raw_path, cfg.s3.base_domains)
    except S3Error as e:
        addressing_error = e
    virtual_bucket = target.bucket if target is not None and target.style == "virtual" else None

    auth = await request.app[AUTHN].authenticate(
        request.method,
        raw_path,
        raw_query,
        headers,
        now=request.app[CLOCK](),
        has_body=request.body_exists,
        read_body=lambda limit: bodies.read_ahead(request, limit),
        virtual_bucket=virtual_bucket,
    )
    exchange.tenant = auth.creds.key.tenant_name
    exchange.tenant_id = auth.creds.key.tenant_id
    exchange.access_key_id = auth.creds.key.access_key_id
    query = dict(urllib.parse.parse_qsl(raw_query, keep_blank_values=True))
    if target is not None:
        exchange.operation = routing.classify(
            request.method,
            target.bucket,
            target.key,
            query.keys(),
            {name.lower() for name in request.headers},
        )
        exchange.bucket = target.bucket or ""
    else:  # an address that does not parse names no operation (not ListBuckets)
        exchange.operation = routing.UNKNOWN
    if auth.creds.key.tenant_status != "active":
        # A suspended tenant's data stays untouched; every request is refused.
        raise S3Error(S3ErrorCode.AccessDenied, "The account is suspended.")
    if addressing_error is not None:
        raise addressing_error
    assert target is not None
    request.app[KEY_USAGE].used(auth.creds.key.access_key_id, request.app[CLOCK]())

    authz.refuse_repeated_headers(headers)
    tenant_id = auth.creds.key.tenant_id
    isolation = request.app[ISOLATION]
    operation = authz.bucket_operation(request.method, target, raw_query)
    if operation is authz.BucketOperation.LIST_BUCKETS:
        body = await isolation.list_buckets(
            tenant_id, auth.creds.key.tenant_name, query, region=cfg.s3.region
        )
        exchange.bytes_out += len(body)
        return web.Response(body=body, content_type="application/xml")
    if target.bucket is None:
        # Nothing that names no bucket goes upstream: its answer would span every tenant.
        raise S3Error(S3ErrorCode.AccessDenied)
    if operation is authz.BucketOperation.CREATE_BUCKET:
        assert target.bucket is not None
        await isolation.before_create(
            tenant_id, target.bucket, lambda: _exists_upstream(request, target)
        )
    else:
        await isolation.check(tenant_id, target, request.headers)  # case-insensitive already
    if refused := effects.refusal(exchange.operation, request.headers):
        raise refused
    write = effects.Write(exchange.operation, target.bucket, target.key, query, request.headers)

    decoder = payload.make_decoder(
        auth.payload_hash,
        bodies.body_check_headers(request.method, raw_query, [*headers, *auth.extra_headers]),
        auth.chain,
        # Presigned URLs and SigV2 carry no chunk signatures: S3 reads any value but
        # UNSIGNED-PAYLOAD as a claimed SHA-256 of the body.
        chunked=auth.chunked,
    )
    length = bodies.decoded_length(request, auth)
    quota = auth.creds.key.tenant_quota_bytes
    if quota is not None and exchange.operation in effects.GROWING and cfg.meter.enabled:
        await _check_quota(request, tenant_id, quota, write, length)
    # A body read ahead (see authn) has had its 100 Continue already.
    expect = bodies.expects_continue(request) and auth.prefetched_body is None
    prefetched = auth.prefetched_body
    pump: bodies.BodyPump | None = None
    reframe: payload.TrailerReframer | None = None
    extra_headers: list[tuple[str, str]] = list(auth.extra_headers)
    trailer_algorithm = decoder.trailer_algorithm
    if request.body_exists and length:
        if trailer_algorithm is not None:
            reframe = payload.TrailerReframer(length, trailer_algorithm)
        pump = bodies.BodyPump(
            request,
            decoder,
            exchange,
            send_continue=expect,
            reframe=reframe,
            prefetched=prefetched,
            digests=request.app[DIGESTS] if length > bodies.OFFLOAD_BYTES else None,
        )
    else:
        # An empty decoded body has no last byte to hold back, so it is checked in full before
        # the upstream sees the request: the payload hash (and any checksum header) must hold
        # for it, and an aws-chunked body declaring 0 bytes must carry exactly that.
        if request.body_exists:
            await bodies.BodyPump(
                request, decoder, exchange, send_continue=expect, prefetched=prefetched
            ).drain()
        else:
            decoder.finish()
        if trailer_algorithm is not None:  # known now, so it can travel as a plain header
            extra_headers.append(
                (f"x-amz-checksum-{trailer_algorithm}", decoder.checksums[trailer_algorithm])
            )

    if reframe is not None:
        upstream_hash = sigv4.STREAMING_UNSIGNED_TRAILER
    elif len(auth.payload_hash) == 64:
        upstream_hash = auth.payload_hash.lower()  # verified by us; the upstream checks it again
    else:
        upstream_hash = sigv4.UNSIGNED_PAYLOAD
    up_req = UpstreamRequest(
        method=request.method,
        path=addressing.upstream_path(target),
        query=sigv4.canonical_query_string(raw_query, exclude=auth.strip_query),
        headers=headers,
        payload_hash=upstream_hash,
        content_length=reframe.encoded_length if reframe is not None else length,
        body=pump.__aiter__() if pump is not None else None,
        expect_continue=pump is not None and pump.send_continue,
        trailer=(reframe.trailer_name, reframe.decoded_length) if reframe is not None else None,
        extra_headers=extra_headers,
    )
    try:
        upstream_resp = await request.app[UPSTREAM].open(up_req)
    except Exception:
        if pump is not None and pump.error is not None:
            raise pump.error from None
        raise
    async with upstream_resp:
        if pump is not None and pump.error is not None:
            raise pump.error
        if target.bucket is not None and upstream_resp.status < 300:
            if operation is authz.BucketOperation.CREATE_BUCKET:
                await isolation.after_create(tenant_id, target.bucket, now=request.app[CLOCK]())
            elif operation is authz.BucketOperation.DELETE_BUCKET:
                await isolation.after_delete(tenant_id, target.bucket, now=request.app[CLOCK]())
        kept = bodies.Kept(effects.KEEP_LIMIT) if write.operation in effects.KEEP_BODY else None
        resp = await bodies.stream_back(request, upstream_resp, exchange, kept)
        response_headers = upstream_resp.headers
    await _storage_events(request, tenant_id, write, resp.status, response_headers, kept)
    return resp


async def _check_quota(
    request: web.Request, tenant_id: int, quota: int, write: effects.Write, length: int | None
) -> None:
    """Refuse, before any byte goes upstream, a write that would take the tenant past its
    quota. Stored bytes are the ledger's plus what the meter has not flushed yet; an overwrite
    counts in full, and concurrent writes can each pass (documented in the README)."""
    adding = await effects.growth(write, length, lambda b, k, v: _size_upstream(request, b, k, v))
    if not adding:
        return
    stored = await request.app[LEDGER].usage.stored_bytes(tenant_id)
    stored += request.app[METER].unflushed_bytes(tenant_id)
    if stored + adding > quota:
        raise S3Error(
            S3ErrorCode.QuotaExceeded,
            f"Storing {adding} more bytes would exceed the quota of {quota} bytes "
            f"({stored} stored).",
        )


async def _storage_events(
    request: web.Request,
    tenant_id: int,
    write: effects.Write,
    status: int,
    response_headers: Mapping[str, str],
    kept: bodies.Kept | None,
) -> None:
    """Hand the meter what the write changed. The answer is out already: a failure here is
    logged and left to reconciliation, never turned into an error for the tenant."""
    exchange = request[EXCHANGE]
    if not request.app[CONFIG].meter.enabled:
        return
    try:
        events = await effects.events(
            write,
            at=request.app[CLOCK](),
            status=status,
            response_headers=response_headers,
            kept=kept,
            bytes_in=exchange.bytes_in,
            sizes=lambda b, k, v: _size_upstream(request, b, k, v),
        )
    except Exception:
        server_logger.exception(
            "request %s: storage change of %s not metered", exchange.request_id, write.operation
        )
        return
    meter = request.app[METER]
    for event in events:
        meter.storage(tenant_id, event)


async def _size_upstream(
    request: web.Request, bucket: str, key: str, version_id: str | None
) -> int | None:
    """HeadObject upstream: the object's size, or None when it is not there."""
    probe = UpstreamRequest.own(
        "HEAD",
        addressing.upstream_path(addressing.Target(bucket, key, "path")),
        "" if version_id is None else "versionId=" + urllib.parse.quote(version_id, safe=""),
    )
    async with await request.app[UPSTREAM].open(probe) as resp:
        if resp.status == 200 and resp.content_length is not None:
            return resp.content_length
        return None


async def _exists_upstream(request: web.Request, target: addressing.Target) -> bool:
    """HeadBucket upstream: anything but 404 means the name is not free to take."""
    probe = UpstreamRequest.own("HEAD", addressing.upstream_path(target))
    async with await request.app[UPSTREAM].open(probe) as resp:
        return resp.status != 404


async def _no_expect(request: web.Request) -> None:
    """Defer `100 Continue` until the request is authenticated and the upstream agreed."""


def create_app(
    cfg: Config,
    ledger: Ledger,
    *,
    clock: Clock | None = None,
    meter: Meter | None = None,
    metrics: Metrics | None = None,
) -> web.Application:
    app = web.Application(middlewares=[outcome_middleware], client_max_size=0)
    app[CONFIG] = cfg
    app[LEDGER] = ledger
    app[METER] = meter or Meter(cfg.billing_timezone, cfg.meter.billing_classes)
    app[METRICS] = metrics or Metrics()
    keys: TTLCache[Credentials | None] = TTLCache(cfg.s3.credential_cache_seconds)
    app[KEYS] = keys
    app[AUTHN] = Authenticator(
        lambda key_id: keys.get(key_id, ledger.find_credentials),
        region=cfg.s3.region,
        max_skew=timedelta(seconds=cfg.s3.max_clock_skew_seconds),
        allow_sigv2=cfg.s3.allow_sigv2,
    )
    app[CLOCK] = clock or (lambda: datetime.now(UTC))

    async def upstream_ctx(app: web.Application) -> AsyncIterator[None]:
        cfg.upstream.require_credentials()
        async with Upstream.new_session(cfg.upstream) as session:
            app[UPSTREAM] = Upstream(cfg.upstream, session)
            yield

    app.cleanup_ctx.append(upstream_ctx)

    async def digests_ctx(app: web.Application) -> AsyncIterator[None]:
        # One event loop forwards ~1.4 GiB/s at most and SHA-256 runs ~1.7 GiB/s per thread:
        # a few workers keep up with it, and bound the memory batches hold (2 x 4 MiB each).
        app[DIGESTS] = bodies.DigestWorkers(min(os.cpu_count() or 2, 4))
        try:
            yield
        finally:
            app[DIGESTS].shutdown()

    app.cleanup_ctx.append(digests_ctx)
    app[ISOLATION] = Isolation(ledger, cfg.s3.credential_cache_seconds)
    app[KEY_USAGE] = KeyUsage()
    app[IN_FLIGHT] = InFlight()

    async def key_usage_ctx(app: web.Application) -> AsyncIterator[None]:
        """Write keys' last_used_at every few seconds in one transaction, and at shutdown."""

        async def flush() -> None:
            usage = app[KEY_USAGE].take()
            if usage:
                await ledger.touch_access_keys(usage)

        async def loop() -> None:
            while True:
                await asyncio.sleep(_KEY_USAGE_FLUSH_SECONDS)
                try:
                    await flush()
                except Exception:
                    server_logger.exception("writing keys' last use failed; will retry")

        task = asyncio.get_running_loop().create_task(loop())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await flush()

    app.cleanup_ctx.append(key_usage_ctx)

    async def meter_ctx(app: web.Application) -> AsyncIterator[None]:
        """Write the meter every flush interval, and a last time when the app stops."""
        metrics = app[METRICS]
        metrics.meter_pending.set_function(app[METER].pending)

        async def sink(batch: Batch) -> None:
            try:
                await ledger.usage.apply(batch)
            except BaseException:
                metrics.flush_failures.inc()
                raise

        def flushed(result: FlushResult) -> None:
            metrics.flushed(result.size, result.lag_seconds, result.duration_seconds)

        async with app[METER].running(sink, cfg.meter.flush_interval_seconds, flushed):
            yield

    # aiohttp runs cleanup after the listener closed and in-flight requests finished, so the
    # last flush sees every request.
    app.cleanup_ctx.append(meter_ctx)
    app.router.add_route("*", "/{tail:.*}", s3_handler, expect_handler=_no_expect)
    return app
