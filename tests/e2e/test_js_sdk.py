"""The AWS SDK for JavaScript v3 through BillFlow: a client outside Python, at its defaults.

`tests/e2e/js/s3client.mjs` runs with the machine's node as a tenant's script would: endpoint,
credentials and region from the environment, the test CA through NODE_EXTRA_CA_CERTS, path-style
addressing (an IP endpoint has no bucket subdomains), one attempt. It prints what it got back and
every request as the SDK finished it (`sent`). The SDK and its lockfile-pinned dependencies are
put in place by `scripts/install-test-clients`; without node or that install these tests fail,
saying so.

Like boto3 the SDK sends CRC32 checksums by default, but chooses the framing by body type rather
than by scheme: a Buffer gets an x-amz-checksum-crc32 header, a stream gets
STREAMING-UNSIGNED-PAYLOAD-TRAILER (HTTP-chunked, CRC32 trailer) over HTTP as well as HTTPS.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .harness import REGION, REPO, Gateway, MiB, TenantKey, over_schemes
from .s3wire import STREAMING_UNSIGNED_TRAILER, crc32_b64, same_composite

pytestmark = [pytest.mark.e2e, over_schemes]

JS_DIR = REPO / "tests" / "e2e" / "js"
SCRIPT = JS_DIR / "s3client.mjs"
INSTALL = "scripts/install-test-clients"

Js = Callable[..., dict[str, Any]]


@pytest.fixture(scope="package")
def node() -> str:
    """The machine's node, with the SDK installed from the lockfile; else fail, saying why."""
    found = shutil.which("node")
    if found is None:
        pytest.fail(
            "node is not on PATH: the JavaScript SDK tests need Node.js 20 or later", pytrace=False
        )
    lock = json.loads((JS_DIR / "package-lock.json").read_text())
    for package in ("@aws-sdk/client-s3", "@aws-sdk/lib-storage"):
        want = lock["packages"][f"node_modules/{package}"]["version"]
        installed = JS_DIR / "node_modules" / package / "package.json"
        have = json.loads(installed.read_text())["version"] if installed.exists() else None
        if have != want:
            pytest.fail(
                f"{package} {want} is not installed in {JS_DIR / 'node_modules'} "
                f"(found {have}): run {INSTALL}",
                pytrace=False,
            )
    return found


