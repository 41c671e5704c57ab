"""Raw S3 on the wire, for e2e tests that must control every byte BillFlow receives.

Owns: SigV4 and SigV2 signing through botocore's own signers at a chosen instant (so clock skew and
expiry can be tested without sleeping), the aws-chunked encoders of the AWS pages "Transferring
Payload in Multiple Chunks" and "Including Trailing Headers", the upload shapes built from them, an
HTTP/1.1 client on `http.client` (TLS-verified against the test CA when the endpoint is HTTPS)
that sends the headers and body exactly as given, and helpers reading S3 error XML. Does not own:
starting processes or making clients (conftest.py), or what BillFlow must answer (the test
modules).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import socket
import ssl
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.utils import formatdate
from typing import Any
from urllib.parse import quote, urlsplit
from xml.etree import ElementTree as ET

import pytest
from botocore.auth import (
    SIGV4_TIMESTAMP,
    HmacV1Auth,
    HmacV1QueryAuth,
    S3SigV4Auth,
    S3SigV4QueryAuth,
    SigV4Auth,
)
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"

Headers = Sequence[tuple[str, str]]


def key_path(bucket: str, key: str) -> str:
    """Path-style target for `key`, percent-encoded as S3's canonical URI wants (all but A-Z a-z
    0-9 - _ . ~ and '/')."""
    return f"/{bucket}/{quote(key, safe='/~')}"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def crc32_b64(data: bytes) -> str:
    """x-amz-checksum-crc32 value: big-endian CRC-32, base64."""
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def crc32_composite_b64(parts: Sequence[bytes]) -> str:
    """The checksum S3 gives a multipart object uploaded with CRC32 part checksums ("COMPOSITE"):
    the CRC-32 of the parts' big-endian CRC-32 digests, base64, then "-<number of parts>"."""
    digests = b"".join(zlib.crc32(part).to_bytes(4, "big") for part in parts)
    return f"{crc32_b64(digests)}-{len(parts)}"


def same_composite(value: str | None, parts: Sequence[bytes]) -> bool:
    """`value` is the composite CRC32 of `parts`, with or without the "-N" part count (S3 sends
    it; moto leaves it out on HeadObject)."""
    expected = crc32_composite_b64(parts)
    return value in (expected, expected.rpartition("-")[0])


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret_key}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


@dataclass(frozen=True)
class Signed:
    """A request signed by botocore, with everything the signer computed (for SigV2, the
    SigV4-only fields `canonical_request`, `scope` and `key` are empty, `timestamp` is the Date
    header)."""

    method: str
    target: str  # path?query exactly as sent on the request line
    headers: tuple[tuple[str, str], ...]
    body: bytes
    canonical_request: str
    string_to_sign: str
    signature: str
    timestamp: str  # x-amz-date
    scope: str  # date/region/service/aws4_request
    key: bytes = field(repr=False)  # the signing key, for chunk signatures

    def header(self, name: str) -> str:
        return next(v for k, v in self.headers if k.lower() == name.lower())


class _S3SigV4(S3SigV4Auth):
    """botocore's S3 header signer, with the payload hash chosen by the caller when given."""

    def __init__(self, credentials: Credentials, service: str, region: str, payload: str | None):
        super().__init__(credentials, service, region)
        self._payload = payload

    def payload(self, request: AWSRequest) -> str:
        if self._payload is not None:
            return self._payload
        return str(super().payload(request))


def _add_auth_at(auth: SigV4Auth, request: AWSRequest, at: datetime) -> tuple[str, str, str]:
    """botocore's SigV4Auth.add_auth, but at `at` instead of its clock, returning the canonical
    request, string to sign and signature it computed (add_auth only logs them)."""
    request.context["timestamp"] = at.astimezone(UTC).strftime(SIGV4_TIMESTAMP)
    auth._modify_request_before_signing(request)
    canonical = auth.canonical_request(request)
    string_to_sign = auth.string_to_sign(request, canonical)
    signature = auth.signature(string_to_sign, request)
    auth._inject_signature_to_request(request, signature)
    return canonical, string_to_sign, signature


