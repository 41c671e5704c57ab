"""The tenant-facing S3 application: one middleware for outcomes, one catch-all handler.

Owns: the order of a request's life (address -> authenticate -> verify the body while streaming it
upstream -> stream the answer back), the request id, the rendering of S3 errors (the only place an
`S3Error` becomes a response) and the access-log line. Every request produces exactly one outcome:
one response (or one aborted connection) and one log line.

Does not own: signature maths (sigv4), body framing and checks (payload), addressing rules
(addressing), the upstream connection (forward), key storage (ledger).

aiohttp answers malformed HTTP (bad request line, conflicting framing headers) itself with a plain
400 before any middleware runs; those requests never reach this module and cannot be S3 XML.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import secrets
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from proxy import addressing, authz, payload, sigv4
from proxy.authn import Authenticated, Authenticator
from proxy.cache import TTLCache
from proxy.config import Config
from proxy.forward import Upstream, UpstreamRequest, returnable_response_headers
from proxy.isolation import Isolation
from proxy.ledger import Credentials, Ledger
from proxy.log import access_logger, server_logger
from proxy.s3errors import S3Error, S3ErrorCode, error_xml

Clock = Callable[[], datetime]

CONFIG = web.AppKey("config", Config)
LEDGER = web.AppKey("ledger", Ledger)
AUTHN = web.AppKey("authn", Authenticator)
ISOLATION = web.AppKey("isolation", Isolation)
KEY_USAGE: web.AppKey[KeyUsage] = web.AppKey("key_usage")
KEYS: web.AppKey[TTLCache[Credentials | None]] = web.AppKey("keys")
UPSTREAM = web.AppKey("upstream", Upstream)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")

#: Body bytes are handed on as they arrive; a read returns at most this much.
_READ_SIZE = 256 * 1024
#: How often keys' last_used_at reaches the ledger.
_KEY_USAGE_FLUSH_SECONDS = 5.0
#: Upstream answers up to this size are read whole and sent back in one write.
_SMALL_BODY_BYTES = 64 * 1024


@dataclass
class Exchange:
    """What one request did; the access log line (and later the meter) reads it."""

    request_id: str
    started: float = field(default_factory=time.monotonic)
    tenant: str = "-"
    access_key_id: str = "-"
    bytes_in: int = 0  # decoded body bytes received from the tenant
    bytes_out: int = 0  # body bytes sent to the tenant
    upstream_request_id: str = "-"
    error_code: str = "-"


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


#: A presigned URL's signature is a bearer credential until it expires: never log it.
_SIGNATURE_PARAM = re.compile(r"((?:^|[?&])(?:X-Amz-Signature|Signature)=)[^&]*", re.IGNORECASE)


def loggable_target(raw_path: str) -> str:
    return _SIGNATURE_PARAM.sub(r"\1REDACTED", raw_path)


_REQUEST_ID_PREFIX = secrets.token_hex(4).upper()
_request_ids = itertools.count(1)


def new_request_id() -> str:
    """16 upper-case hex digits, the shape of S3's x-amz-request-id: a random per-process prefix
    and a counter, so ids are unique across workers without a random draw per request."""
    return f"{_REQUEST_ID_PREFIX}{next(_request_ids) & 0xFFFFFFFF:08X}"


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
    try:
        resp = await handler(request)
        status = resp.status
        return resp
    except S3Error as e:
        exchange.error_code = e.code.name
        status = e.status
        return render_error(request, e, exchange.request_id)
    except Exception:
        server_logger.exception("request %s failed", exchange.request_id)
        exchange.error_code = S3ErrorCode.InternalError.name
        status = 500
        return render_error(request, S3Error(S3ErrorCode.InternalError), exchange.request_id)
    finally:
        access_logger.info(
            "%s %s %s %s status=%d error=%s tenant=%s key=%s in=%d out=%d ms=%.1f upstream_id=%s",
            exchange.request_id,
            request.remote,
            request.method,
            loggable_target(request.raw_path),
            status,
            exchange.error_code,
            exchange.tenant,
            exchange.access_key_id,
            exchange.bytes_in,
            exchange.bytes_out,
            (time.monotonic() - exchange.started) * 1000,
            exchange.upstream_request_id,
        )


class _BodyPump:
    """The tenant's body, decoded and checked, as an async iterator for the upstream request.

    A failed check is remembered in `error` as well as raised: aiohttp's client wraps exceptions
    from a body iterator, and the handler must answer with the check's own S3 error.
    """

    def __init__(
        self,
        request: web.Request,
        decoder: payload.BodyDecoder,
        exchange: Exchange,
        *,
        send_continue: bool,
        reframe: payload.TrailerReframer | None = None,
        prefetched: bytes | None = None,
    ) -> None:
        self._request = request
        self._decoder = decoder
        self._exchange = exchange
        self._reframe = reframe
        self._prefetched = prefetched
        self.send_continue = send_continue
        self.error: S3Error | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            if self.send_continue:
                # Only now, after the upstream said 100 too, does the tenant start sending.
                await _send_continue(self._request)
            if self._reframe is not None and (prefix := self._reframe.prefix()):
                yield prefix
            chunks = (
                _read_chunks(self._request) if self._prefetched is None else _one(self._prefetched)
            )
            async for data in chunks:
                out = self._decoder.feed(data)
                if out:
                    self._exchange.bytes_in += len(out)
                    yield out
            tail = self._decoder.finish()
            self._exchange.bytes_in += len(tail)
            if self._reframe is not None:
                tail += self._reframe.suffix(self._decoder.checksums)
            if tail:
                yield tail
        except S3Error as e:
            self.error = e
            raise
        except (ConnectionError, HttpProcessingError) as e:
            # The tenant's connection ended before the declared body did.
            self.error = S3Error(S3ErrorCode.IncompleteBody)
            raise self.error from e

    async def drain(self) -> None:
        """Read and check a body that must decode to nothing (aws-chunked, 0 bytes declared)."""
        async for data in self:
            # The decoder refuses more than x-amz-decoded-content-length; this is a backstop.
            raise S3Error(S3ErrorCode.IncompleteBody, f"{len(data)} bytes beyond the declared 0")


async def _send_continue(request: web.Request) -> None:
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0


def _expects_continue(request: web.Request) -> bool:
    return request.headers.get("Expect", "").lower() == "100-continue"


async def _one(data: bytes) -> AsyncIterable[bytes]:
    if data:
        yield data


async def _read_chunks(request: web.Request) -> AsyncIterable[bytes]:
    while True:
        data = await request.content.read(_READ_SIZE)
        if not data:
            return
        yield data


def _body_check_headers(
    method: str, raw_query: str, headers: list[tuple[str, str]]
) -> dict[str, str]:
    """The headers that describe the body (lower-case names) for the payload decoder.

    On CompleteMultipartUpload (POST ?uploadId=) x-amz-checksum-* describe the assembled object,
    not the XML body, so the body is not checked against them (the upstream does that).
    """
    lower = {k.lower(): v for k, v in headers}
    if method == "POST" and any(p.partition("=")[0] == "uploadId" for p in raw_query.split("&")):
        lower = {k: v for k, v in lower.items() if not k.startswith("x-amz-checksum-")}
    return lower


def _decoded_length(request: web.Request, auth: Authenticated) -> int | None:
    """Bytes the upstream will receive; None when the request has no body framing at all."""
    if auth.payload_hash.startswith("STREAMING-") and auth.chunked:
        value = request.headers.get("x-amz-decoded-content-length", "")
        if not value.isdigit():
            raise S3Error(
                S3ErrorCode.MissingContentLength,
                "x-amz-decoded-content-length is required with aws-chunked payloads.",
            )
        return int(value)
    if request.content_length is not None:
        return request.content_length
    if request.body_exists:
        # HTTP chunked without aws-chunked framing: S3 needs the length up front.
        raise S3Error(S3ErrorCode.MissingContentLength)
    return None


async def _read_ahead(request: web.Request, limit: int) -> bytes:
    """Up to `limit` bytes of the body, read before the signature is checked (see authn)."""
    if _expects_continue(request):
        await _send_continue(request)
    try:
        return await request.content.readexactly(min(limit, request.content_length or limit))
    except asyncio.IncompleteReadError as e:
        if request.content_length is None:
            return e.partial  # chunked: the whole body was shorter than the limit
        raise S3Error(S3ErrorCode.IncompleteBody) from e


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
        read_body=lambda limit: _read_ahead(request, limit),
        virtual_bucket=virtual_bucket,
    )
    exchange.tenant = auth.creds.key.tenant_name
    exchange.access_key_id = auth.creds.key.access_key_id
    if auth.creds.key.tenant_status != "active":
        # A suspended tenant's data stays untouched; every request is refused.
        raise S3Error(S3ErrorCode.AccessDenied, "The account is suspended.")
    if addressing_error is not None:
        raise addressing_error
    assert target is not None
    request.app[KEY_USAGE].used(auth.creds.key.access_key_id, request.app[CLOCK]())

    tenant_id = auth.creds.key.tenant_id
    isolation = request.app[ISOLATION]
    operation = authz.bucket_operation(request.method, target, raw_query)
    if operation is authz.BucketOperation.LIST_BUCKETS:
        body = await isolation.list_buckets(tenant_id, auth.creds.key.tenant_name)
        return web.Response(body=body, content_type="application/xml")
    if operation is authz.BucketOperation.CREATE_BUCKET:
        assert target.bucket is not None
        await isolation.before_create(
            tenant_id, target.bucket, lambda: _exists_upstream(request, target)
        )
    else:
        await isolation.check(tenant_id, target, {k.lower(): v for k, v in headers})

    decoder = payload.make_decoder(
        auth.payload_hash,
        _body_check_headers(request.method, raw_query, [*headers, *auth.extra_headers]),
        auth.chain,
        # Presigned URLs and SigV2 carry no chunk signatures: S3 reads any value but
        # UNSIGNED-PAYLOAD as a claimed SHA-256 of the body.
        chunked=auth.chunked,
    )
    length = _decoded_length(request, auth)
    # A body read ahead (see authn) has had its 100 Continue already.
    expect = _expects_continue(request) and auth.prefetched_body is None
    prefetched = auth.prefetched_body
    pump: _BodyPump | None = None
    reframe: payload.TrailerReframer | None = None
    extra_headers: list[tuple[str, str]] = list(auth.extra_headers)
    trailer_algorithm = decoder.trailer_algorithm
    if request.body_exists and length:
        if trailer_algorithm is not None:
            reframe = payload.TrailerReframer(length, trailer_algorithm)
        pump = _BodyPump(
            request,
            decoder,
            exchange,
            send_continue=expect,
            reframe=reframe,
            prefetched=prefetched,
        )
    else:
        # An empty decoded body has no last byte to hold back, so it is checked in full before
        # the upstream sees the request: the payload hash (and any checksum header) must hold
        # for it, and an aws-chunked body declaring 0 bytes must carry exactly that.
        if request.body_exists:
            await _BodyPump(
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
                await isolation.after_delete(tenant_id, target.bucket)
        return await _stream_back(request, upstream_resp, exchange)


async def _exists_upstream(request: web.Request, target: addressing.Target) -> bool:
    """HeadBucket upstream: anything but 404 means the name is not free to take."""
    probe = UpstreamRequest(
        method="HEAD",
        path=addressing.upstream_path(target),
        query="",
        headers=[],
        payload_hash=sigv4.EMPTY_SHA256,
        content_length=None,
        body=None,
    )
    async with await request.app[UPSTREAM].open(probe) as resp:
        return resp.status != 404


async def _stream_back(
    request: web.Request, up: aiohttp.ClientResponse, exchange: Exchange
) -> web.StreamResponse:
    exchange.upstream_request_id = up.headers.get("x-amz-request-id", "-")
    headers = returnable_response_headers(up.headers.items())
    body_unread = request.body_exists and not request.content.is_eof()
    if request.method != "HEAD" and (up.content_length or 0) <= _SMALL_BODY_BYTES:
        # Small answers (XML documents, small objects): read whole, then send headers and body
        # in one write. Memory stays bounded by _SMALL_BODY_BYTES, and an upstream failure can
        # still become a clean S3 error because nothing was sent yet.
        try:
            body = await up.content.read() if up.content_length else b""
        except (aiohttp.ClientError, TimeoutError) as e:
            raise S3Error(S3ErrorCode.ServiceUnavailable) from e
        if up.content_length is None or len(body) != up.content_length:
            # No length announced (chunked) or a short read: stream whatever is left instead.
            return await _stream_body(request, up, exchange, headers, body_unread, body)
        small = web.Response(status=up.status, reason=up.reason, body=body, headers=headers)
        if body_unread:
            small.force_close()
        exchange.bytes_out += len(body)
        return small
    return await _stream_body(request, up, exchange, headers, body_unread, b"")


async def _stream_body(
    request: web.Request,
    up: aiohttp.ClientResponse,
    exchange: Exchange,
    headers: list[tuple[str, str]],
    body_unread: bool,
    first: bytes,
) -> web.StreamResponse:
    resp = web.StreamResponse(status=up.status, reason=up.reason)
    for name, value in headers:
        resp.headers.add(name, value)
    if up.content_length is not None:
        resp.content_length = up.content_length
    if body_unread:
        resp.force_close()  # the upstream answered before the body was sent (e.g. NoSuchBucket)
    await resp.prepare(request)
    if first:
        await resp.write(first)
        exchange.bytes_out += len(first)
    if request.method == "HEAD":
        await resp.write_eof()
        return resp
    try:
        async for data in up.content.iter_any():
            await resp.write(data)
            exchange.bytes_out += len(data)
    except (aiohttp.ClientError, TimeoutError) as e:
        # Headers are gone already: the only honest signal left is to cut the connection, so the
        # tenant sees a short body rather than a complete-looking truncated one.
        server_logger.warning("request %s: upstream failed mid-body: %r", exchange.request_id, e)
        exchange.error_code = "UpstreamBodyAborted"
        if request.transport is not None:
            request.transport.abort()
        return resp
    await resp.write_eof()
    return resp


async def _no_expect(request: web.Request) -> None:
    """Defer `100 Continue` until the request is authenticated and the upstream agreed."""


def create_app(cfg: Config, ledger: Ledger, *, clock: Clock | None = None) -> web.Application:
    app = web.Application(middlewares=[outcome_middleware], client_max_size=0)
    app[CONFIG] = cfg
    app[LEDGER] = ledger
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
    app[ISOLATION] = Isolation(ledger, cfg.s3.credential_cache_seconds)
    app[KEY_USAGE] = KeyUsage()

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
    app.router.add_route("*", "/{tail:.*}", s3_handler, expect_handler=_no_expect)
    return app
