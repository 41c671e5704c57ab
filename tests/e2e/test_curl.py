"""curl's own SigV4 signer (`curl --aws-sigv4`) through BillFlow, over HTTP and HTTPS.

curl signs the SHA-256 of the body it was given with --data-binary but sends no
x-amz-content-sha256 header, so BillFlow must read the (small) body to check the signature. With
-T (an upload from a file) curl 7.88 signs the empty body's hash whatever it sends: that signature
covers everything but the body, which BillFlow then takes as UNSIGNED-PAYLOAD, as MinIO does.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from .harness import REGION, Gateway, TenantKey, over_schemes

pytestmark = [pytest.mark.e2e, over_schemes]

Curl = Callable[..., subprocess.CompletedProcess[bytes]]


@pytest.fixture
def curl(gateway: Gateway, tenant: TenantKey, tmp_path: Path) -> Curl:
    """Runner: `curl --aws-sigv4 aws:amz:REGION:s3 --user AKID:SECRET [--cacert CA] ARGS... URL`
    for `path` on BillFlow; the body, then the status on a line of its own, on stdout."""
    found = shutil.which("curl")
    if found is None:
        pytest.fail("curl is not on PATH (the Debian package curl)", pytrace=False)
    ca = ["--cacert", str(gateway.tls.ca_pem)] if gateway.tls else []

    def run(path: str, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [
                found,
                "--silent",
                "--show-error",
                "--aws-sigv4",
                f"aws:amz:{REGION}:s3",
                "--user",
                f"{tenant.access_key_id}:{tenant.secret_access_key}",
                *ca,
                "--write-out",
                "\n%{http_code}",
                *args,
                f"{gateway.url}{path}",
            ],
            capture_output=True,
            timeout=60,
            env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
        )

    return run


def answer(done: subprocess.CompletedProcess[bytes]) -> tuple[int, bytes]:
    """(status, body) of a curl run that completed its exchange."""
    assert done.returncode == 0, done.stderr
    body, _, status = done.stdout.rpartition(b"\n")
    return int(status), body


def test_curl_put_get_list_delete_roundtrip(
    curl: Curl, upstream_s3: Any, bucket: str, tmp_path: Path
) -> None:
    """PUT (--data-binary, body hash signed but not sent), GET, ListObjectsV2 and DELETE, each
    signed by curl: the object is stored and read back byte for byte, then deleted upstream."""
    data = os.urandom(200 * 1024)
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    key = "curl dir/ключ+1.bin"
    path = f"/{bucket}/{quote(key, safe='/~')}"
    # --data-binary defaults to Content-Type application/x-www-form-urlencoded, which moto
    # (Werkzeug) takes for a form and stores as an empty object: name a content type.
    content_type = "Content-Type: application/octet-stream"
    status, body = answer(
        curl(path, "-X", "PUT", "-H", content_type, "--data-binary", f"@{source}")
    )
    assert status == 200, body
    assert upstream_s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data
    status, body = answer(curl(path))
    assert status == 200
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(data).hexdigest()
    status, body = answer(curl(f"/{bucket}?list-type=2&prefix=curl%20dir%2F"))
    assert status == 200, body
    assert f"<Key>{key}</Key>".encode() in body, body
    status, body = answer(curl(path, "-X", "DELETE"))
    assert status == 204, body
    with pytest.raises(ClientError):
        upstream_s3.head_object(Bucket=bucket, Key=key)


def test_curl_upload_file_signing_empty_hash_is_stored_as_unsigned_payload(
    curl: Curl, upstream_s3: Any, bucket: str, tmp_path: Path
) -> None:
    """`curl -T FILE` (7.88 signs the empty body's SHA-256 and sends the file): the signature
    covers the request but not the body, which is stored as an UNSIGNED-PAYLOAD upload is."""
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(5000))
    status, body = answer(curl(f"/{bucket}/uploaded", "-T", str(source)))
    assert status == 200, body
    stored = upstream_s3.get_object(Bucket=bucket, Key="uploaded")["Body"].read()
    assert stored == source.read_bytes()