class _HmacV1At(HmacV1Auth):
    """botocore's SigV2 header signer with the Date header it signs chosen by the caller."""

    def __init__(self, credentials: Credentials, date: str) -> None:
        super().__init__(credentials)
        self._date = date

    def _get_date(self) -> str:
        return self._date


class _HmacV1QueryAt(HmacV1QueryAuth):
    """botocore's SigV2 query signer (the one behind `aws s3 presign` and boto3's default
    `generate_presigned_url`) with `Expires` chosen by the caller, as epoch seconds."""

    def __init__(self, credentials: Credentials, expires_at: int) -> None:
        super().__init__(credentials)
        self._expires_at = expires_at

    def _get_date(self) -> str:
        return str(self._expires_at)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Message
    body: bytes

    def error(self) -> dict[str, str]:
        """The children of an S3 <Error> document, tag -> text."""
        try:
            root = ET.fromstring(self.body)
        except ET.ParseError as exc:
            raise AssertionError(f"not XML ({exc}): {self.body[:500]!r}") from None
        assert root.tag == "Error", self.body[:500]
        return {child.tag: child.text or "" for child in root}

    def describe(self) -> str:
        head = "".join(f"{k}: {v}\n" for k, v in self.headers.items())
        return f"HTTP {self.status}\n{head}\n{self.body[:2000]!r}"


def expect_error(reply: Reply, status: int, code: str | set[str]) -> dict[str, str]:
    """Assert `reply` is an S3 error document with this status and code, a RequestId, and the
    same id in x-amz-request-id (as S3 sends it); return the document's fields."""
    codes = {code} if isinstance(code, str) else code
    assert reply.status == status, reply.describe()
    error = reply.error()
    assert error.get("Code") in codes, reply.describe()
    assert error.get("Message"), reply.describe()
    assert error.get("RequestId"), f"no RequestId:\n{reply.describe()}"
    assert reply.headers.get("Content-Type", "").startswith("application/xml"), reply.describe()
    assert reply.headers.get("x-amz-request-id") == error["RequestId"], reply.describe()
    return error


def assert_not_stored(upstream: Any, bucket: str, key: str, settle: float = 0.5) -> None:
    """The upstream has no object `key`, now and for `settle` seconds (a forwarded-then-aborted
    upload could still be landing)."""
    deadline = time.monotonic() + settle
    while True:
        try:
            head = upstream.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("404", "NoSuchKey"):
                raise
        else:
            pytest.fail(
                f"{key!r} was stored upstream ({head['ContentLength']} bytes) "
                "although BillFlow rejected the upload"
            )
        if time.monotonic() >= deadline:
            return
        time.sleep(0.1)


def aws_chunked(
    data: bytes,
    *,
    chunk_size: int,
    seed: Signed | None = None,
    trailers: Headers = (),
    tamper_chunk: int | None = None,
    trailer_signature: str | None = None,
) -> bytes:
    """Encode `data` as an aws-chunked body.

    With `seed` (the request signed with a STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER] payload
    hash), each chunk carries `;chunk-signature=`, chained from the seed signature, string to sign
    "AWS4-HMAC-SHA256-PAYLOAD\\n<date>\\n<scope>\\n<previous>\\n<sha256('')>\\n<sha256(chunk)>"; the
    last chunk is empty. `trailers` follow the empty chunk as "name:value" lines; when signed, an
    x-amz-trailer-signature line follows them, over "AWS4-HMAC-SHA256-TRAILER\\n<date>\\n<scope>\\n
    <final chunk signature>\\n<sha256 of the 'name:value\\n' lines>" (or `trailer_signature` as
    given). `tamper_chunk` flips the first byte of that chunk after it was signed.
    """
    chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]
    out = bytearray()
    previous = seed.signature if seed else ""
    for index, chunk in enumerate(chunks):
        if seed is not None:
            previous = _hmac_hex(
                seed.key,
                "\n".join(
                    [
                        "AWS4-HMAC-SHA256-PAYLOAD",
                        seed.timestamp,
                        seed.scope,
                        previous,
                        EMPTY_SHA256,
                        sha256_hex(chunk),
                    ]
                ),
            )
            out += f"{len(chunk):x};chunk-signature={previous}\r\n".encode()
        else:
            out += f"{len(chunk):x}\r\n".encode()
        if index == tamper_chunk:
            chunk = bytes([chunk[0] ^ 0x01]) + chunk[1:]
        if chunk:
            out += chunk + b"\r\n"
    canonical_trailers = "".join(f"{name}:{value}\n" for name, value in trailers)
    out += canonical_trailers.replace("\n", "\r\n").encode()
    if trailers and seed is not None:
        if trailer_signature is None:
            trailer_signature = _hmac_hex(
                seed.key,
                "\n".join(
                    [
                        "AWS4-HMAC-SHA256-TRAILER",
                        seed.timestamp,
                        seed.scope,
                        previous,
                        sha256_hex(canonical_trailers.encode()),
                    ]
                ),
            )
        out += f"x-amz-trailer-signature:{trailer_signature}\r\n".encode()
    out += b"\r\n"
    return bytes(out)