@pytest.fixture
def js(node: str, gateway: Gateway, tenant: TenantKey, tmp_path: Path) -> Js:
    """Runner: `node s3client.mjs ARGS...` as the tenant against `gateway`; returns its JSON.
    Unless `fails=True`, the command must have succeeded."""
    home = tmp_path / "js-home"
    home.mkdir()
    (home / "empty").write_text("")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "S3_ENDPOINT": gateway.url,
        "AWS_ACCESS_KEY_ID": tenant.access_key_id,
        "AWS_SECRET_ACCESS_KEY": tenant.secret_access_key,
        "AWS_REGION": REGION,
        # No profile or shared config of this machine.
        "AWS_CONFIG_FILE": str(home / "empty"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "empty"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    if gateway.tls:
        env["NODE_EXTRA_CA_CERTS"] = str(gateway.tls.ca_pem)

    def run(*args: str, fails: bool = False) -> dict[str, Any]:
        done = subprocess.run(
            [node, str(SCRIPT), *args],
            cwd=JS_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        what = f"node s3client.mjs {' '.join(args)}: exit {done.returncode}\n{done.stdout}\n"
        what += done.stderr
        try:
            out: dict[str, Any] = json.loads(done.stdout)
        except json.JSONDecodeError:
            pytest.fail(f"no JSON from {what}", pytrace=False)
        if not fails:
            assert done.returncode == 0 and "error" not in out, what
        return out

    return run


def sent(out: dict[str, Any], method: str, marker: str = "") -> list[dict[str, Any]]:
    """The requests of `out["sent"]` with this method whose query has `marker` (if given)."""
    return [
        r for r in out["sent"] if r["method"] == method and (not marker or marker in r["query"])
    ]


def test_js_put_buffer_and_stream_roundtrip_with_checksums(
    js: Js, upstream_s3: Any, bucket_name: str, tmp_path: Path
) -> None:
    """CreateBucket, then PutObject from a Buffer (CRC32 header) and from a stream (CRC32
    trailer, HTTP-chunked): both stored exactly, both read back byte for byte with their
    CRC32 from GetObject and HeadObject in checksum mode."""
    js("mb", bucket_name)
    upstream_s3.head_bucket(Bucket=bucket_name)
    data = os.urandom(300 * 1024)
    source = tmp_path / "source.bin"
    source.write_bytes(data)

    buffered = js("put", bucket_name, "from buffer.bin", str(source))
    (request,) = sent(buffered, "PUT")
    headers = request["headers"]
    assert headers["content-length"] == str(len(data)), request
    assert headers["x-amz-checksum-crc32"] == crc32_b64(data), request
    assert buffered["result"]["ChecksumCRC32"] == crc32_b64(data)

    streamed = js("put-stream", bucket_name, "from stream/ключ+1.bin", str(source))
    (request,) = sent(streamed, "PUT")
    headers = request["headers"]
    assert headers["x-amz-content-sha256"] == STREAMING_UNSIGNED_TRAILER, request
    assert headers["transfer-encoding"] == "chunked", request
    assert "content-length" not in headers, request
    assert headers["x-amz-trailer"] == "x-amz-checksum-crc32", request
    assert headers["x-amz-decoded-content-length"] == str(len(data)), request
    assert streamed["result"]["ChecksumCRC32"] == crc32_b64(data)

    for key in ("from buffer.bin", "from stream/ключ+1.bin"):
        assert upstream_s3.get_object(Bucket=bucket_name, Key=key)["Body"].read() == data
        out = tmp_path / "out.bin"
        got = js("get", bucket_name, key, str(out))["result"]
        assert out.read_bytes() == data, key
        assert got["ChecksumCRC32"] == crc32_b64(data), got
        head = js("head", bucket_name, key)["result"]
        assert head["ChecksumCRC32"] == crc32_b64(data), head
        assert head["ContentLength"] == len(data), head


def test_js_lib_storage_upload_multipart_roundtrip(
    js: Js, upstream_s3: Any, bucket_name: str, tmp_path: Path
) -> None:
    """lib-storage Upload of 12 MiB in 5 MiB parts: CreateMultipartUpload declares CRC32, each
    part carries its CRC32, the object is stored as 3 parts, and comes back byte for byte with
    the composite CRC32."""
    js("mb", bucket_name)
    data = os.urandom(12 * MiB)
    parts = [data[i : i + 5 * MiB] for i in range(0, len(data), 5 * MiB)]
    source = tmp_path / "12mib.bin"
    source.write_bytes(data)
    out = js("upload", bucket_name, "multi part.bin", str(source), "5")
    (create,) = sent(out, "POST", "uploads")
    assert create["headers"]["x-amz-checksum-algorithm"] == "CRC32", create
    uploads = sorted(sent(out, "PUT", "partNumber"), key=lambda r: int(r["query"]["partNumber"]))
    assert [r["headers"].get("x-amz-checksum-crc32") for r in uploads] == [
        crc32_b64(p) for p in parts
    ], uploads
    head = upstream_s3.head_object(Bucket=bucket_name, Key="multi part.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].endswith('-3"'), head["ETag"]
    down = tmp_path / "down.bin"
    got = js("get", bucket_name, "multi part.bin", str(down))["result"]
    assert down.read_bytes() == data
    assert same_composite(got.get("ChecksumCRC32"), parts), got


def test_js_list_delete_objects_and_bucket(
    js: Js, upstream_s3: Any, bucket_name: str, tmp_path: Path
) -> None:
    """ListObjectsV2 lists every key with its size (with and without a prefix);
    DeleteObjects (CRC32 of its XML body, no Content-MD5) deletes them upstream; DeleteBucket
    deletes the bucket upstream."""
    js("mb", bucket_name)
    files = {"a.txt": b"a" * 10, "dir/b c+1.txt": b"bc" * 50, "dir/ключ.bin": os.urandom(999)}
    for key, data in files.items():
        path = tmp_path / "f.bin"
        path.write_bytes(data)
        js("put", bucket_name, key, str(path))
    listed = js("ls", bucket_name)["result"]
    assert listed == [{"Key": k, "Size": len(v)} for k, v in sorted(files.items())]
    assert [o["Key"] for o in js("ls", bucket_name, "dir/")["result"]] == [
        "dir/b c+1.txt",
        "dir/ключ.bin",
    ]
    removed = js("rm", bucket_name, *files)
    assert sorted(removed["result"]["Deleted"]) == sorted(files), removed
    assert removed["result"]["Errors"] == [], removed
    (request,) = sent(removed, "POST", "delete")
    assert "x-amz-checksum-crc32" in request["headers"], request
    assert upstream_s3.list_objects_v2(Bucket=bucket_name)["KeyCount"] == 0
    js("rb", bucket_name)
    with pytest.raises(ClientError) as exc:
        upstream_s3.head_bucket(Bucket=bucket_name)
    assert exc.value.response["Error"]["Code"] in ("404", "NoSuchBucket")
