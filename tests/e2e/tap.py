"""A recording relay between a real client and BillFlow: what the client really put on the wire.

Owns: a TCP relay on a free loopback port (its own asyncio loop in a thread, never the test's
thread) that, for an HTTPS BillFlow, terminates the client's TLS with the test server certificate
and opens TLS to BillFlow in turn, so both legs are HTTPS; every byte the client sent is kept per
connection, and `requests()` parses them back into HTTP/1.1 requests with the HTTP framing taken
off. It changes nothing it relays: BillFlow verifies the client's signature over the same Host
header the client signed (the relay's address). Does not own: what the requests must look like
(the tests).
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType

from .harness import Gateway


@dataclass(frozen=True)
class WireRequest:
    """One HTTP/1.1 request as a client sent it; `body` has the HTTP framing (Content-Length or
    chunked transfer coding) removed but nothing else (an aws-chunked body stays aws-chunked)."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        assert len(values) <= 1, f"{name} sent {len(values)} times: {values}"
        return values[0] if values else None

    def describe(self) -> str:
        head = "".join(f"{k}: {v}\n" for k, v in self.headers)
        return f"{self.method} {self.target}\n{head}({len(self.body)} body bytes)"


def parse_requests(stream: bytes) -> Iterator[WireRequest]:
    """The requests in what a client sent on one connection, in order (RFC 9112: a body is
    delimited by chunked transfer coding, else by Content-Length, else absent)."""
    at = 0
    while at < len(stream):
        end = stream.index(b"\r\n\r\n", at)
        request_line, *lines = stream[at:end].decode("latin-1").split("\r\n")
        method, target, _version = request_line.split(" ")
        headers = tuple(
            (name, value.strip()) for name, _, value in (line.partition(":") for line in lines)
        )
        fields = {name.lower(): value for name, value in headers}
        at = end + 4
        if fields.get("transfer-encoding", "").lower() == "chunked":
            body = bytearray()
            while True:
                line_end = stream.index(b"\r\n", at)
                size = int(stream[at:line_end].split(b";")[0], 16)
                at = line_end + 2
                if size == 0:
                    at = stream.index(b"\r\n\r\n", at - 2) + 4  # past any HTTP trailer fields
                    break
                body += stream[at : at + size]
                assert stream[at + size : at + size + 2] == b"\r\n", "chunk not followed by CRLF"
                at += size + 2
        else:
            length = int(fields.get("content-length", "0"))
            body = bytearray(stream[at : at + length])
            at += length
        yield WireRequest(method, target, headers, bytes(body))


def decode_aws_chunked(body: bytes) -> tuple[bytes, dict[str, str]]:
    """An unsigned aws-chunked body ("Including Trailing Headers" page): (data, trailers)."""
    data = bytearray()
    at = 0
    while True:
        line_end = body.index(b"\r\n", at)
        size = int(body[at:line_end].split(b";")[0], 16)
        at = line_end + 2
        if size == 0:
            break
        data += body[at : at + size]
        assert body[at + size : at + size + 2] == b"\r\n", "aws-chunk not followed by CRLF"
        at += size + 2
    trailers: dict[str, str] = {}
    for line in body[at:].decode("latin-1").split("\r\n"):
        if line:
            name, _, value = line.partition(":")
            trailers[name.lower()] = value
    return bytes(data), trailers


class Tap:
    """`with Tap(gateway) as tap:` point a client at `tap.url`; then `tap.requests()`."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tap", daemon=True)
        self._connections: list[bytearray] = []
        self._writers: set[asyncio.StreamWriter] = set()
        self._active = 0
        self._idle: asyncio.Condition | None = None
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"{self._gateway.scheme}://{self._gateway.host}:{self.port}"

    def requests(self) -> list[WireRequest]:
        """Every request sent so far, connection by connection."""
        return [r for sent in list(self._connections) for r in parse_requests(bytes(sent))]

    def __enter__(self) -> Tap:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    async def _start(self) -> int:
        self._idle = asyncio.Condition()
        tls = self._gateway.tls
        server_ctx = None
        if tls is not None:
            server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server_ctx.load_cert_chain(tls.cert_pem, tls.key_pem)
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0, ssl=server_ctx)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _stop(self) -> None:
        assert self._server is not None and self._idle is not None
        self._server.close()
        await self._server.wait_closed()
        for writer in list(self._writers):  # clients' idle keep-alive connections
            writer.close()
        async with self._idle:
            await asyncio.wait_for(self._idle.wait_for(lambda: self._active == 0), 5)

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        assert self._idle is not None
        self._active += 1
        sent = bytearray()
        self._connections.append(sent)
        self._writers.add(client_w)
        writers = [client_w]
        try:
            gw = self._gateway
            upstream_r, upstream_w = await asyncio.open_connection(
                gw.host,
                gw.port,
                ssl=gw.ssl_context,
                server_hostname=gw.host if gw.tls else None,
            )
            writers.append(upstream_w)
            self._writers.add(upstream_w)
            async with asyncio.TaskGroup() as group:
                group.create_task(self._pipe(client_r, upstream_w, sent, writers))
                group.create_task(self._pipe(upstream_r, client_w, None, writers))
        except OSError:
            pass  # BillFlow closed on us: the client sees the connection end, as it would
        finally:
            for writer in writers:
                writer.close()
                self._writers.discard(writer)
            for writer in writers:
                try:
                    await writer.wait_closed()
                except (OSError, ssl.SSLError):
                    pass
            async with self._idle:
                self._active -= 1
                self._idle.notify_all()

    @staticmethod
    async def _pipe(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        record: bytearray | None,
        writers: list[asyncio.StreamWriter],
    ) -> None:
        """Copy until EOF; then end the whole connection (TLS has no half-close to pass on)."""
        try:
            while data := await reader.read(65536):
                if record is not None:
                    record += data
                writer.write(data)
                await writer.drain()
        except (OSError, ssl.SSLError):
            pass
        finally:
            for each in writers:
                each.close()