def chunked_length(size: int, chunk_size: int, *, signed: bool, trailers: Headers = ()) -> int:
    """Length of `aws_chunked(...)` for `size` bytes of data, known before signing (the
    Content-Length a client signs)."""
    sizes = [min(chunk_size, size - i) for i in range(0, size, chunk_size)] + [0]
    signature = len(";chunk-signature=") + 64 if signed else 0
    length = sum(len(f"{n:x}") + signature + 2 + (n + 2 if n else 0) for n in sizes)
    length += sum(len(name) + 1 + len(value) + 2 for name, value in trailers)
    if trailers and signed:
        length += len("x-amz-trailer-signature:") + 64 + 2
    return length + 2


def http_chunked(body: bytes, piece: int = 8192) -> bytes:
    """`body` in HTTP/1.1 chunked transfer coding (RFC 9112 section 7.1)."""
    out = bytearray()
    for i in range(0, len(body), piece):
        out += f"{len(body[i : i + piece]):x}\r\n".encode() + body[i : i + piece] + b"\r\n"
    return bytes(out + b"0\r\n\r\n")


#: aws-chunked chunk size of the uploads built here.
CHUNK = 64 * 1024


@dataclass(frozen=True)
class Upload:
    signed: Signed
    body: bytes


def simple_put(
    wire: Wire, target: str, data: bytes, *, payload: str | None = None, **kw: Any
) -> Signed:
    """PUT with Content-Length and x-amz-content-sha256 = `payload` (default: SHA-256 of data)."""
    headers = [("Content-Length", str(len(data))), *kw.pop("headers", ())]
    return wire.sign("PUT", target, headers=headers, body=data, payload=payload, **kw)


def chunked_put(
    wire: Wire,
    target: str,
    data: bytes,
    mode: str,
    *,
    checksum: str | None = None,
    tamper_chunk: int | None = None,
    trailer_signature: str | None = None,
    decoded_length: int | None = None,
    transfer_chunked: bool = False,
) -> Upload:
    """An aws-chunked PUT in `mode` (one of the STREAMING-* payload hashes), signed as the AWS
    chunked-upload pages describe, with the defects asked for."""
    signed_chunks = mode != STREAMING_UNSIGNED_TRAILER
    trailers = (
        [] if mode == STREAMING_SIGNED else [("x-amz-checksum-crc32", checksum or crc32_b64(data))]
    )
    length = chunked_length(len(data), CHUNK, signed=signed_chunks, trailers=trailers)
    headers = [
        ("Content-Encoding", "aws-chunked"),
        (
            "x-amz-decoded-content-length",
            str(len(data) if decoded_length is None else decoded_length),
        ),
    ]
    if trailers:
        headers.append(("x-amz-trailer", "x-amz-checksum-crc32"))
    # botocore sends its trailer uploads with Transfer-Encoding: chunked (never signed) and no
    # Content-Length; the AWS pages sign a Content-Length of the encoded body.
    headers.append(
        ("Transfer-Encoding", "chunked") if transfer_chunked else ("Content-Length", str(length))
    )
    signed = wire.sign("PUT", target, headers=headers, payload=mode)
    body = aws_chunked(
        data,
        chunk_size=CHUNK,
        seed=signed if signed_chunks else None,
        trailers=trailers,
        tamper_chunk=tamper_chunk,
        trailer_signature=trailer_signature,
    )
    assert len(body) == length
    return Upload(signed, http_chunked(body) if transfer_chunked else body)


