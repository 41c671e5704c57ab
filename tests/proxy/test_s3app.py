"""The S3 application over HTTP, in front of a recording upstream that shows what BillFlow sends.

The e2e suite proves the same behaviours against a real S3 server with real clients; here the
upstream is a small aiohttp server that records every request, so the tests can see the exact
bytes and headers that leave BillFlow (and that a refused body never arrives whole).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import random
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from botocore.httpchecksum import _CHECKSUM_CLS, AwsChunkedWrapper
from multidict import CIMultiDict

from proxy import bodies, config, payload, s3app, sigv4
from proxy.crypto import SecretBox
from proxy.ledger import Credentials, Ledger

UPSTREAM_KEY, UPSTREAM_SECRET = "UPSTREAMKEY", "upstream-secret"


@dataclass
class Recorded:
    method: str
    raw_path: str
    headers: CIMultiDict[str]
    body: bytes = b""
    complete: bool = False


@dataclass
class Recorder:
    """What the upstream saw, and what it answers next."""

    requests: list[Recorded] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"ETag": '"abc"'})
    body: bytes = b"upstream-body"
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        rec = Recorded(request.method, request.raw_path, CIMultiDict(request.headers))
        self.requests.append(rec)
        try:
            while chunk := await request.content.read(65536):
                rec.body += chunk
            rec.complete = True
        except Exception:
            rec.complete = False
            raise
        finally:
            self.done.set()
        return web.Response(status=self.status, headers=self.headers, body=self.body)


Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def recorder(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> tuple[Recorder, str]:
    rec = Recorder()
    app = web.Application(client_max_size=0)
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    server = await aiohttp_server(app)
    return rec, f"http://127.0.0.1:{server.port}"


async def _proxy(
    tmp_path: Path, endpoint: str, aiohttp_client: Callable[..., Awaitable[Client]]
) -> tuple[Client, Credentials]:
    cfg = config.parse(
        {
            "upstream": {"endpoint": endpoint},
            "ledger": {"path": str(tmp_path / "l.sqlite3")},
        },
        {
            config.ENV_UPSTREAM_ACCESS_KEY_ID: UPSTREAM_KEY,
            config.ENV_UPSTREAM_SECRET_ACCESS_KEY: UPSTREAM_SECRET,
        },
        base_dir=tmp_path,
    )
    ledger = await Ledger.open(cfg.ledger_path, SecretBox.from_text(SecretBox.generate_key()))
    tenant = await ledger.create_tenant("acme", now=datetime.now(UTC))
    creds = await ledger.create_access_key(tenant.id, now=datetime.now(UTC))
    await ledger.register_bucket("bucket-a", tenant.id, now=datetime.now(UTC))
    app = s3app.create_app(cfg, ledger)

    async def close_ledger(app: web.Application) -> None:
        await ledger.close()

    app.on_cleanup.append(close_ledger)
    return await aiohttp_client(app), creds


@pytest.fixture
async def proxy(
    tmp_path: Path,
    recorder: tuple[Recorder, str],
    aiohttp_client: Callable[..., Awaitable[Client]],
) -> tuple[Client, Credentials, Recorder]:
    client, creds = await _proxy(tmp_path, recorder[1], aiohttp_client)
    return client, creds, recorder[0]


def _signed(
    client: Client,
    creds: Credentials,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    payload_hash: str | None = None,
    secret: str | None = None,
) -> dict[str, str]:
    """Headers botocore's signer produces for this request (botocore as the tenant's SDK)."""
    url = f"http://{client.host}:{client.port}{path}"
    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    boto = BotoCredentials(creds.key.access_key_id, secret or creds.secret)
    auth = S3SigV4Auth(boto, "s3", "us-east-1")
    if payload_hash is not None:
        auth.payload = lambda request: payload_hash
    auth.add_auth(req)
    return dict(req.headers.items())


async def _error(resp: Any) -> ET.Element:
    return ET.fromstring(await resp.read())


async def test_s3app_get_passes_through_resigned_for_upstream(
    proxy: tuple[Client, Credentials, Recorder],
) -> None:
    client, creds, rec = proxy
    resp = await client.get(
        "/bucket-a/k%20ey", headers=_signed(client, creds, "GET", "/bucket-a/k%20ey")
    )
    assert resp.status == 200
    assert await resp.read() == b"upstream-body"
    assert resp.headers["ETag"] == '"abc"'
    [seen] = rec.requests
    assert seen.raw_path == "/bucket-a/k%20ey"
    # The upstream request carries BillFlow's own signature, valid for the upstream's secret.
    auth = sigv4.parse("GET", seen.raw_path, "", list(seen.headers.items()))
    assert auth is not None and auth.access_key_id == UPSTREAM_KEY
    sigv4.verify(auth, UPSTREAM_SECRET, datetime.now(UTC), region="us-east-1")


async def test_s3app_hop_by_hop_headers_dropped_both_ways(
    proxy: tuple[Client, Credentials, Recorder],
) -> None:
    client, creds, rec = proxy
    rec.headers = {"ETag": '"e"', "Keep-Alive": "timeout=5", "Proxy-Authenticate": "x"}
    headers = _signed(client, creds, "GET", "/bucket-a/k")
    headers["Proxy-Authorization"] = "Basic eA=="
    headers["TE"] = "trailers"
    resp = await client.get("/bucket-a/k", headers=headers)
    assert resp.status == 200
    assert "Keep-Alive" not in resp.headers and "Proxy-Authenticate" not in resp.headers
    [seen] = rec.requests
    assert "Proxy-Authorization" not in seen.headers and "TE" not in seen.headers


async def test_s3app_upstream_error_body_returned_unchanged(
    proxy: tuple[Client, Credentials, Recorder],
) -> None:
    client, creds, rec = proxy
    rec.status, rec.body = 404, b"<Error><Code>NoSuchKey</Code></Error>"
    rec.headers = {"Content-Type": "application/xml", "x-amz-request-id": "UP1"}
    resp = await client.get(
        "/bucket-a/nope", headers=_signed(client, creds, "GET", "/bucket-a/nope")
    )
    assert (resp.status, await resp.read()) == (404, rec.body)
    assert resp.headers["x-amz-request-id"] == "UP1"


async def test_s3app_put_with_wrong_sha256_never_reaches_upstream_whole(
    proxy: tuple[Client, Credentials, Recorder],
) -> None:
    """A body whose x-amz-content-sha256 does not match is refused and not stored upstream."""
    client, creds, rec = proxy
    body = b"x" * 300_000
    headers = _signed(
        client, creds, "PUT", "/bucket-a/k", body, payload_hash=hashlib.sha256(b"other").hexdigest()
    )
    resp = await client.put("/bucket-a/k", data=body, headers=headers)
    root = await _error(resp)
    assert resp.status == 400
    assert root.findtext("Code") == "XAmzContentSHA256Mismatch"
    await _never_whole(rec, len(body))


async def _never_whole(rec: Recorder, size: int) -> None:
    """The upstream may have seen the start of the body, never all of it."""
    if rec.requests:
        await asyncio.wait_for(rec.done.wait(), 5)
        assert not rec.requests[0].complete
        assert len(rec.requests[0].body) < size


async def test_s3app_put_with_right_sha256_arrives_whole(
    proxy: tuple[Client, Credentials, Recorder],
) -> None:
    client, creds, rec = proxy
    body = bytes(range(256)) * 1000
    headers = _signed(client, creds, "PUT", "/bucket-a/k", body, {"Content-Type": "text/x-test"})
    resp = await client.put("/bucket-a/k", data=body, headers=headers)
    assert resp.status == 200, await resp.text()
    [seen] = rec.requests
    assert seen.complete and seen.body == body
    assert seen.headers["Content-Length"] == str(len(body))
    assert seen.headers["Content-Type"] == "text/x-test"


# Past bodies.OFFLOAD_BYTES: digested by the worker threads in batches.
LARGE = random.Random(5).randbytes(bodies.OFFLOAD_BYTES * 2 + 12345)


@pytest.mark.parametrize("where", [0, len(LARGE) // 2, len(LARGE) - 1])
async def test_s3app_large_put_digested_off_loop_wrong_sha256_never_whole(
    proxy: tuple[Client, Credentials, Recorder], where: int
) -> None:
    """A large body changed at its start, middle or end after signing: the batches the worker
    digested do not let the last byte through before the whole SHA-256 is checked."""
    client, creds, rec = proxy
    headers = _signed(client, creds, "PUT", "/bucket-a/k", LARGE)
    tampered = LARGE[:where] + bytes([LARGE[where] ^ 1]) + LARGE[where + 1 :]
    resp = await client.put("/bucket-a/k", data=io.BytesIO(tampered), headers=headers)
    root = await _error(resp)
    assert (resp.status, root.findtext("Code")) == (400, "XAmzContentSHA256Mismatch")
    await _never_whole(rec, len(LARGE))


async def test_s3app_large_put_digested_off_loop_wrong_md5_bad_digest(
    proxy: tuple[Client, Credentials, Recorder],
) -> None:
    client, creds, _ = proxy
    md5 = base64.b64encode(hashlib.md5(LARGE[1:]).digest()).decode()
    headers = _signed(
        client, creds, "PUT", "/bucket-a/k", LARGE, {"Content-MD5": md5},
        payload_hash=sigv4.UNSIGNED_PAYLOAD,
    )  # fmt: skip
    resp = await client.put("/bucket-a/k", data=io.BytesIO(LARGE), headers=headers)
    assert (resp.status, (await _error(resp)).findtext("Code")) == (400, "BadDigest")


async def test_s3app_large_puts_beyond_the_worker_slots_digested_inline(
    proxy: tuple[Client, Credentials, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One worker slot, three large uploads at once: the two without a slot are digested on
    the loop as they arrive (nothing deferred, so nothing held back for later); all three
    arrive whole, and the slot is free again afterwards."""
    client, creds, rec = proxy
    deferred: list[payload.BodyDecoder] = []
    defer = payload.BodyDecoder.defer_digests

    def spy(decoder: payload.BodyDecoder) -> None:
        deferred.append(decoder)
        defer(decoder)

    monkeypatch.setattr(payload.BodyDecoder, "defer_digests", spy)
    app = client.server.app
    assert app is not None
    workers = app[s3app.DIGESTS]
    taken = 0
    while workers.acquire():  # take every slot but one
        taken += 1
    workers.release()
    paths = [f"/bucket-a/k{i}" for i in range(3)]
    puts = [
        client.put(path, data=io.BytesIO(LARGE), headers=_signed(client, creds, "PUT", path, LARGE))
        for path in paths
    ]
    for resp in await asyncio.gather(*puts):
        assert resp.status == 200, await resp.text()
    assert sorted(r.raw_path for r in rec.requests) == paths
    assert all(r.complete and r.body == LARGE for r in rec.requests)
    assert len(deferred) == 1  # only the upload holding the slot
    assert workers.acquire() and not workers.acquire()  # the one slot is free again


