"""Flexible checksums end to end: what clients send comes back, what doesn't match is refused.

A checksum sent as a header (boto3 over HTTP) or as an aws-chunked trailer (boto3 over HTTPS) is
verified by BillFlow and forwarded, so the upstream stores it and returns it on GetObject and
HeadObject with `x-amz-checksum-mode: ENABLED`; a multipart upload's part checksums make the
object's composite checksum. A checksum that doesn't match the body is refused with 400 BadDigest
before the upstream stores a byte: moto accepts bad checksums (shared/MOTO.md), so "nothing
stored" is checked on moto itself.
"""

from __future__ import annotations

import base64
import hashlib
import os
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from awscrt import checksums as crt
from boto3.s3.transfer import TransferConfig

from .harness import MiB, over_schemes
from .s3wire import (
    STREAMING_UNSIGNED_TRAILER,
    UNSIGNED_PAYLOAD,
    Wire,
    assert_not_stored,
    chunked_put,
    crc32_b64,
    expect_error,
    key_path,
    same_composite,
    simple_put,
)

pytestmark = pytest.mark.e2e

#: x-amz-checksum-* algorithm -> its digest of some bytes, big-endian, base64 (how S3 sends it).
DIGESTS: dict[str, Callable[[bytes], bytes]] = {
    "crc32": lambda data: zlib.crc32(data).to_bytes(4, "big"),
    "crc32c": lambda data: crt.crc32c(data).to_bytes(4, "big"),
    "crc64nvme": lambda data: crt.crc64nvme(data).to_bytes(8, "big"),
    "sha1": lambda data: hashlib.sha1(data).digest(),
    "sha256": lambda data: hashlib.sha256(data).digest(),
}
#: The same algorithms as boto3's ChecksumAlgorithm and response members spell them.
BOTO3_NAMES = {
    "crc32": "CRC32",
    "crc32c": "CRC32C",
    "crc64nvme": "CRC64NVME",
    "sha1": "SHA1",
    "sha256": "SHA256",
}


def checksum_b64(algorithm: str, data: bytes) -> str:
    return base64.b64encode(DIGESTS[algorithm](data)).decode()


def test_checksum_helpers_match_published_check_values() -> None:
    """(Self-check, no server.) Each digest gives its catalogue check value for "123456789"."""
    check = {
        "crc32": 0xCBF43926,
        "crc32c": 0xE3069283,
        "crc64nvme": 0xAE8B14860A799888,
    }
    for algorithm, value in check.items():
        assert DIGESTS[algorithm](b"123456789") == value.to_bytes(len(DIGESTS[algorithm](b"")))


@over_schemes
@pytest.mark.parametrize("algorithm", list(DIGESTS))
def test_put_object_checksum_algorithm_comes_back(
    s3_default: Any, upstream_s3: Any, bucket: str, algorithm: str
) -> None:
    """PutObject with ChecksumAlgorithm (a header over HTTP, a trailer over HTTPS) stores the
    bytes, and GetObject and HeadObject with checksum mode return the body's checksum."""
    data = os.urandom(200 * 1024)
    name = BOTO3_NAMES[algorithm]
    expected = checksum_b64(algorithm, data)
    put = s3_default.put_object(Bucket=bucket, Key="k", Body=data, ChecksumAlgorithm=name)
    assert put[f"Checksum{name}"] == expected
    got = s3_default.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got[f"Checksum{name}"] == expected
    head = s3_default.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert head[f"Checksum{name}"] == expected
    stored = upstream_s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert stored[f"Checksum{name}"] == expected