def _hmac_hex(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Wire:
    """Signs and sends raw requests to one S3 endpoint as one tenant."""

    host: str
    port: int
    access_key: str
    secret_key: str = field(repr=False)
    region: str = "us-east-1"
    #: Set for an HTTPS endpoint: a client context trusting the test CA.
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"

    def connection(self, timeout: float = 30) -> http.client.HTTPConnection:
        if self.ssl_context is not None:
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=timeout, context=self.ssl_context
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def exchange(self, request: bytes, timeout: float = 30) -> bytes:
        """`exchange` with this endpoint, over TLS when it is HTTPS."""
        return exchange(self.host, self.port, request, timeout, ssl_context=self.ssl_context)

    def sign(
        self,
        method: str,
        target: str,
        *,
        headers: Headers = (),
        body: bytes = b"",
        payload: str | None = None,
        at: datetime | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str | None = None,
        service: str = "s3",
        host: str | None = None,
        content_sha256_header: bool = True,
    ) -> Signed:
        """Sign with header auth. `target` is the encoded path?query as it goes on the wire;
        `payload` the x-amz-content-sha256 value (default: hex SHA-256 of `body`). Every header
        given, plus Host and X-Amz-Date, is signed. Without `content_sha256_header` the request
        is signed by botocore's generic SigV4 signer, which sends no x-amz-content-sha256."""
        at = at or datetime.now(UTC)
        region = region or self.region
        credentials = Credentials(access_key or self.access_key, secret_key or self.secret_key)
        auth: SigV4Auth
        if content_sha256_header:
            auth = _S3SigV4(credentials, service, region, payload)
        else:
            auth = SigV4Auth(credentials, service, region)
        host = host or self.netloc
        request = AWSRequest(method=method, url=f"http://{host}{target}", data=body)
        request.headers["Host"] = host
        for name, value in headers:
            request.headers[name] = value
        canonical, string_to_sign, signature = _add_auth_at(auth, request, at)
        timestamp = request.context["timestamp"]
        return Signed(
            method=method,
            target=target,
            headers=tuple(request.headers.items()),
            body=body,
            canonical_request=canonical,
            string_to_sign=string_to_sign,
            signature=signature,
            timestamp=timestamp,
            scope=f"{timestamp[:8]}/{region}/{service}/aws4_request",
            key=signing_key(credentials.secret_key, timestamp[:8], region, service),
        )

    def presign(
        self,
        method: str,
        target: str,
        *,
        expires: int = 300,
        at: datetime | None = None,
        secret_key: str | None = None,
    ) -> str:
        """A presigned (query-string SigV4) target for `target`, signed at `at`."""
        credentials = Credentials(self.access_key, secret_key or self.secret_key)
        auth = S3SigV4QueryAuth(credentials, "s3", self.region, expires=expires)
        request = AWSRequest(method=method, url=f"http://{self.netloc}{target}")
        request.headers["Host"] = self.netloc
        _add_auth_at(auth, request, at or datetime.now(UTC))
        parts = urlsplit(request.url)
        return f"{parts.path}?{parts.query}"

    def sign_v2(
        self,
        method: str,
        target: str,
        *,
        headers: Headers = (),
        body: bytes = b"",
        at: datetime | None = None,
        secret_key: str | None = None,
    ) -> Signed:
        """Sign with SigV2 header auth (`Authorization: AWS AKID:base64(HMAC-SHA1)`) by
        botocore's HmacV1Auth, dated `at`: it signs the method, Content-MD5, Content-Type, Date,
        the x-amz-* headers and the path-style resource with its sub-resources."""
        at = at or datetime.now(UTC)
        credentials = Credentials(self.access_key, secret_key or self.secret_key)
        auth = _HmacV1At(credentials, formatdate(at.timestamp(), usegmt=True))
        request = AWSRequest(method=method, url=f"http://{self.netloc}{target}", data=body)
        request.headers["Host"] = self.netloc
        for name, value in headers:
            request.headers[name] = value
        string_to_sign = auth.canonical_string(method, urlsplit(request.url), request.headers)
        auth.add_auth(request)
        signature = request.headers["Authorization"].rpartition(":")[2]
        return Signed(
            method=method,
            target=target,
            headers=tuple(request.headers.items()),
            body=body,
            canonical_request="",
            string_to_sign=string_to_sign,
            signature=signature,
            timestamp=request.headers["Date"],
            scope="",
            key=b"",
        )

    def presign_v2(
        self,
        method: str,
        target: str,
        *,
        expires_at: datetime | None = None,
        secret_key: str | None = None,
    ) -> str:
        """A SigV2 presigned target (`?AWSAccessKeyId=&Expires=&Signature=`), valid until
        `expires_at` (default: five minutes from now)."""
        expires_at = expires_at or datetime.now(UTC) + timedelta(minutes=5)
        credentials = Credentials(self.access_key, secret_key or self.secret_key)
        auth = _HmacV1QueryAt(credentials, int(expires_at.timestamp()))
        request = AWSRequest(method=method, url=f"http://{self.netloc}{target}")
        auth.add_auth(request)
        parts = urlsplit(request.url)
        return f"{parts.path}?{parts.query}"

    def send(
        self,
        signed: Signed,
        body: bytes | None = None,
        *,
        extra_headers: Headers = (),
        drop_headers: Sequence[str] = (),
        replace_headers: Headers = (),
        half_close: bool = False,
    ) -> Reply:
        """Send `signed` with `body` (default: the signed body), changed as asked after signing."""
        replaced = {name.lower(): value for name, value in replace_headers}
        dropped = {name.lower() for name in drop_headers}
        headers = [
            (name, replaced.get(name.lower(), value))
            for name, value in signed.headers
            if name.lower() not in dropped
        ]
        return self.raw(
            signed.method,
            signed.target,
            [*headers, *extra_headers],
            signed.body if body is None else body,
            half_close=half_close,
        )

    def raw(
        self,
        method: str,
        target: str,
        headers: Headers,
        body: bytes = b"",
        *,
        half_close: bool = False,
        timeout: float = 30,
    ) -> Reply:
        """One request on a fresh connection: these headers (Host included) and body, nothing
        added. `half_close` shuts our sending side after the body, as a client that stopped."""
        conn = self.connection(timeout)
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                conn.putheader(name, value)
            conn.endheaders()
            if body:
                conn.send(body)
            if half_close:
                assert conn.sock is not None
                conn.sock.shutdown(socket.SHUT_WR)
            response = conn.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            conn.close()

    def get(self, target: str, headers: Headers = ()) -> Reply:
        """An unsigned request needing no Host juggling (presigned URLs, anonymous requests)."""
        return self.raw("GET", target, [("Host", self.netloc), *headers])

    def assert_serving(self) -> None:
        """A valid signed ListBuckets still gets 200."""
        reply = self.send(self.sign("GET", "/"))
        assert reply.status == 200, f"valid request after a rejection:\n{reply.describe()}"


def exchange(
    host: str,
    port: int,
    request: bytes,
    timeout: float = 30,
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> bytes:
    """Send raw bytes, read until the server closes: every byte it sent, body included."""
    sock = socket.create_connection((host, port), timeout=timeout)
    if ssl_context is not None:  # the TLS socket takes the connection over (wrap_socket detaches)
        sock = ssl_context.wrap_socket(sock, server_hostname=host)
    with sock:
        sock.sendall(request)
        received = bytearray()
        while chunk := sock.recv(65536):
            received += chunk
    return bytes(received)


def request_bytes(signed: Signed, body: bytes = b"", extra: Headers = ()) -> bytes:
    head = f"{signed.method} {signed.target} HTTP/1.1\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in [*signed.headers, *extra])
    return head.encode() + b"\r\n" + body