@pytest.mark.parametrize(
    ("mutate", "code", "status"),
    [
        (lambda h: h.pop("Authorization"), "AccessDenied", 403),
        (
            lambda h: h.update(
                Authorization=h["Authorization"].replace("Credential=", "Credential=Z")
            ),
            "InvalidAccessKeyId",
            403,
        ),
        (
            lambda h: h.update(Authorization="AWS4-HMAC-SHA256 Credential=garbage"),
            "AuthorizationHeaderMalformed",
            400,
        ),
    ],
    ids=["anonymous", "unknown-key", "malformed"],
)
async def test_s3app_refused_request_never_reaches_upstream(
    proxy: tuple[Client, Credentials, Recorder],
    mutate: Callable[[dict[str, str]], object],
    code: str,
    status: int,
) -> None:
    client, creds, rec = proxy
    headers = _signed(client, creds, "GET", "/bucket-a/k")
    mutate(headers)
    resp = await client.get("/bucket-a/k", headers=headers)
    root = await _error(resp)
    assert (resp.status, root.findtext("Code")) == (status, code)
    assert root.findtext("RequestId") == resp.headers["x-amz-request-id"]
    assert rec.requests == []


async def test_s3app_wrong_secret_reports_string_to_sign_but_no_secret(
    proxy: tuple[Client, Credentials, Recorder],
) -> None:
    client, creds, rec = proxy
    headers = _signed(client, creds, "GET", "/bucket-a/k", secret="not-the-secret")
    resp = await client.get("/bucket-a/k", headers=headers)
    body = await resp.read()
    root = ET.fromstring(body)
    assert (resp.status, root.findtext("Code")) == (403, "SignatureDoesNotMatch")
    assert root.findtext("StringToSign", "").startswith("AWS4-HMAC-SHA256\n")
    assert root.findtext("CanonicalRequest", "").startswith("GET\n/bucket-a/k\n")
    assert creds.secret.encode() not in body and rec.requests == []


