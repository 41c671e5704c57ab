"""BillFlow as a server: addressing styles, connections, request ids in the log, new keys while
serving, an unreachable or silent upstream, and a clean stop on SIGINT."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from .harness import TENANT, Gateway, TenantKey, Upstream, free_port, http_status, write_config
from .s3wire import Wire, expect_error, key_path, request_bytes

pytestmark = pytest.mark.e2e

Spare = Callable[..., tuple[Gateway, Wire]]


def test_virtual_hosted_style_roundtrips(wire: Wire, upstream_s3: Any, bucket: str) -> None:
    """Host BUCKET.s3.localhost addresses the bucket: PUT, GET and ListObjectsV2 work and the
    key is stored upstream exactly."""
    host = f"{bucket}.s3.localhost:{wire.port}"
    key = "vhost dir/ключ+1 100%.txt"
    target = "/" + quote(key, safe="/~")
    data = os.urandom(5000)
    put = wire.sign("PUT", target, host=host, headers=[("Content-Length", "5000")], body=data)
    reply = wire.send(put)
    assert reply.status == 200, reply.describe()
    assert upstream_s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data
    got = wire.send(wire.sign("GET", target, host=host))
    assert (got.status, got.body) == (200, data), got.describe()
    listing = wire.send(wire.sign("GET", "/?list-type=2&prefix=vhost%20dir%2F", host=host))
    assert listing.status == 200, listing.describe()
    assert f"<Key>{key}</Key>".encode() in listing.body, listing.describe()


def test_path_style_bucket_listing_on_ip_host(wire: Wire, s3_default: Any, bucket: str) -> None:
    """Host 127.0.0.1:PORT is path-style: GET /BUCKET?list-type=2 lists the bucket."""
    s3_default.put_object(Bucket=bucket, Key="k", Body=b"x")
    listing = wire.send(wire.sign("GET", f"/{bucket}?list-type=2"))
    assert listing.status == 200, listing.describe()
    assert b"<Key>k</Key>" in listing.body


def test_client_connection_kept_alive(wire: Wire, s3_default: Any, bucket: str) -> None:
    """Three requests on one client connection all succeed on that connection: the upstream's
    hop-by-hop `Connection: close` (moto sends it on every answer) is not passed on."""
    s3_default.put_object(Bucket=bucket, Key="k", Body=b"kept alive")
    conn = http.client.HTTPConnection(wire.host, wire.port, timeout=30)
    try:
        for _ in range(3):
            signed = wire.sign("GET", key_path(bucket, "k"))
            conn.putrequest("GET", signed.target, skip_host=True, skip_accept_encoding=True)
            for name, value in signed.headers:
                conn.putheader(name, value)
            conn.endheaders()
            response = conn.getresponse()
            assert (response.status, response.read()) == (200, b"kept alive")
            assert response.getheader("Connection", "").lower() != "close"
            assert not response.will_close
    finally:
        conn.close()


def test_expect_100_continue_answers_continue_before_body(
    wire: Wire, upstream_s3: Any, bucket: str
) -> None:
    """A PUT with Expect: 100-continue gets `100 Continue` before sending its body, then 200."""
    data = os.urandom(256 * 1024)
    signed = wire.sign(
        "PUT", key_path(bucket, "k"), headers=[("Content-Length", str(len(data)))], body=data
    )
    extra = [("Expect", "100-continue"), ("Connection", "close")]
    with socket.create_connection((wire.host, wire.port), timeout=10) as sock:
        sock.sendall(request_bytes(signed, extra=extra))
        interim = b""
        while b"\r\n\r\n" not in interim:
            piece = sock.recv(4096)
            assert piece, f"connection closed before 100 Continue: {interim!r}"
            interim += piece
        assert interim.startswith(b"HTTP/1.1 100"), interim
        sock.sendall(data)
        final = interim.partition(b"\r\n\r\n")[2]
        while piece := sock.recv(65536):
            final += piece
    assert final.startswith(b"HTTP/1.1 200"), final[:500]
    assert upstream_s3.get_object(Bucket=bucket, Key="k")["Body"].read() == data


def test_error_request_id_appears_in_log(
    wire: Wire, gateway: Gateway, tenant: TenantKey, bucket: str
) -> None:
    """The RequestId of an error answer appears in BillFlow's log line for that request; the
    tenant's secret appears nowhere in the log."""
    reply = wire.send(wire.sign("GET", key_path(bucket, "k"), secret_key="0" * 40))
    request_id = expect_error(reply, 403, "SignatureDoesNotMatch")["RequestId"]
    deadline = time.monotonic() + 5
    while request_id not in gateway.log.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"{request_id} not in {gateway.log}"
        time.sleep(0.1)
    assert tenant.secret_access_key not in gateway.log.read_text(errors="replace")


def test_key_created_while_serving_is_accepted(gateway: Gateway, make_s3: Any) -> None:
    """A key made by `billflow key create` while BillFlow serves works at once."""
    key = gateway.create_key(TENANT)
    response = make_s3(key=key).list_buckets()
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200


@pytest.fixture
def spare_gateway(tmp_path: Path) -> Iterator[Spare]:
    """Factory: another BillFlow (own config, ledger, tenant and key) in front of any upstream
    URL; stopped with SIGTERM, cleanly, after the test."""
    started: list[Gateway] = []

    def start(upstream_url: str, upstream_extra: str = "") -> tuple[Gateway, Wire]:
        directory = tmp_path / f"gw{len(started)}"
        directory.mkdir()
        gw = write_config(directory, upstream_url, upstream_extra)
        gw.cli_json("tenant", "create", TENANT)
        key: TenantKey = gw.create_key(TENANT)
        gw.start()
        started.append(gw)
        return gw, Wire(gw.host, gw.port, key.access_key_id, key.secret_access_key)

    yield start
    for gw in started:
        gw.stop(signal.SIGTERM)


def test_upstream_refusing_connections_answers_503(spare_gateway: Spare) -> None:
    """With nothing listening at the upstream address, requests get 503 ServiceUnavailable
    and BillFlow keeps serving."""
    gw, wire = spare_gateway(f"http://127.0.0.1:{free_port()}")
    # CreateBucket asks the upstream first (ListBuckets would be answered from the ledger).
    for _ in range(2):
        expect_error(wire.send(wire.sign("PUT", "/no-upstream-bucket")), 503, "ServiceUnavailable")
    assert http_status(gw.host, gw.admin_port, "/healthz") == 200


def test_upstream_not_answering_answers_503_after_read_timeout(spare_gateway: Spare) -> None:
    """An upstream that accepts connections but never answers gets 503 ServiceUnavailable once
    upstream.read_timeout_seconds has passed."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # never accepted: the kernel completes connects, nobody reads
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        gw, wire = spare_gateway(url, "connect_timeout_seconds = 1\nread_timeout_seconds = 1\n")
        started = time.monotonic()
        reply = wire.send(wire.sign("PUT", "/no-upstream-bucket"))
        elapsed = time.monotonic() - started
        expect_error(reply, 503, "ServiceUnavailable")
        assert elapsed < 10, elapsed
        assert http_status(gw.host, gw.admin_port, "/healthz") == 200


def test_sigint_stops_serving_cleanly(tmp_path: Path, upstream: Upstream) -> None:
    """SIGINT stops BillFlow within 10 s with exit status 0, and its port stops answering."""
    gw = write_config(tmp_path, upstream.url)
    gw.start()
    gw.stop(signal.SIGINT)
    assert http_status(gw.host, gw.port, "/") is None
