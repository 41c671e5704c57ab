"""proxy/checksums.py: algorithms against published vectors and botocore, values, header rules."""

from __future__ import annotations

import base64
import random

import pytest
from botocore.httpchecksum import _CHECKSUM_CLS  # botocore's own implementations: the oracle

from proxy.checksums import (
    ALGORITHMS,
    DIGEST_SIZES,
    ChecksumHeaders,
    decode_checksum_value,
    encode_checksum_value,
    new_checksum,
    parse_checksum_headers,
)
from proxy.s3errors import S3Error, S3ErrorCode

RNG = random.Random(20130524)
INPUTS = [b"", b"a", b"123456789", bytes(range(256)) * 3, RNG.randbytes(1 << 20)]


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def digest(algorithm: str, data: bytes) -> bytes:
    checksum = new_checksum(algorithm)
    checksum.update(data)
    return checksum.digest()


@pytest.mark.parametrize(
    ("algorithm", "hex_digest"),
    [
        # The "check" values of the CRC catalogue for b"123456789" (CRC-32/ISO-HDLC,
        # CRC-32/ISCSI, CRC-64/NVME) and the FIPS 180 digests.
        ("crc32", "cbf43926"),
        ("crc32c", "e3069283"),
        ("crc64nvme", "ae8b14860a799888"),
        ("sha1", "f7c3bc1d808e04732adf679965ccc34ca7ae3441"),
        ("sha256", "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"),
    ],
)
def test_new_checksum_check_vector_matches(algorithm: str, hex_digest: str) -> None:
    assert digest(algorithm, b"123456789").hex() == hex_digest


@pytest.mark.parametrize("data", INPUTS, ids=lambda d: f"{len(d)}B")
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_new_checksum_any_input_matches_botocore(algorithm: str, data: bytes) -> None:
    """What botocore (the client S3 users run) would put in x-amz-checksum-<algorithm>."""
    expected = _CHECKSUM_CLS[algorithm]().handle(data)
    assert encode_checksum_value(digest(algorithm, data)) == expected
    assert len(digest(algorithm, data)) == DIGEST_SIZES[algorithm]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_new_checksum_split_memoryview_updates_equal_whole(algorithm: str) -> None:
    data = INPUTS[-1]
    checksum = new_checksum(algorithm)
    view, pos = memoryview(data), 0
    while pos < len(data):
        step = RNG.randrange(1, 70_000)
        checksum.update(view[pos : pos + step])
        pos += step
    assert checksum.digest() == digest(algorithm, data)


def test_new_checksum_unknown_algorithm_raises() -> None:
    with pytest.raises(ValueError, match="md5"):
        new_checksum("md5")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_decode_checksum_value_valid_returns_raw(algorithm: str) -> None:
    raw = digest(algorithm, b"hello")
    assert decode_checksum_value(algorithm, b64(raw)) == raw
    assert decode_checksum_value(algorithm, f" {b64(raw)} ") == raw


@pytest.mark.parametrize(
    ("algorithm", "value"),
    [
        ("crc32", "bad"),  # Swift's S3 record: 'x-amz-checksum-crc32: bad'
        ("crc32", "not=base-64"),
        ("crc32", ""),
        ("crc32", "AAAAAAAA"),  # 6 bytes
        ("crc32", "AAAAAA"),  # missing padding
        ("crc32", "AA AAAA=="),
        ("crc32", "ÄAAAAA=="),
        ("crc64nvme", "AAAAAA=="),  # a CRC32-sized value
        ("sha1", b64(bytes(32))),
        ("sha256", b64(bytes(20))),
    ],
)
@pytest.mark.parametrize("trailing", [False, True])
def test_decode_checksum_value_malformed_raises_invalid_request(
    algorithm: str, value: str, trailing: bool
) -> None:
    with pytest.raises(S3Error) as info:
        decode_checksum_value(algorithm, value, trailing=trailing)
    where = "trailing header" if trailing else "header"
    assert info.value.code is S3ErrorCode.InvalidRequest
    assert info.value.message == f"Value for x-amz-checksum-{algorithm} {where} is invalid."


CRC = b64(digest("crc32", b"body"))
MD5 = "1B2M2Y8AsgTpgAmY7PhCfg=="  # MD5 of b""
TRAILER_CRC32C = ChecksumHeaders(algorithm="crc32c", trailer=True)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, ChecksumHeaders()),
        ({"content-md5": MD5}, ChecksumHeaders(md5=base64.b64decode(MD5))),
        (
            {"x-amz-checksum-crc32": CRC, "x-amz-sdk-checksum-algorithm": "CRC32"},
            ChecksumHeaders(algorithm="crc32", value=CRC, raw=base64.b64decode(CRC)),
        ),
        (
            {"X-Amz-Checksum-CRC32": CRC},  # a case-insensitive mapping's own spelling
            ChecksumHeaders(algorithm="crc32", value=CRC, raw=base64.b64decode(CRC)),
        ),
        (
            {"x-amz-checksum-crc32": CRC, "x-amz-checksum-type": "COMPOSITE"},  # tolerated
            ChecksumHeaders(algorithm="crc32", value=CRC, raw=base64.b64decode(CRC)),
        ),
        ({"x-amz-trailer": "x-amz-checksum-crc32c"}, TRAILER_CRC32C),
        # Swift's S3 record: S3 splits x-amz-trailer like Java, dropping trailing empty items.
        ({"x-amz-trailer": "x-amz-checksum-crc32c,"}, TRAILER_CRC32C),
        ({"x-amz-trailer": "x-amz-checksum-crc32c,,"}, TRAILER_CRC32C),
        ({"x-amz-trailer": "x-amz-checksum-crc32c, "}, TRAILER_CRC32C),
        ({"x-amz-trailer": " X-Amz-Checksum-CRC32C "}, TRAILER_CRC32C),
        (
            {"x-amz-trailer": "x-amz-checksum-crc32c", "x-amz-sdk-checksum-algorithm": "crc32c"},
            TRAILER_CRC32C,
        ),
        ({"x-amz-trailer": ""}, ChecksumHeaders()),
    ],
)
def test_parse_checksum_headers_accepted_returns_promise(
    headers: dict[str, str], expected: ChecksumHeaders
) -> None:
    assert parse_checksum_headers(headers) == expected