async def test_s3app_head_error_has_no_body(proxy: tuple[Client, Credentials, Recorder]) -> None:
    client, creds, _ = proxy
    headers = _signed(client, creds, "HEAD", "/bucket-a/k", secret="wrong")
    resp = await client.head("/bucket-a/k", headers=headers)
    assert resp.status == 403
    assert await resp.read() == b""
    assert resp.headers["x-amz-request-id"]


async def test_s3app_upstream_down_answers_503_service_unavailable(
    tmp_path: Path, aiohttp_client: Callable[..., Awaitable[Client]], unused_tcp_port: int
) -> None:
    client, creds = await _proxy(tmp_path, f"http://127.0.0.1:{unused_tcp_port}", aiohttp_client)
    resp = await client.get("/bucket-a/k", headers=_signed(client, creds, "GET", "/bucket-a/k"))
    root = await _error(resp)
    assert (resp.status, root.findtext("Code")) == (503, "ServiceUnavailable")
    # and the server still answers the next request
    resp = await client.get("/bucket-a/k", headers=_signed(client, creds, "GET", "/bucket-a/k"))
    assert resp.status == 503
    metrics = client.server.app[s3app.METRICS]
    assert metrics.upstream_errors.labels("unreachable")._value.get() == 2


async def test_s3app_access_log_redacts_presigned_signature(
    proxy: tuple[Client, Credentials, Recorder], caplog: pytest.LogCaptureFixture
) -> None:
    """A presigned URL's signature is a bearer credential: the log line never carries it."""
    client, _, _ = proxy
    caplog.set_level("INFO", logger="billflow.access")
    resp = await client.get("/bucket-a/k?X-Amz-Signature=deadbeef&X-Amz-Credential=x")
    assert resp.status in (400, 403)
    line = caplog.records[-1].getMessage()
    assert "deadbeef" not in line and "X-Amz-Signature=REDACTED" in line
    assert resp.headers["x-amz-request-id"] in line


