"""Bodies on their way through: the tenant's upload into the upstream request, and the upstream's
answer back to the tenant.

Owns: reading the tenant's body (with `100 Continue` sent only when the upstream agreed) through a
payload decoder into the upstream request, and the read-ahead authn needs for curl's SigV4; on the
way back, small answers in one write and large ones streamed, cutting the connection when the
upstream fails mid-body so a truncated object never looks complete. Memory stays bounded by
`READ_SIZE` (or `SMALL_BODY_BYTES` for answers read whole).

Does not own: the checks themselves (payload), signing for the upstream (forward), or what the
request is allowed to do (authn, isolation).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from proxy import payload
from proxy.authn import Authenticated
from proxy.exchange import Exchange
from proxy.forward import returnable_response_headers
from proxy.log import server_logger
from proxy.s3errors import S3Error, S3ErrorCode

#: Body bytes are handed on as they arrive; a read returns at most this much.
READ_SIZE = 256 * 1024
#: Upstream answers up to this size are read whole and sent back in one write.
SMALL_BODY_BYTES = 64 * 1024
#: Large bodies are digested off the event loop in batches of this many decoded bytes: the loop
#: forwards one batch while a worker thread digests the previous one. Measured on 2 cores
#: (256 MiB signed PUT, fast sink): 1 MiB batches gained nothing, 4 MiB took the loop thread
#: from ~1.4 to ~0.85 CPU-s/GiB and throughput up ~15%, 8-16 MiB did worse again.
OFFLOAD_BYTES = 4 * 1024 * 1024


class DigestWorkers:
    """Threads that bring large bodies' SHA-256 and MD5 up to date off the event loop (hashlib
    releases the GIL on large buffers), and the slots that bound how many bodies use them at
    once: a body using one holds up to 2 x OFFLOAD_BYTES (the batch being digested and the
    next). Bodies that find no free slot are digested inline, as small ones always are."""

    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="billflow-digest")
        self._free = workers

    def acquire(self) -> bool:
        if self._free == 0:
            return False
        self._free -= 1
        return True

    def release(self) -> None:
        self._free += 1

    def digest(self, decoder: payload.BodyDecoder) -> asyncio.Future[None]:
        """Digest what `decoder` deferred so far, in a worker thread."""
        segments = decoder.take_deferred()
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._pool, decoder.update_digests, segments)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)


class BodyPump:
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
        digests: DigestWorkers | None = None,
    ) -> None:
        self._request = request
        self._decoder = decoder
        self._exchange = exchange
        self._reframe = reframe
        self._prefetched = prefetched
        self._digests = digests
        self.send_continue = send_continue
        self.error: S3Error | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            if self.send_continue:
                # Only now, after the upstream said 100 too, does the tenant start sending.
                await send_continue_to(self._request)
            if self._reframe is not None and (prefix := self._reframe.prefix()):
                yield prefix
            chunks = (
                _read_chunks(self._request) if self._prefetched is None else _one(self._prefetched)
            )
            async with contextlib.aclosing(self._decoded(chunks)) as decoded:
                async for data in decoded:
                    self._exchange.bytes_in += len(data)
                    yield data
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

    async def _decoded(self, chunks: AsyncIterable[bytes]) -> AsyncGenerator[bytes, None]:
        """The decoded bytes safe to forward; with a digest worker slot, digested off the loop
        one batch at a time (so every digest sees the bytes in order), all of them before the
        decoder's `finish`."""
        workers = self._digests
        # Deferring only with a slot: without one, nobody would take the deferred bytes and the
        # whole body would be held until finish().
        if workers is None or not self._decoder.digests_deferrable or not workers.acquire():
            async for data in chunks:
                if out := self._decoder.feed(data):
                    yield out
            return
        self._decoder.defer_digests()
        digesting: asyncio.Future[None] | None = None
        try:
            async for data in chunks:
                out = self._decoder.feed(data)
                if self._decoder.deferred_bytes >= OFFLOAD_BYTES:
                    if digesting is not None:
                        await digesting
                    digesting = workers.digest(self._decoder)
                if out:
                    yield out
            if digesting is not None:
                await digesting
        finally:
            workers.release()

    async def drain(self) -> None:
        """Read and check a body that must decode to nothing (aws-chunked, 0 bytes declared)."""
        async for data in self:
            # The decoder refuses more than x-amz-decoded-content-length; this is a backstop.
            raise S3Error(S3ErrorCode.IncompleteBody, f"{len(data)} bytes beyond the declared 0")


async def send_continue_to(request: web.Request) -> None:
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0


def expects_continue(request: web.Request) -> bool:
    return request.headers.get("Expect", "").lower() == "100-continue"


