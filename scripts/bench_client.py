"""Load client for scripts/bench: one measurement per process, spec in, JSON result out.

Built so the client is never what a benchmark measures:
- SigV4 is paid once per key before the clock starts (botocore's `S3SigV4Auth`, body hash fixed:
  `UNSIGNED-PAYLOAD` or the precomputed hex SHA-256), and a signature stays valid for 15 minutes;
  each request is then a prebuilt byte string.
- Large transfers use a blocking socket: the body is sent as slices of one 1 MiB pattern buffer
  (byte i of every object is i % 256, as bench_sink.py serves it) and received with `recv_into`
  into one reused buffer, so no object is ever held in memory.
- The trailer PUT is what boto3 and aws-cli send over HTTPS: `STREAMING-UNSIGNED-PAYLOAD-TRAILER`,
  `Content-Encoding: aws-chunked`, `Transfer-Encoding: chunked` (no Content-Length),
  `x-amz-decoded-content-length`, `x-amz-trailer` and `Expect: 100-continue`; each 64 KiB
  aws-chunk travels as one HTTP chunk, and the checksum (CRC32 or CRC32C of the pattern body,
  computed before the clock starts) comes in the trailer. Every full chunk of the pattern body
  is the same bytes, so one prebuilt ~1 MiB run of framed chunks is sent again and again.
- `scheme: https` wraps the same sockets in TLS (trusting the run's CA, `ca_file`); the
  handshake happens before the clock starts.
- Small requests run N keep-alive connections, one asyncio task each, on asyncio streams with a
  minimal HTTP/1.1 response parser (Content-Length, chunked, `Connection: close` reconnects,
  which moto sends on every response). About 30 µs of client CPU per request here, mostly the
  send and recv system calls: a bare asyncio Protocol measured only ~15% less.
The result carries the client's own CPU seconds so the bench can show it had headroom.

Usage: bench_client.py '<json spec>'  (see `run()` for the keys).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import json
import resource
import socket
import ssl
import sys
import time
import zlib
from collections.abc import Callable
from typing import Any

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

CHUNK = 1 << 20
PATTERN = memoryview(bytes(range(256)) * (CHUNK // 256))
UNSIGNED = "UNSIGNED-PAYLOAD"
STREAMING_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
REGION = "us-east-1"
AWS_CHUNK = 64 * 1024  # a multiple of 256: every full chunk of the pattern body is identical
FRAMES_PER_SEND = 16
CONTINUE_WAIT = 1.0  # seconds a client waits for 100 Continue before sending anyway


class _FixedPayloadAuth(S3SigV4Auth):
    """botocore's S3 signer with the payload hash given, not computed from a body we don't hold."""

    def __init__(self, credentials: Credentials, payload_hash: str) -> None:
        super().__init__(credentials, "s3", REGION)
        self._payload_hash = payload_hash

    def payload(self, request: AWSRequest) -> str:
        return self._payload_hash


def pattern_sha256(size: int) -> str:
    digest = hashlib.sha256()
    for offset in range(0, size, CHUNK):
        digest.update(PATTERN[: min(CHUNK, size - offset)])
    return digest.hexdigest()


def pattern_checksum(algorithm: str, size: int) -> str:
    """base64 of the big-endian CRC32 or CRC32C of the pattern body (as x-amz-checksum-*)."""
    update: Callable[[Any, int], int]
    if algorithm == "crc32c":
        from awscrt.checksums import crc32c as update  # what botocore uses for CRC32C
    else:
        update = zlib.crc32
    value = 0
    for offset in range(0, size, CHUNK):
        value = update(PATTERN[: min(CHUNK, size - offset)], value)
    return base64.b64encode(value.to_bytes(4, "big")).decode()


def request_head(
    spec: dict[str, Any],
    method: str,
    path: str,
    payload_hash: str,
    length: int | None,
    signed: dict[str, str] | None = None,
    unsigned: dict[str, str] | None = None,
) -> bytes:
    """The signed request line and headers for `path` (already URI-encoded, path-style), with
    `signed` headers covered by the signature and `unsigned` ones added after it (as HTTP
    clients add Transfer-Encoding and Expect)."""
    hostport = f"{spec['host']}:{spec['port']}"
    request = AWSRequest(method=method, url=f"http://{hostport}{path}", headers=signed or {})
    creds = Credentials(spec["access_key_id"], spec["secret_access_key"])
    _FixedPayloadAuth(creds, payload_hash).add_auth(request)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {hostport}"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    lines += [f"{name}: {value}" for name, value in (unsigned or {}).items()]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _chunk(data: bytes | memoryview) -> bytes:
    """One chunk in the framing HTTP/1.1 chunked and aws-chunked share: hex size, data, CRLF."""
    return b"%x\r\n%b\r\n" % (len(data), data)


class AwsChunkedBody:
    """The pattern body as aws-chunked (`AWS_CHUNK` data chunks, then a zero chunk and the
    checksum trailer) inside HTTP chunked, one aws-chunk per HTTP chunk."""

    def __init__(self, size: int, trailer: str, value: str) -> None:
        frame = _chunk(_chunk(PATTERN[:AWS_CHUNK]))
        self.frame_length = len(frame)
        self.frames = memoryview(frame * FRAMES_PER_SEND)
        full, rest = divmod(size, AWS_CHUNK)
        self.sends, self.extra_frames = divmod(full, FRAMES_PER_SEND)
        last = _chunk(_chunk(PATTERN[:rest])) if rest else b""
        self.tail = last + _chunk(f"0\r\n{trailer}:{value}\r\n\r\n".encode()) + b"0\r\n\r\n"

    def send(self, sock: socket.socket) -> None:
        for _ in range(self.sends):
            sock.sendall(self.frames)
        if self.extra_frames:
            sock.sendall(self.frames[: self.extra_frames * self.frame_length])
        sock.sendall(self.tail)


def client_context(spec: dict[str, Any]) -> ssl.SSLContext | None:
    if spec.get("scheme", "http") != "https":
        return None
    return ssl.create_default_context(cafile=spec["ca_file"])


class ResponseError(Exception):
    pass


def _parse_head(head: bytes) -> tuple[int, dict[bytes, bytes]]:
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name:
            headers[name.strip().lower()] = value.strip()
    return status, headers


def _framing(method: str, status: int, headers: dict[bytes, bytes]) -> int | None:
    """Body length; -1 for chunked, None for read-to-close."""
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return 0
    if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
        return -1
    if b"content-length" in headers:
        return int(headers[b"content-length"])
    return None


# --- large transfers: one blocking connection -------------------------------------------------


class _BlockingConn:
    def __init__(self, host: str, port: int, context: ssl.SSLContext | None) -> None:
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if context is not None:  # handshakes here, before any clock starts
            self.sock = context.wrap_socket(self.sock, server_hostname=host)
        self.buf = bytearray()
        self.scratch = memoryview(bytearray(CHUNK))

    def _fill(self) -> None:
        n = self.sock.recv_into(self.scratch)
        if not n:
            raise ResponseError("connection closed mid-response")
        self.buf += self.scratch[:n]

    def _read_until(self, marker: bytes) -> bytes:
        while (i := self.buf.find(marker)) < 0:
            self._fill()
        data = bytes(self.buf[: i + len(marker)])
        del self.buf[: i + len(marker)]
        return data

    def _skip(self, n: int | None, keep: bytearray) -> int:
        """Discard n body bytes (None: until EOF), keeping the first few for error messages."""
        taken = len(self.buf) if n is None else min(n, len(self.buf))
        keep += self.buf[: max(0, 512 - len(keep))][:taken]
        del self.buf[:taken]
        total = taken
        while n is None or total < n:
            want = len(self.scratch) if n is None else min(len(self.scratch), n - total)
            got = self.sock.recv_into(self.scratch, want)
            if not got:
                if n is None:
                    break
                raise ResponseError(f"connection closed after {total} of {n} body bytes")
            if len(keep) < 512:
                keep += self.scratch[: min(got, 512 - len(keep))]
            total += got
        return total

    def wait_continue(self, timeout: float) -> str:
        """After a head with `Expect: 100-continue`: wait up to `timeout` for 100 Continue, as
        clients do. "continue" or "timeout": send the body; "final": a final response came
        instead, and the body must not follow."""
        self.sock.settimeout(timeout)
        try:
            while (end := self.buf.find(b"\r\n\r\n")) < 0:
                self._fill()
        except TimeoutError:
            return "timeout"
        finally:
            self.sock.settimeout(None)
        if _parse_head(bytes(self.buf[:end]))[0] != 100:
            return "final"
        del self.buf[: end + 4]
        return "continue"

    def response(self, method: str) -> tuple[int, int, bytes]:
        """Read one response: (status, body bytes, first body bytes)."""
        while True:
            status, headers = _parse_head(self._read_until(b"\r\n\r\n"))
            if status != 100:
                break
        length = _framing(method, status, headers)
        keep = bytearray()
        if length != -1:
            return status, self._skip(length, keep), bytes(keep)
        total = 0
        while size := int(self._read_until(b"\r\n").split(b";")[0], 16):
            total += self._skip(size, keep)
            self._read_until(b"\r\n")
        while self._read_until(b"\r\n") != b"\r\n":  # trailers
            pass
        return status, total, bytes(keep)


def _send_pattern(sock: socket.socket, size: int) -> None:
    for offset in range(0, size, CHUNK):  # whole 1 MiB slices keep byte i at i % 256
        sock.sendall(PATTERN[: min(CHUNK, size - offset)])


def large(spec: dict[str, Any]) -> dict[str, Any]:
    """One GET or PUT of `size` bytes; PUT payload unsigned, signed, trailer-crc32[c]."""
    method, size, path, payload = spec["method"], spec["size"], spec["path"], spec["payload"]
    send_body: Callable[[socket.socket], None] | None = None
    expect = False
    if method == "PUT" and payload.startswith("trailer-"):
        algorithm = payload.removeprefix("trailer-")
        trailer = f"x-amz-checksum-{algorithm}"
        signed = {"Content-Encoding": "aws-chunked", "x-amz-trailer": trailer}
        signed["x-amz-decoded-content-length"] = str(size)
        unsigned = {"Transfer-Encoding": "chunked", "Expect": "100-continue"}
        head = request_head(spec, "PUT", path, STREAMING_TRAILER, None, signed, unsigned)
        send_body = AwsChunkedBody(size, trailer, pattern_checksum(algorithm, size)).send
        expect = True
    elif method == "PUT":
        payload_hash = pattern_sha256(size) if payload == "signed" else UNSIGNED
        head = request_head(spec, "PUT", path, payload_hash, size)
        send_body = functools.partial(_send_pattern, size=size)
    else:
        head = request_head(spec, method, path, UNSIGNED, None)
    conn = _BlockingConn(spec["host"], spec["port"], client_context(spec))
    cpu0, t0 = _cpu(), time.perf_counter()
    conn.sock.sendall(head)
    send_error, interim = "", ""
    try:
        if expect:
            interim = conn.wait_continue(CONTINUE_WAIT)
        if send_body is not None and interim != "final":
            send_body(conn.sock)
    except OSError as e:  # the server answered early and closed: report its answer
        send_error = f"send failed: {e}"
    try:
        status, received, first = conn.response(method)
    except (OSError, ResponseError) as e:
        return {"ok": False, "error": f"{send_error} {e}".strip()}
    seconds, cpu = time.perf_counter() - t0, _cpu() - cpu0
    conn.sock.close()
    ok = status == 200 and not send_error and (method != "GET" or received == size)
    result = {"ok": ok, "seconds": seconds, "bytes": size, "client_cpu": cpu, "status": status}
    if interim == "timeout":  # the clock includes the client's wait: the bench flags it
        result["continue_timeout"] = CONTINUE_WAIT
    if not ok:
        result["error"] = f"HTTP {status}, {received} body bytes {send_error}: {first[:300]!r}"
    return result


# --- small requests: N keep-alive connections --------------------------------------------------


class _Small:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.method: str = spec["method"]
        size = spec["size"]
        body = bytes(PATTERN[:size]) if self.method == "PUT" else b""
        payload = hashlib.sha256(body).hexdigest() if self.method == "PUT" else UNSIGNED
        length = size if self.method == "PUT" else None
        # Each connection rotates over its own keys: moto answers 500 to some concurrent
        # overwrites of one key, and S3 semantics make that a different workload anyway.
        self.requests = [
            [request_head(spec, self.method, path, payload, length) + body for path in paths]
            for paths in spec["paths"]
        ]
        self.limit: int = spec["requests"]
        self.warmup: int = spec.get("warmup", 2)
        self.deadline = float("inf")  # set once the barrier lets every connection go
        self.issued = self.done = self.total = self.reconnects = 0
        self.errors: dict[str, int] = {}
        self.start = asyncio.Barrier(len(self.requests) + 1)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        host, port, context = self.spec["host"], self.spec["port"], client_context(self.spec)
        reader, writer = await asyncio.open_connection(host, port, ssl=context)
        sock = writer.transport.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return reader, writer

    async def _one(self, conn: list[Any], request: bytes) -> None:
        """One request and its response on conn ([reader, writer]), replaced if the server
        closes it."""
        reader, writer = conn
        writer.write(request)
        while True:
            status, headers = _parse_head(await reader.readuntil(b"\r\n\r\n"))
            if not 100 <= status < 200:
                break
        length = _framing(self.method, status, headers)
        if length == -1:
            body = bytearray()
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                body += (await reader.readexactly(size + 2))[:-2]
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                pass
        elif length is None:
            body = bytearray(await reader.read())
        else:
            body = bytearray(await reader.readexactly(length))
        self.total += 1
        if status != 200 or (self.method == "GET" and len(body) != self.spec["size"]):
            key = f"HTTP {status} ({len(body)} bytes): {bytes(body[:200])!r}"
            self.errors[key] = self.errors.get(key, 0) + 1
        if length is None or headers.get(b"connection", b"").lower() == b"close":
            writer.close()
            conn[:] = await self._connect()
            self.reconnects += 1

    async def _worker(self, requests: list[bytes]) -> None:
        conn = list(await self._connect())
        try:
            for i in range(self.warmup):
                await self._one(conn, requests[i % len(requests)])
            await self.start.wait()
            i = 0
            while self.issued < self.limit and time.perf_counter() < self.deadline:
                self.issued += 1
                await self._one(conn, requests[i % len(requests)])
                self.done += 1
                i += 1
        finally:
            conn[1].close()

    async def run(self) -> dict[str, Any]:
        async with asyncio.TaskGroup() as tg:
            for requests in self.requests:
                tg.create_task(self._worker(requests))
            await self.start.wait()
            cpu0, t0 = _cpu(), time.perf_counter()
            self.deadline = t0 + self.spec["seconds"]
        seconds, cpu = time.perf_counter() - t0, _cpu() - cpu0
        return {
            "ok": not self.errors,
            "seconds": seconds,
            "requests": self.done,
            "requests_total": self.total,
            "reconnects": self.reconnects,
            "client_cpu": cpu,
            "error": "; ".join(f"{n} x {what}" for what, n in self.errors.items())[:1000],
        }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """spec: host, port, access_key_id, secret_access_key, scheme http|https (ca_file), and either
    kind="large", method GET|PUT, path, size, payload unsigned|signed|trailer-crc32|trailer-crc32c;
    or kind="small", method GET|PUT, size, paths (one list per connection), requests, seconds."""
    if spec["kind"] == "large":
        return large(spec)
    return asyncio.run(_Small(spec).run())


if __name__ == "__main__":
    try:
        result = run(json.loads(sys.argv[1]))
    except Exception as e:  # reported to the bench as a failed measurement, not a traceback
        result = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    print(json.dumps(result))