@pytest.mark.parametrize("size", [0, 1, 70_000])
async def test_s3app_trailer_checksum_forwarded_upstream_as_aws_chunked_trailer(
    proxy: tuple[Client, Credentials, Recorder], size: int
) -> None:
    """A trailing x-amz-checksum-* reaches the upstream (so it stores and returns it), and only
    after BillFlow verified it: one data chunk, then the same trailer, exact Content-Length."""
    client, creds, rec = proxy
    data = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    wire = AwsChunkedWrapper(io.BytesIO(data), _CHECKSUM_CLS["crc32"], "x-amz-checksum-crc32")
    body = wire.read()
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    headers = {
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(size),
        "x-amz-trailer": "x-amz-checksum-crc32",
        "Content-Type": "text/plain",
    }
    signed = _signed(
        client,
        creds,
        "PUT",
        "/bucket-a/k",
        body,
        headers,
        payload_hash=sigv4.STREAMING_UNSIGNED_TRAILER,
    )
    resp = await client.put("/bucket-a/k", data=body, headers=signed)
    assert resp.status == 200, await resp.text()
    [seen] = rec.requests
    assert seen.complete
    if size == 0:  # nothing to hold back: checked first, the checksum travels as a header
        assert seen.body == b"" and seen.headers["x-amz-checksum-crc32"] == crc
        return
    assert seen.headers["Content-Encoding"] == "aws-chunked"
    assert seen.headers["x-amz-decoded-content-length"] == str(size)
    assert seen.headers["x-amz-trailer"] == "x-amz-checksum-crc32"
    assert seen.headers["x-amz-content-sha256"] == sigv4.STREAMING_UNSIGNED_TRAILER
    assert seen.body == (
        f"{size:x}\r\n".encode()
        + data
        + b"\r\n0\r\n"
        + f"x-amz-checksum-crc32:{crc}\r\n\r\n".encode()
    )


async def test_s3app_bad_bucket_name_metered_as_unknown_4xx(
    proxy: tuple[Client, Credentials, Recorder],
) -> None:
    """An authenticated request whose address does not parse is counted (the tenant made it)
    under no operation rather than as ListBuckets, and nothing goes upstream."""
    client, creds, rec = proxy
    path = "/Bad_Bucket/k"
    resp = await client.get(path, headers=_signed(client, creds, "GET", path))
    assert resp.status == 400
    calls = client.server.app[s3app.METER]._batch.calls
    assert [(k.operation, k.status_class) for k in calls] == [("Unknown", "4xx")]
    assert rec.requests == []
