"""Body checksums a request promises: `x-amz-checksum-*` headers and trailers, Content-MD5.

Owns: the algorithm names, an incremental `Checksum` per algorithm, parsing a received base64 value
into the raw digest it must equal, and S3's rules for the headers that announce checksums
(`parse_checksum_headers`). Does not own: computing or comparing them over a body, trailer framing
(proxy.payload does both), nor the SigV4 payload hash (x-amz-content-sha256).

A value is the big-endian digest, base64-encoded ("Checking object integrity in Amazon S3", S3 User
Guide): 4 bytes for CRC32 and CRC32C, 8 for CRC64NVME, 20 for SHA-1, 32 for SHA-256. botocore's
`botocore.httpchecksum` computes the same bytes; the tests use it as the oracle.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from awscrt import checksums as crt

from proxy.s3errors import S3Error, S3ErrorCode

# S3 also lists SHA512, MD5 and XXHASH64/3/128 in its ChecksumAlgorithm enum (botocore 1.44);
# requests naming them are refused by proxy.payload until they are added here.
ALGORITHMS: tuple[str, ...] = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")

DIGEST_SIZES: dict[str, int] = {"crc32": 4, "crc32c": 4, "crc64nvme": 8, "sha1": 20, "sha256": 32}


class Checksum(Protocol):
    def update(self, data: bytes | memoryview) -> None: ...

    def digest(self) -> bytes:
        """Raw big-endian bytes, as S3 base64-encodes them."""
        ...


class _Crc:
    """A running CRC: `fn(data, previous) -> int`, as zlib.crc32 and awscrt.checksums take it."""

    __slots__ = ("_fn", "_size", "_value")

    def __init__(self, fn: Callable[[bytes | memoryview, int], int], size: int) -> None:
        self._fn = fn
        self._size = size
        self._value = 0

    def update(self, data: bytes | memoryview) -> None:
        self._value = self._fn(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(self._size, "big")


# zlib's CRC32 runs ~4 GiB/s per core here, faster than awscrt's; CRC32C and CRC64NVME (the
# NVMe polynomial S3 uses) come from awscrt, hardware-accelerated at ~50 GiB/s (PERFORMANCE.md).
_CRCS: dict[str, tuple[Callable[[bytes | memoryview, int], int], int]] = {
    "crc32": (zlib.crc32, 4),
    "crc32c": (crt.crc32c, 4),
    "crc64nvme": (crt.crc64nvme, 8),
}


def new_checksum(algorithm: str) -> Checksum:
    """A fresh incremental checksum; `algorithm` is one of ALGORITHMS (lower case)."""
    if algorithm in _CRCS:
        fn, size = _CRCS[algorithm]
        return _Crc(fn, size)
    if algorithm in ("sha1", "sha256"):
        return hashlib.new(algorithm)
    raise ValueError(f"unsupported checksum algorithm: {algorithm!r}")


def decode_checksum_value(algorithm: str, value: str, *, trailing: bool = False) -> bytes:
    """Base64 `value` -> the raw digest; S3's InvalidRequest if it is not one of the right size.

    The messages are S3's, as OpenStack Swift's test_input_errors.py records them against AWS:
    "Value for x-amz-checksum-crc32 header is invalid." and, for a trailer, "... trailing header
    is invalid.". Strict base64 (no embedded whitespace, correct padding); surrounding blanks are
    ignored, as HTTP field parsing would drop them.
    """
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):  # ValueError: a non-ASCII str
        raw = b""
    if len(raw) != DIGEST_SIZES[algorithm]:
        where = "trailing header" if trailing else "header"
        raise S3Error(
            S3ErrorCode.InvalidRequest, f"Value for x-amz-checksum-{algorithm} {where} is invalid."
        )
    return raw


def encode_checksum_value(digest: bytes) -> str:
    """Raw digest -> the base64 text S3 sends and expects."""
    return base64.b64encode(digest).decode("ascii")


_SINGLE = "Expecting a single x-amz-checksum- header"
_NOT_CHECKSUMS = ("type", "algorithm", "mode")  # x-amz-checksum-type etc. carry no value


@dataclass(frozen=True, slots=True)
class ChecksumHeaders:
    """What a request's headers promise about its body: at most one flexible checksum."""

    md5: bytes | None = None  # Content-MD5, raw
    algorithm: str | None = None  # one of ALGORITHMS, announced in a header or x-amz-trailer
    value: str | None = None  # base64 text of a header checksum (None for a trailer)
    raw: bytes | None = None  # its digest
    trailer: bool = False  # the value arrives in the aws-chunked trailer


def parse_checksum_headers(headers: Mapping[str, str]) -> ChecksumHeaders:
    """Content-MD5, x-amz-checksum-*, x-amz-trailer and x-amz-sdk-checksum-algorithm.

    Raises S3's InvalidDigest / InvalidRequest in the order, and with the words, that OpenStack
    Swift's test/s3api/test_input_errors.py records from AWS ("Swift's S3 record").
    """
    md5 = _content_md5(headers.get("content-md5"))
    named: list[tuple[str, str]] = []  # (algorithm, header name as given)
    for name in headers:
        lower = name.lower()
        if lower.startswith("x-amz-checksum-") and lower[15:] not in _NOT_CHECKSUMS:
            if lower[15:] not in ALGORITHMS:
                raise _invalid(
                    "The algorithm type you specified in x-amz-checksum- header is invalid."
                )
            named.append((lower[15:], name))
    trailers = _trailer_names(headers.get("x-amz-trailer"))
    if len(named) > 1 or len(trailers) > 1:
        raise _invalid(_SINGLE + ". Multiple checksum Types are not allowed.")
    if named and trailers:
        raise _invalid(_SINGLE)  # one in each place: AWS drops the second sentence
    algorithm = named[0][0] if named else (trailers[0] if trailers else None)
    sdk = headers.get("x-amz-sdk-checksum-algorithm")
    if sdk is not None and algorithm is None:
        raise _invalid(
            "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or "
            "x-amz-trailer headers were found."
        )
    if sdk is not None and sdk.strip().lower() != algorithm:
        raise _invalid("Value for x-amz-sdk-checksum-algorithm header is invalid.")
    if not named:
        return ChecksumHeaders(md5=md5, algorithm=algorithm, trailer=bool(trailers))
    value = headers[named[0][1]].strip()
    raw = decode_checksum_value(named[0][0], value)
    return ChecksumHeaders(md5=md5, algorithm=algorithm, value=value, raw=raw)


def _invalid(message: str) -> S3Error:
    return S3Error(S3ErrorCode.InvalidRequest, message)


def _content_md5(value: str | None) -> bytes | None:
    if value is None:
        return None
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 16:  # RFC 1864: base64 of the 128-bit digest; AWS echoes the value back
        raise S3Error(
            S3ErrorCode.InvalidDigest,
            "The Content-MD5 you specified was invalid.",
            **{"Content-MD5": value},
        )
    return raw


def _trailer_names(value: str | None) -> list[str]:
    """x-amz-trailer -> algorithms. S3 splits like Java's String.split (trailing empty items
    dropped): "x-amz-checksum-crc32,," passes, ", x-amz-checksum-crc32" and "a, ," do not."""
    if value is None or not value.strip():
        return []
    items = value.strip().split(",")
    while items and not items[-1]:
        items.pop()
    algorithms = []
    for item in items:
        name = item.strip().lower()
        if not name.startswith("x-amz-checksum-") or name[15:] not in ALGORITHMS:
            raise _invalid("The value specified in the x-amz-trailer header is not supported")
        algorithms.append(name[15:])
    return algorithms