TRAILER_UNSUPPORTED = "The value specified in the x-amz-trailer header is not supported"
MULTIPLE = "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."


@pytest.mark.parametrize(
    ("headers", "code", "message"),
    [
        # Each row is an answer Swift's test/s3api/test_input_errors.py records from AWS.
        ({"content-md5": "invalid"}, "InvalidDigest", "The Content-MD5 you specified was invalid."),
        ({"content-md5": b64(bytes(15))}, "InvalidDigest", None),
        (
            {"x-amz-checksum-bad": CRC},
            "InvalidRequest",
            "The algorithm type you specified in x-amz-checksum- header is invalid.",
        ),
        ({"x-amz-checksum-crc32": CRC, "x-amz-checksum-crc32c": CRC}, "InvalidRequest", MULTIPLE),
        (
            {
                "x-amz-checksum-crc32": CRC,
                "x-amz-checksum-crc32c": CRC,
                "x-amz-sdk-checksum-algorithm": "sha256",  # repeats trump the mismatch
            },
            "InvalidRequest",
            MULTIPLE,
        ),
        (
            {"x-amz-trailer": "x-amz-checksum-crc32, x-amz-checksum-crc32"},
            "InvalidRequest",
            MULTIPLE,
        ),
        (
            {"x-amz-checksum-crc32": CRC, "x-amz-trailer": "x-amz-checksum-crc32c"},
            "InvalidRequest",
            "Expecting a single x-amz-checksum- header",
        ),
        (
            {
                "x-amz-checksum-crc32": CRC,
                "x-amz-checksum-sha256": CRC,
                "x-amz-trailer": "x-amz-checksum-crc32",
            },
            "InvalidRequest",
            MULTIPLE,
        ),
        ({"x-amz-trailer": ", x-amz-checksum-crc32, ,"}, "InvalidRequest", TRAILER_UNSUPPORTED),
        ({"x-amz-trailer": ", x-amz-checksum-crc32"}, "InvalidRequest", TRAILER_UNSUPPORTED),
        ({"x-amz-trailer": "x-amz-checksum-crc32, ,"}, "InvalidRequest", TRAILER_UNSUPPORTED),
        ({"x-amz-trailer": "x-amz-checksum-bad"}, "InvalidRequest", TRAILER_UNSUPPORTED),
        ({"x-amz-trailer": "x-amz-content-sha256"}, "InvalidRequest", TRAILER_UNSUPPORTED),
        ({"x-amz-trailer": "content-md5"}, "InvalidRequest", TRAILER_UNSUPPORTED),
        (
            {"x-amz-trailer": "x-amz-checksum-crc32, x-amz-foo"},
            "InvalidRequest",
            TRAILER_UNSUPPORTED,
        ),
        (
            {"x-amz-sdk-checksum-algorithm": "CRC32"},
            "InvalidRequest",
            "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or "
            "x-amz-trailer headers were found.",
        ),
        (
            {"x-amz-sdk-checksum-algorithm": "CRC32C", "x-amz-checksum-crc32": CRC},
            "InvalidRequest",
            "Value for x-amz-sdk-checksum-algorithm header is invalid.",
        ),
        (
            {"x-amz-checksum-crc32": "bad"},
            "InvalidRequest",
            "Value for x-amz-checksum-crc32 header is invalid.",
        ),
        (
            {"x-amz-checksum-sha512": CRC},  # in S3's newer enum, not verifiable here
            "InvalidRequest",
            "The algorithm type you specified in x-amz-checksum- header is invalid.",
        ),
    ],
)
def test_parse_checksum_headers_refused_raises_s3_answer(
    headers: dict[str, str], code: str, message: str | None
) -> None:
    with pytest.raises(S3Error) as info:
        parse_checksum_headers(headers)
    assert info.value.code.name == code
    if message is not None:
        assert info.value.message == message


def test_parse_checksum_headers_invalid_md5_echoes_value() -> None:
    """AWS adds <Content-MD5> with the value it refused."""
    with pytest.raises(S3Error) as info:
        parse_checksum_headers({"content-md5": "invalid"})
    assert info.value.extra == {"Content-MD5": "invalid"}