async def _one(data: bytes) -> AsyncIterable[bytes]:
    if data:
        yield data


async def _read_chunks(request: web.Request) -> AsyncIterable[bytes]:
    while True:
        data = await request.content.read(READ_SIZE)
        if not data:
            return
        yield data


def body_check_headers(
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


def decoded_length(request: web.Request, auth: Authenticated) -> int | None:
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


async def read_ahead(request: web.Request, limit: int) -> bytes:
    """Up to `limit` bytes of the body, read before the signature is checked (see authn)."""
    if expects_continue(request):
        await send_continue_to(request)
    try:
        return await request.content.readexactly(min(limit, request.content_length or limit))
    except asyncio.IncompleteReadError as e:
        if request.content_length is None:
            return e.partial  # chunked: the whole body was shorter than the limit
        raise S3Error(S3ErrorCode.IncompleteBody) from e


class Kept:
    """A copy of an answer's body, up to `limit` bytes, taken while it streams to the tenant:
    the meter reads which keys DeleteObjects deleted and whether a 200 carried an <Error>."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self.data = bytearray()
        self.complete = True  # False once anything past the limit was dropped

    def add(self, chunk: bytes) -> None:
        room = self._limit - len(self.data)
        if len(chunk) > room:
            self.complete = False
        self.data += chunk[: max(room, 0)]


async def stream_back(
    request: web.Request,
    up: aiohttp.ClientResponse,
    exchange: Exchange,
    keep: Kept | None = None,
) -> web.StreamResponse:
    exchange.upstream_request_id = up.headers.get("x-amz-request-id", "-")
    headers = returnable_response_headers(up.headers.items())
    body_unread = request.body_exists and not request.content.is_eof()
    if request.method != "HEAD" and (up.content_length or 0) <= SMALL_BODY_BYTES:
        # Small answers (XML documents, small objects): read whole, then send headers and body
        # in one write. Memory stays bounded by SMALL_BODY_BYTES, and an upstream failure can
        # still become a clean S3 error because nothing was sent yet.
        try:
            body = await up.content.read() if up.content_length else b""
        except (aiohttp.ClientError, TimeoutError) as e:
            raise S3Error(S3ErrorCode.ServiceUnavailable) from e
        if up.content_length is None or len(body) != up.content_length:
            # No length announced (chunked) or a short read: stream whatever is left instead.
            return await _stream_body(request, up, exchange, headers, body_unread, body, keep)
        small = web.Response(status=up.status, reason=up.reason, body=body, headers=headers)
        if body_unread:
            small.force_close()
        exchange.status = up.status
        exchange.bytes_out += len(body)
        if keep is not None:
            keep.add(body)
        return small
    return await _stream_body(request, up, exchange, headers, body_unread, b"", keep)


async def _stream_body(
    request: web.Request,
    up: aiohttp.ClientResponse,
    exchange: Exchange,
    headers: list[tuple[str, str]],
    body_unread: bool,
    first: bytes,
    keep: Kept | None,
) -> web.StreamResponse:
    resp = web.StreamResponse(status=up.status, reason=up.reason)
    for name, value in headers:
        resp.headers.add(name, value)
    if up.content_length is not None:
        resp.content_length = up.content_length
    if body_unread:
        resp.force_close()  # the upstream answered before the body was sent (e.g. NoSuchBucket)
    exchange.status = up.status  # from here on this is the answer, even if cut off
    await resp.prepare(request)
    if first:
        await resp.write(first)
        exchange.bytes_out += len(first)
        if keep is not None:
            keep.add(first)
    if request.method == "HEAD":
        await resp.write_eof()
        return resp
    try:
        async for data in up.content.iter_any():
            try:
                await resp.write(data)
            except ConnectionResetError:
                # The tenant went away (aiohttp's error is also a ClientError: tell them apart
                # here). What was written so far is what the meter counts as sent.
                exchange.error_code = "ClientDisconnected"
                if keep is not None:
                    keep.complete = False
                return resp
            exchange.bytes_out += len(data)
            if keep is not None:
                keep.add(data)
    except (aiohttp.ClientError, TimeoutError) as e:
        # Headers are gone already: the only honest signal left is to cut the connection, so the
        # tenant sees a short body rather than a complete-looking truncated one.
        server_logger.warning("request %s: upstream failed mid-body: %r", exchange.request_id, e)
        exchange.error_code = "UpstreamBodyAborted"
        if keep is not None:
            keep.complete = False  # a cut-off answer proves nothing about the write
        if request.transport is not None:
            request.transport.abort()
        return resp
    await resp.write_eof()
    return resp
