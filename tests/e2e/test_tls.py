"""BillFlow's HTTPS listener itself: the certificate it presents, and its reload on SIGHUP.

Clients trust the per-run test CA only (`harness.TestCA`), as a tenant given a private CA would.
The reload tests run their own BillFlow with certificate files of their own, which they replace.
"""

from __future__ import annotations

import shutil
import signal
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .harness import Gateway, TestCA, Upstream, write_config
from .s3wire import Wire

pytestmark = pytest.mark.e2e

RELOAD_TIMEOUT = 5.0


def handshake(gateway: Gateway, ca: TestCA | None, server_name: str = "127.0.0.1") -> None:
    """A TLS handshake with the S3 listener, trusting `ca` only (None: the system's CAs);
    raises ssl.SSLCertVerificationError when the certificate isn't trusted."""
    context = ca.client_context() if ca else ssl.create_default_context()
    with socket.create_connection((gateway.host, gateway.port), timeout=10) as sock:
        with context.wrap_socket(sock, server_hostname=server_name):
            pass


@pytest.mark.parametrize("scheme", ["https"], indirect=True)
def test_https_certificate_verifies_against_test_ca_only(
    gateway: Gateway, test_ca: TestCA, s3_default: Any
) -> None:
    """The S3 listener presents the test CA's certificate for 127.0.0.1 and localhost: a
    client trusting that CA connects and is served, one trusting only the system's CAs refuses
    the certificate."""
    handshake(gateway, test_ca)
    handshake(gateway, test_ca, server_name="localhost")
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(gateway, None)
    assert s3_default.list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200


@pytest.mark.parametrize("scheme", ["https"], indirect=True)
def test_https_listener_plain_http_request_not_served(gateway: Gateway, wire: Wire) -> None:
    """Plain HTTP sent to the HTTPS listener gets no HTTP answer (the TLS handshake fails), and
    the listener keeps serving TLS clients."""
    with socket.create_connection((gateway.host, gateway.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    assert not received.startswith(b"HTTP/"), received[:200]
    wire.assert_serving()


@pytest.fixture
def own_cert_gateway(tmp_path: Path, upstream: Upstream) -> Iterator[tuple[Gateway, TestCA]]:
    """An HTTPS BillFlow whose certificate files belong to this test alone."""
    ca = TestCA.create(tmp_path)
    gw = write_config(tmp_path, upstream.url, tls=ca)
    gw.start()
    yield gw, ca
    gw.stop(signal.SIGTERM)


def replace_certificate(installed: TestCA, new: TestCA) -> None:
    """Write `new`'s server certificate and key over the files BillFlow was configured with."""
    shutil.copyfile(new.cert_pem, installed.cert_pem)
    shutil.copyfile(new.key_pem, installed.key_pem)


def test_sighup_reloads_renewed_certificate(
    own_cert_gateway: tuple[Gateway, TestCA], tmp_path: Path
) -> None:
    """After the certificate files are replaced (another CA's) and BillFlow gets SIGHUP, new
    handshakes present the new certificate; BillFlow keeps running."""
    gw, first = own_cert_gateway
    handshake(gw, first)
    (tmp_path / "renewed").mkdir()
    renewed = TestCA.create(tmp_path / "renewed")
    replace_certificate(first, renewed)
    assert gw.service is not None
    gw.service.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + RELOAD_TIMEOUT
    while True:
        try:
            handshake(gw, renewed)
            break
        except ssl.SSLCertVerificationError:
            assert time.monotonic() < deadline, f"old certificate still served; log:\n{gw.log}"
            time.sleep(0.1)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(gw, first)


def test_sighup_with_unparsable_certificate_keeps_serving_old_one(
    own_cert_gateway: tuple[Gateway, TestCA],
) -> None:
    """A SIGHUP while the certificate file is unreadable as PEM keeps the certificate in use
    (and BillFlow running), and logs the failure."""
    gw, ca = own_cert_gateway
    ca.cert_pem.write_text("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n")
    assert gw.service is not None
    gw.service.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + RELOAD_TIMEOUT
    while "reload" not in gw.log.read_text(errors="replace").lower():
        assert time.monotonic() < deadline, "no log line about the failed reload"
        time.sleep(0.1)
    handshake(gw, ca)


def test_sighup_with_certificate_renewed_but_key_not_yet_keeps_serving_old_one(
    own_cert_gateway: tuple[Gateway, TestCA], tmp_path: Path
) -> None:
    """A SIGHUP between a renewal's two file writes (new certificate, old key: they don't match)
    keeps the old certificate and key in use, so TLS clients are still served."""
    gw, first = own_cert_gateway
    (tmp_path / "renewed").mkdir()
    renewed = TestCA.create(tmp_path / "renewed")
    shutil.copyfile(renewed.cert_pem, first.cert_pem)  # the key file is not replaced yet
    assert gw.service is not None
    gw.service.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + RELOAD_TIMEOUT
    while "reload" not in gw.log.read_text(errors="replace").lower():
        assert time.monotonic() < deadline, "no log line about the failed reload"
        time.sleep(0.1)
    handshake(gw, first)
