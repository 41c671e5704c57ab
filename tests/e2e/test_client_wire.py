"""What boto3, aws-cli and minio-py at their defaults really send, read off the wire, and BillFlow
serving it.

Each test puts a recording relay (tap.Tap) between the client and BillFlow and runs over HTTP and
HTTPS. Over HTTPS these clients upload every PutObject and UploadPart as
STREAMING-UNSIGNED-PAYLOAD-TRAILER: HTTP-chunked (no Content-Length) around aws-chunked, the CRC32
in the trailer; over HTTP they send a hex payload hash and an x-amz-checksum-crc32 header. So the
HTTPS runs of the client suites exercise BillFlow's trailer path, and these tests prove it.
minio-py signs the payload's SHA-256 over HTTP and sends UNSIGNED-PAYLOAD with Content-MD5 over
HTTPS.
"""

from __future__ import annotations

import base64
import filecmp
import hashlib
import io
import json
import os
import subprocess
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import urllib3
from minio import Minio

from .harness import Aws, Gateway, MiB, TenantKey, over_schemes
from .s3wire import STREAMING_UNSIGNED_TRAILER, crc32_b64, same_composite
from .tap import Tap, WireRequest, decode_aws_chunked

pytestmark = [pytest.mark.e2e, over_schemes]

S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
#: aws-cli's multipart_threshold and multipart_chunksize defaults.
CLI_PART = 8 * MiB


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.args}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done.stdout


def uploaded(request: WireRequest, scheme: str) -> bytes:
    """The data of a PutObject or UploadPart as a default boto3/aws-cli sends it over `scheme`,
    after checking its framing and its CRC32 (trailer over HTTPS, header over HTTP)."""
    info = request.describe()
    if scheme == "https":
        assert request.header("x-amz-content-sha256") == STREAMING_UNSIGNED_TRAILER, info
        assert request.header("Transfer-Encoding") == "chunked", info
        assert request.header("Content-Length") is None, info
        assert request.header("Content-Encoding") == "aws-chunked", info
        assert request.header("x-amz-trailer") == "x-amz-checksum-crc32", info
        assert request.header("x-amz-checksum-crc32") is None, info
        assert request.header("Expect") == "100-continue", info
        data, trailers = decode_aws_chunked(request.body)
        assert request.header("x-amz-decoded-content-length") == str(len(data)), info
        assert trailers == {"x-amz-checksum-crc32": crc32_b64(data)}, info
    else:
        data = request.body
        assert request.header("x-amz-content-sha256") == hashlib.sha256(data).hexdigest(), info
        assert request.header("Content-Length") == str(len(data)), info
        assert request.header("Transfer-Encoding") is None, info
        assert request.header("Content-Encoding") is None, info
        assert request.header("x-amz-checksum-crc32") == crc32_b64(data), info
    assert request.header("x-amz-sdk-checksum-algorithm") == "CRC32", info
    return data


def test_boto3_default_put_object_framing_on_the_wire(
    make_s3: Any, gateway: Gateway, upstream_s3: Any, bucket: str, scheme: str
) -> None:
    """boto3's default PutObject is trailer-framed over HTTPS and header-checksummed over HTTP;
    BillFlow stores exactly the data either way, with its CRC32."""
    data = os.urandom(300 * 1024)
    with Tap(gateway) as tap:
        client = make_s3(endpoint_url=tap.url)
        client.put_object(Bucket=bucket, Key="k", Body=data)
        client.close()
    (put,) = [r for r in tap.requests() if r.method == "PUT"]
    assert uploaded(put, scheme) == data
    stored = upstream_s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert stored["Body"].read() == data
    assert stored["ChecksumCRC32"] == crc32_b64(data)


def test_awscli_default_cp_small_framing_on_the_wire(
    aws: Aws, gateway: Gateway, upstream_s3: Any, bucket: str, scheme: str, tmp_path: Path
) -> None:
    """`aws s3 cp` at defaults: the same framing as boto3 for a single PutObject."""
    source = tmp_path / "small.bin"
    source.write_bytes(os.urandom(70 * 1024))
    with Tap(gateway) as tap:
        ok(
            aws(
                "s3",
                "cp",
                str(source),
                f"s3://{bucket}/small.bin",
                profile="stock",
                endpoint=tap.url,
            )
        )
    (put,) = [r for r in tap.requests() if r.method == "PUT"]
    assert uploaded(put, scheme) == source.read_bytes()
    assert upstream_s3.get_object(Bucket=bucket, Key="small.bin")["Body"].read() == (
        source.read_bytes()
    )