@over_schemes
def test_upload_file_multipart_composite_checksum_comes_back(
    s3_default: Any, bucket: str, file_20mib: Path, tmp_path: Path
) -> None:
    """upload_file in 5 MiB parts sends a CRC32 with each part; the object's checksum is the
    composite of the part checksums, and download_file returns the same bytes."""
    five = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    s3_default.upload_file(str(file_20mib), bucket, "big.bin", Config=five)
    data = file_20mib.read_bytes()
    parts = [data[i : i + 5 * MiB] for i in range(0, len(data), 5 * MiB)]
    got = s3_default.get_object(Bucket=bucket, Key="big.bin", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert same_composite(got.get("ChecksumCRC32"), parts), got
    head = s3_default.head_object(Bucket=bucket, Key="big.bin", ChecksumMode="ENABLED")
    assert same_composite(head.get("ChecksumCRC32"), parts), head
    down = tmp_path / "down.bin"
    s3_default.download_file(bucket, "big.bin", str(down), Config=five)
    assert down.read_bytes() == data


@over_schemes
@pytest.mark.parametrize("algorithm", list(DIGESTS))
def test_checksum_header_wrong_answers_bad_digest(
    wire: Wire, upstream_s3: Any, bucket: str, algorithm: str
) -> None:
    """An x-amz-checksum-<algorithm> header that is some other body's checksum gets 400
    BadDigest (UNSIGNED-PAYLOAD, so the checksum is the only check); nothing is stored."""
    signed = simple_put(
        wire,
        key_path(bucket, "k"),
        b"the real body",
        payload=UNSIGNED_PAYLOAD,
        headers=[
            (f"x-amz-checksum-{algorithm}", checksum_b64(algorithm, b"another body")),
            ("x-amz-sdk-checksum-algorithm", BOTO3_NAMES[algorithm]),
        ],
    )
    expect_error(wire.send(signed), 400, "BadDigest")
    wire.assert_serving()
    assert_not_stored(upstream_s3, bucket, "k")


@pytest.mark.parametrize("scheme", ["https"], indirect=True)
def test_trailer_checksum_wrong_transfer_chunked_over_https_answers_bad_digest(
    wire: Wire, upstream_s3: Any, bucket: str
) -> None:
    """What boto3 sends over HTTPS (STREAMING-UNSIGNED-PAYLOAD-TRAILER, HTTP-chunked, no
    Content-Length), with a CRC32 trailer that doesn't match the data: 400 BadDigest, and
    nothing stored although 128 KiB of valid chunks came first."""
    data = os.urandom(150 * 1024)
    upload = chunked_put(
        wire,
        key_path(bucket, "k"),
        data,
        STREAMING_UNSIGNED_TRAILER,
        checksum=crc32_b64(b"other data"),
        transfer_chunked=True,
    )
    expect_error(wire.send(upload.signed, upload.body), 400, "BadDigest")
    wire.assert_serving()
    assert_not_stored(upstream_s3, bucket, "k")


class ChecksumNotStored(Exception):
    """The upstream stored the object but not its trailer checksum."""


@over_schemes
@pytest.mark.xfail(
    strict=True,
    raises=ChecksumNotStored,
    reason="moto ignores aws-chunked trailers (shared/MOTO.md); BillFlow's framing is covered by "
    "tests/proxy/test_s3app.py",
)
def test_trailer_checksum_without_sdk_algorithm_header_stored_upstream(
    wire: Wire, upstream_s3: Any, bucket: str
) -> None:
    """A trailer-mode upload naming its checksum only in x-amz-trailer (no
    x-amz-sdk-checksum-algorithm header, which is optional) is stored with that checksum.

    moto reads a forwarded trailer only when x-amz-sdk-checksum-algorithm is present, so only the
    last assertion is expected to fail (ChecksumNotStored); any other failure is a real one."""
    data = os.urandom(150 * 1024)
    upload = chunked_put(
        wire, key_path(bucket, "k"), data, STREAMING_UNSIGNED_TRAILER, transfer_chunked=True
    )
    reply = wire.send(upload.signed, upload.body)
    assert reply.status == 200, reply.describe()
    stored = upstream_s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert stored["Body"].read() == data
    if stored.get("ChecksumCRC32") != crc32_b64(data):
        raise ChecksumNotStored(f"upstream checksum {stored.get('ChecksumCRC32')!r}")