def test_awscli_default_cp_multipart_part_checksums_roundtrip(
    aws: Aws,
    gateway: Gateway,
    upstream_s3: Any,
    bucket: str,
    scheme: str,
    file_20mib: Path,
    tmp_path: Path,
) -> None:
    """`aws s3 cp` at defaults of 20 MiB: CreateMultipartUpload declares CRC32, each of the
    three UploadParts carries its part's CRC32 (a trailer over HTTPS), CompleteMultipartUpload
    lists them; the object comes back byte for byte with the composite CRC32."""
    with Tap(gateway) as tap:
        ok(
            aws(
                "s3",
                "cp",
                str(file_20mib),
                f"s3://{bucket}/big.bin",
                profile="stock",
                endpoint=tap.url,
            )
        )
    sent = tap.requests()
    (create,) = [r for r in sent if r.method == "POST" and r.target.endswith("?uploads")]
    assert create.header("x-amz-checksum-algorithm") == "CRC32", create.describe()
    part_requests = [r for r in sent if r.method == "PUT" and "partNumber=" in r.target]
    numbered = {int(r.target.split("partNumber=")[1].split("&")[0]): r for r in part_requests}
    assert sorted(numbered) == [1, 2, 3], [r.target for r in part_requests]
    parts = [uploaded(numbered[n], scheme) for n in (1, 2, 3)]
    assert [len(p) for p in parts] == [CLI_PART, CLI_PART, 20 * MiB - 2 * CLI_PART]
    assert b"".join(parts) == file_20mib.read_bytes()
    (complete,) = [r for r in sent if r.method == "POST" and "uploadId=" in r.target]
    listed = {
        int(p.findtext(f"{S3_NS}PartNumber", "0")): p.findtext(f"{S3_NS}ChecksumCRC32")
        for p in ET.fromstring(complete.body).iter(f"{S3_NS}Part")
    }
    assert listed == {n: crc32_b64(parts[n - 1]) for n in (1, 2, 3)}, complete.body

    down = tmp_path / "big.bin"
    ok(aws("s3", "cp", f"s3://{bucket}/big.bin", str(down), profile="stock"))
    assert filecmp.cmp(down, file_20mib, shallow=False)
    head = json.loads(
        ok(
            aws(
                "s3api",
                "head-object",
                "--bucket",
                bucket,
                "--key",
                "big.bin",
                "--checksum-mode",
                "ENABLED",
                profile="stock",
            )
        )
    )
    assert same_composite(head.get("ChecksumCRC32"), parts), head


def test_minio_put_object_payload_on_the_wire(
    gateway: Gateway, tenant: TenantKey, upstream_s3: Any, bucket: str, scheme: str
) -> None:
    """minio-py's put_object signs the body's SHA-256 over HTTP, and over HTTPS sends
    UNSIGNED-PAYLOAD with a Content-MD5 (its integrity check); BillFlow stores exactly the
    data."""
    data = os.urandom(100 * 1024)
    tls: dict[str, Any] = (
        {"cert_reqs": "CERT_REQUIRED", "ca_certs": str(gateway.tls.ca_pem)} if gateway.tls else {}
    )
    pool = urllib3.PoolManager(retries=False, **tls)
    with Tap(gateway) as tap:
        client = Minio(
            tap.url.partition("://")[2],
            access_key=tenant.access_key_id,
            secret_key=tenant.secret_access_key,
            secure=gateway.tls is not None,
            region="us-east-1",
            http_client=pool,
        )
        client.put_object(bucket, "k", io.BytesIO(data), len(data))
        pool.clear()
    (put,) = [r for r in tap.requests() if r.method == "PUT"]
    info = put.describe()
    assert put.body == data, info
    assert put.header("Content-Length") == str(len(data)), info
    if scheme == "https":
        assert put.header("x-amz-content-sha256") == "UNSIGNED-PAYLOAD", info
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        assert put.header("Content-MD5") == md5, info
    else:
        assert put.header("x-amz-content-sha256") == hashlib.sha256(data).hexdigest(), info
    assert upstream_s3.get_object(Bucket=bucket, Key="k")["Body"].read() == data
