"""proxy/payload.py: every decoder fed whole, a byte at a time and at random split points.

Expected answers are S3's as OpenStack Swift's test/s3api/test_input_errors.py records them
against AWS ("Swift's S3 record"), the AWS sigv4-streaming example, and botocore's
AwsChunkedWrapper as the oracle for the unsigned-trailer framing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import random
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.httpchecksum import _CHECKSUM_CLS, AwsChunkedWrapper

from proxy.checksums import ALGORITHMS
from proxy.payload import (
    EMPTY_SHA256,
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
    UNSIGNED_PAYLOAD,
    BodyDecoder,
    make_decoder,
)
from proxy.s3errors import S3Error, S3ErrorCode

MALFORMED_TRAILER = S3ErrorCode.MalformedTrailerError
INVALID_CHUNK_SIZE = S3ErrorCode.InvalidChunkSizeError
TERMINATED = "The request body terminated unexpectedly"
SPLITS = ["whole", "bytewise", "random"]
UT, ST = STREAMING_UNSIGNED_TRAILER, STREAMING_SIGNED_TRAILER

# The AWS example (sigv4-streaming, "Example: PUT Object"): 65 KiB of 'a' in 64 KiB + 1 KiB.
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AMZ_DATE, SCOPE = "20130524T000000Z", "20130524/us-east-1/s3/aws4_request"
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
AWS_BODY = (
    b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n"
    + b"a" * 65536
    + b"\r\n"
    + b"400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n"
    + b"a" * 1024
    + b"\r\n"
    + b"0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n"
    + b"\r\n"
)
TEST = random.Random(7).randbytes(32)  # Swift's TEST_BODY is 32 random bytes


class Chain:
    """A tiny ChunkSignatureChain: AWS "Transferring Payload in Multiple Chunks" and "Including
    Trailing Headers" (AWS4-HMAC-SHA256-PAYLOAD / -TRAILER strings to sign)."""

    def __init__(self, seed: str = SEED) -> None:
        key = ("AWS4" + SECRET).encode()
        for part in SCOPE.split("/"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        self._key, self.previous = key, seed

    def _sign(self, algorithm: str, *hashes: str) -> str:
        to_sign = "\n".join([algorithm, AMZ_DATE, SCOPE, self.previous, *hashes])
        return hmac.new(self._key, to_sign.encode(), hashlib.sha256).hexdigest()

    def sign_chunk(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        self.previous = self._sign("AWS4-HMAC-SHA256-PAYLOAD", EMPTY_SHA256, sha)
        return self.previous

    def sign_trailer(self, canonical: bytes) -> str:
        sha = hashlib.sha256(canonical).hexdigest()
        self.previous = self._sign("AWS4-HMAC-SHA256-TRAILER", sha)
        return self.previous

    def verify_chunk(self, chunk_sha256_hex: str, signature: str) -> None:
        expected = self._sign("AWS4-HMAC-SHA256-PAYLOAD", EMPTY_SHA256, chunk_sha256_hex)
        self._check(expected, signature)

    def verify_trailer(self, canonical_trailer: bytes, signature: str) -> None:
        sha = hashlib.sha256(canonical_trailer).hexdigest()
        self._check(self._sign("AWS4-HMAC-SHA256-TRAILER", sha), signature)

    def _check(self, expected: str, signature: str) -> None:
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise S3Error(S3ErrorCode.SignatureDoesNotMatch)
        self.previous = expected


def b64digest(algorithm: str, data: bytes) -> str:
    return str(_CHECKSUM_CLS[algorithm]().handle(data))


def unsigned(chunks: list[bytes], tail: bytes = b"\r\n") -> bytes:
    """Unsigned aws-chunked framing; `tail` follows "0\\r\\n" (trailer lines, then CRLF)."""
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n" + tail


def frames(chunks: list[bytes], fmt: bytes = b"%x;chunk-signature=%s\r\n") -> list[bytes]:
    """Signed aws-chunked frames, the zero chunk's "0;chunk-signature=..\r\n\r\n" last."""
    signer = Chain()
    return [fmt % (len(c), signer.sign_chunk(c).encode()) + c + b"\r\n" for c in [*chunks, b""]]


def signed(chunks: list[bytes], trailers: list[bytes] | None = None, fmt: bytes = b"") -> bytes:
    """Signed aws-chunked body; `trailers` switches to the -TRAILER layout."""
    if trailers is None:
        return b"".join(frames(chunks, fmt or b"%x;chunk-signature=%s\r\n"))
    signer, head = Chain(), b"%x;chunk-signature=%s\r\n"
    body = b"".join(head % (len(c), signer.sign_chunk(c).encode()) + c + b"\r\n" for c in chunks)
    body += head % (0, signer.sign_chunk(b"").encode())  # no data CRLF before the trailer
    canonical = b"".join(line.replace(b" ", b"") + b"\n" for line in trailers) or b"\n"
    body += b"".join(line + b"\r\n" for line in trailers)
    return body + b"x-amz-trailer-signature:%s\r\n\r\n" % signer.sign_trailer(canonical).encode()


def pieces(body: bytes, split: str) -> list[bytes]:
    if split == "whole":
        return [body]
    if split == "bytewise":
        return [body[i : i + 1] for i in range(len(body))]
    rng, out, pos = random.Random(len(body)), [], 0
    while pos < len(body):
        step = rng.choice([1, 2, 3, rng.randrange(1, 20_000)])
        out.append(body[pos : pos + step])
        pos += step
    return out


@dataclass
class Case:
    payload_hash: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    def decoder(self) -> BodyDecoder:
        signed_mode = self.payload_hash in (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER)
        chain = Chain() if signed_mode else None
        return make_decoder(self.payload_hash, self.headers, chain, **self.options)


def decode(case: Case, split: str) -> tuple[bytes, BodyDecoder]:
    decoder, out = case.decoder(), bytearray()
    for piece in pieces(case.body, split):
        out += decoder.feed(piece)
    before_finish = len(out)
    out += decoder.finish()
    assert before_finish <= max(len(out) - 1, 0), "the last byte must wait for finish()"
    return bytes(out), decoder


def chunked(length: int, trailer: str | None = None, **extra: str) -> dict[str, str]:
    headers = {"x-amz-decoded-content-length": str(length), **extra}
    if trailer is not None:
        headers["x-amz-trailer"] = f"x-amz-checksum-{trailer}"
    return headers


A = b"a" * 9000
CRC_TEST = b64digest("crc32", TEST)
CRC_LINE = b"x-amz-checksum-crc32: " + CRC_TEST.encode()
CRC_A_LINE = b"x-amz-checksum-crc32:" + b64digest("crc32", A + TEST).encode()
VALID: dict[str, tuple[Case, bytes]] = {
    "unsigned": (Case(UNSIGNED_PAYLOAD, b"hello"), b"hello"),
    "unsigned-empty": (Case(UNSIGNED_PAYLOAD, b""), b""),
    "sha256": (Case(hashlib.sha256(TEST).hexdigest(), TEST), TEST),
    "sha256-upper": (Case(hashlib.sha256(TEST).hexdigest().upper(), TEST), TEST),
    "sha256-empty": (Case(EMPTY_SHA256, b""), b""),
    "sha256-md5-crc": (
        Case(
            hashlib.sha256(TEST).hexdigest(),
            TEST,
            {"content-md5": base64.b64encode(hashlib.md5(TEST).digest()).decode()}
            | {"x-amz-checksum-crc32": CRC_TEST, "x-amz-sdk-checksum-algorithm": "CRC32"},
        ),
        TEST,
    ),
    "trailer-none": (Case(STREAMING_UNSIGNED_TRAILER, unsigned([TEST]), chunked(32)), TEST),
    "trailer-crc-header": (
        Case(
            STREAMING_UNSIGNED_TRAILER,
            unsigned([TEST]),
            chunked(32, **{"x-amz-checksum-crc32": CRC_TEST}),
        ),
        TEST,
    ),
    "trailer-crc": (
        Case(
            STREAMING_UNSIGNED_TRAILER,
            unsigned([TEST], CRC_LINE + b"\r\n\r\n"),
            chunked(32, "crc32"),
        ),
        TEST,
    ),
    "trailer-empty": (
        Case(
            STREAMING_UNSIGNED_TRAILER,
            b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n",
            chunked(0, "crc32"),
        ),
        b"",
    ),
    # S3 accepts these unsigned-trailer variants (Swift's S3 record).
    "trailer-no-final-crlf": (
        Case(STREAMING_UNSIGNED_TRAILER, unsigned([TEST], b""), chunked(32)),
        TEST,
    ),
    "trailer-line-no-final-crlf": (
        Case(
            STREAMING_UNSIGNED_TRAILER, unsigned([TEST], CRC_LINE + b"\r\n"), chunked(32, "crc32")
        ),
        TEST,
    ),
    "trailer-extra-blank-lines": (
        Case(
            STREAMING_UNSIGNED_TRAILER,
            unsigned([TEST], CRC_LINE + b"\r\n\r\n\r\n\r\n"),
            chunked(32, "crc32"),
        ),
        TEST,
    ),
    "trailer-bad-then-good": (
        Case(
            STREAMING_UNSIGNED_TRAILER,
            unsigned([TEST], b"x-amz-checksum-crc32: AAAAAA==\r\n" + CRC_LINE + b"\r\n\r\n"),
            chunked(32, "crc32"),
        ),
        TEST,
    ),
    "aws-example": (Case(STREAMING_SIGNED, AWS_BODY, chunked(66560)), b"a" * 66560),
    "signed-empty": (Case(STREAMING_SIGNED, signed([]), chunked(0)), b""),
    "signed-ragged": (
        Case(STREAMING_SIGNED, signed([b"x" * 15360, b"y" * 8192, b"z" * 16384]), chunked(39936)),
        b"x" * 15360 + b"y" * 8192 + b"z" * 16384,
    ),
    "signed-spaced": (
        Case(
            STREAMING_SIGNED,
            signed([A, TEST], fmt=b"%x ; chunk-signature = %s \r\n"),
            chunked(9032),
        ),
        A + TEST,
    ),
    "signed-sha256-header": (
        Case(
            STREAMING_SIGNED,
            signed([A]),
            chunked(9000, **{"x-amz-checksum-sha256": b64digest("sha256", A)}),
        ),
        A,
    ),
    "signed-trailer": (
        Case(ST, signed([A, TEST], [CRC_A_LINE]), chunked(9032, "crc32")),
        A + TEST,
    ),
    "signed-trailer-none": (Case(STREAMING_SIGNED_TRAILER, signed([TEST], []), chunked(32)), TEST),
    "presigned-unsigned": (Case(UNSIGNED_PAYLOAD, TEST, options={"chunked": False}), TEST),
}


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("name", VALID)
def test_decoder_valid_body_any_split_decodes_original(name: str, split: str) -> None:
    case, expected = VALID[name]
    assert decode(case, split)[0] == expected


@pytest.mark.parametrize("name", VALID)
def test_decoder_whole_body_in_one_feed_holds_back_tail(name: str) -> None:
    case, expected = VALID[name]
    decoder = case.decoder()
    released = decoder.feed(case.body)
    assert len(released) <= max(len(expected) - 1, 0)
    assert released + decoder.finish() == expected
    assert decoder.decoded_length == len(expected)


@pytest.mark.parametrize("split", ["whole", "random"])
@pytest.mark.parametrize("size", [0, 1, 8191, 1 << 20, (1 << 20) + 3])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_decoder_botocore_trailer_body_decodes_and_reports_checksum(
    algorithm: str, size: int, split: str
) -> None:
    """botocore's AwsChunkedWrapper (1 MiB chunks, then "0", "<name>:<b64>", "") round-trips."""
    data = random.Random(size).randbytes(size)
    name = f"x-amz-checksum-{algorithm}"
    wire = AwsChunkedWrapper(io.BytesIO(data), _CHECKSUM_CLS[algorithm], name).read()
    case = Case(STREAMING_UNSIGNED_TRAILER, wire, chunked(size, algorithm))
    output, decoder = decode(case, split)
    assert output == data
    assert decoder.checksums == {algorithm: b64digest(algorithm, data)}
    assert decoder.expected_length == size


def test_decoder_header_checksum_verified_reports_it() -> None:
    _, decoder = decode(VALID["sha256-md5-crc"][0], "whole")
    assert decoder.checksums == {"crc32": CRC_TEST}
    assert decoder.expected_length is None


def tamper(body: bytes, old: bytes, new: bytes, count: int = 1) -> bytes:
    assert body.count(old) >= count
    return body.replace(old, new, count)


CHUNKS = [b"1" * 9000, b"2" * 9000, b"3" * 100]
FRAMES = frames(CHUNKS)
GOOD = b"".join(FRAMES)
SIG_FAILURES: dict[str, tuple[bytes, int]] = {  # body, bytes of chunk data that may be released
    "tampered-chunk-2": (tamper(GOOD, b"2" * 10, b"2" * 9 + b"X"), 9000),
    "tampered-signature-1": (tamper(GOOD, b"chunk-signature=", b"chunk-signature=0"), 0),
    "swapped-chunks": (FRAMES[1] + FRAMES[0] + b"".join(FRAMES[2:]), 0),
    "dropped-chunk-1": (b"".join(FRAMES[1:]), 0),
    "tampered-final-signature": (GOOD[:-68] + b"0" * 64 + b"\r\n\r\n", 18100),
}


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("name", SIG_FAILURES)
def test_signed_stream_bad_chunk_raises_before_its_bytes_leave(name: str, split: str) -> None:
    body, allowed = SIG_FAILURES[name]
    decoder = Case(STREAMING_SIGNED, body, chunked(18100)).decoder()
    released = bytearray()
    with pytest.raises(S3Error) as info:
        for piece in pieces(body, split):
            released += decoder.feed(piece)
        decoder.finish()
    assert info.value.code is S3ErrorCode.SignatureDoesNotMatch
    assert len(released) < min(allowed + 1, 18100)
    assert bytes(released) == b"".join(CHUNKS)[: len(released)]


def test_signed_stream_chunk_over_limit_raises_entity_too_large() -> None:
    case = Case(STREAMING_SIGNED, signed([A]), chunked(9000), {"max_chunk_size": 8999})
    with pytest.raises(S3Error) as info:
        decode(case, "whole")
    assert info.value.code is S3ErrorCode.EntityTooLarge
    assert info.value.extra == {"ProposedSize": "9000", "MaxSizeAllowed": "8999"}


SMALL = [b"x" * 1024, b"y" * 4096, b"z" * 3072]
SMALL_SIZE = {"Chunk": "2", "BadChunkSize": "1024"}
LENGTH_4 = {"NumberBytesExpected": "32", "NumberBytesProvided": "4"}
LENGTH_64 = {"NumberBytesExpected": "32", "NumberBytesProvided": "64"}
BAD: dict[str, tuple[Case, S3ErrorCode, str | None, dict[str, str] | None]] = {
    # Unsigned trailer framing (each row mirrors an answer in Swift's S3 record).
    "not-encoded": (Case(UT, TEST, chunked(32)), S3ErrorCode.IncompleteBody, TERMINATED, None),
    "bare-lf": (
        Case(UT, b"20\n" + TEST + b"\n0\n\n", chunked(32)),
        S3ErrorCode.IncompleteBody,
        TERMINATED,
        None,
    ),
    "bare-cr": (
        Case(UT, b"20\r" + TEST + b"\r0\r\r", chunked(32)),
        S3ErrorCode.IncompleteBody,
        TERMINATED,
        None,
    ),
    "no-final-lf": (
        Case(UT, unsigned([TEST], b"\r"), chunked(32)),
        S3ErrorCode.IncompleteBody,
        TERMINATED,
        None,
    ),
    "no-zero-chunk": (
        Case(UT, b"20\r\n" + TEST + b"\r\n", chunked(32)),
        S3ErrorCode.IncompleteBody,
        TERMINATED,
        None,
    ),
    "no-data-crlf": (
        Case(UT, b"20\r\n" + TEST + b"0\r\n", chunked(32)),
        S3ErrorCode.IncompleteBody,
        TERMINATED,
        None,
    ),
    "zero-chunk-mid-stream": (
        Case(UT, unsigned([TEST[:4]]) + unsigned([TEST[4:]]), chunked(32)),
        S3ErrorCode.IncompleteBody,
        None,
        LENGTH_4,
    ),
    "too-many-bytes": (
        Case(UT, unsigned([TEST * 2]), chunked(32)),
        S3ErrorCode.IncompleteBody,
        None,
        LENGTH_64,
    ),
    "non-hex-size": (
        Case(UT, b"zz\r\n" + TEST, chunked(32)),
        S3ErrorCode.IncompleteBody,
        TERMINATED,
        None,
    ),
    "negative-size": (
        Case(UT, b"-20\r\n" + TEST, chunked(32)),
        S3ErrorCode.IncompleteBody,
        TERMINATED,
        None,
    ),
    "0x-size": (
        Case(UT, b"0x20\r\n" + TEST, chunked(32)),
        S3ErrorCode.IncompleteBody,
        TERMINATED,
        None,
    ),
    "huge-size": (
        Case(UT, b"1" * 17 + b"\r\n", chunked(32)),
        S3ErrorCode.IncompleteBody,
        TERMINATED,
        None,
    ),
    "extension-unsigned": (
        Case(UT, b"20;a=b\r\n" + TEST, chunked(32)),
        S3ErrorCode.IncompleteBody,
        TERMINATED,
        None,
    ),
    "endless-line": (
        Case(UT, b"2" * 5000, chunked(32)),
        S3ErrorCode.IncompleteBody,
        TERMINATED,
        None,
    ),
    "empty-stream": (Case(UT, b"", chunked(0)), S3ErrorCode.IncompleteBody, TERMINATED, None),
    "too-small-chunks": (
        Case(UT, unsigned(SMALL), chunked(8192)),
        INVALID_CHUNK_SIZE,
        None,
        SMALL_SIZE,
    ),
    "trailer-declared-not-sent": (
        Case(UT, unsigned([TEST]), chunked(32, "crc32")),
        MALFORMED_TRAILER,
        None,
        None,
    ),
    "trailer-after-blank-line": (
        Case(UT, unsigned([TEST], b"\r\n" + CRC_LINE + b"\r\n"), chunked(32, "crc32")),
        MALFORMED_TRAILER,
        None,
        None,
    ),
    "trailer-other-algorithm": (
        Case(UT, unsigned([TEST], CRC_LINE + b"\r\n"), chunked(32, "crc32c")),
        MALFORMED_TRAILER,
        None,
        None,
    ),
    "trailer-extra": (
        Case(UT, unsigned([TEST], CRC_LINE + b"\r\nbonus: trailer\r\n"), chunked(32, "crc32")),
        MALFORMED_TRAILER,
        None,
        None,
    ),
    "trailer-undeclared": (
        Case(UT, unsigned([TEST], CRC_LINE + b"\r\n\r\n"), chunked(32)),
        MALFORMED_TRAILER,
        None,
        None,
    ),
    "trailer-no-colon": (
        Case(UT, unsigned([TEST], b"x-amz-checksum-crc32\r\n\r\n"), chunked(32, "crc32")),
        MALFORMED_TRAILER,
        None,
        None,
    ),
    "trailer-no-cr": (
        Case(UT, unsigned([TEST], CRC_LINE + b"\n"), chunked(32, "crc32")),
        S3ErrorCode.IncompleteBody,
        TERMINATED,
        None,
    ),
    "trailer-no-crlf": (
        Case(UT, unsigned([TEST], CRC_LINE), chunked(32, "crc32")),
        S3ErrorCode.IncompleteBody,
        TERMINATED,
        None,
    ),
    "trailer-mismatch": (
        Case(UT, unsigned([TEST], b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n"), chunked(32, "crc32")),
        S3ErrorCode.BadDigest,
        "The CRC32 you specified did not match the calculated checksum.",
        None,
    ),
    "trailer-good-then-bad": (
        Case(
            UT,
            unsigned([TEST], CRC_LINE + b"\r\nx-amz-checksum-crc32:AAAAAA==\r\n"),
            chunked(32, "crc32"),
        ),
        S3ErrorCode.BadDigest,
        None,
        None,
    ),
    "trailer-invalid-value": (
        Case(UT, unsigned([TEST], b"x-amz-checksum-crc32: not=base-64\r\n"), chunked(32, "crc32")),
        S3ErrorCode.InvalidRequest,
        "Value for x-amz-checksum-crc32 trailing header is invalid.",
        None,
    ),
    "data-after-end": (
        Case(UT, unsigned([TEST]) + b"20\r\n" + TEST, chunked(32)),
        S3ErrorCode.InvalidRequest,
        "Data follows the end of the aws-chunked body.",
        None,
    ),
    "crc-header-mismatch": (
        Case(UT, unsigned([TEST]), chunked(32, **{"x-amz-checksum-crc32c": "AAAAAA=="})),
        S3ErrorCode.BadDigest,
        "The CRC32C you specified did not match the calculated checksum.",
        None,
    ),
    # Signed framing.
    "no-signatures": (
        Case(STREAMING_SIGNED, unsigned([TEST]), chunked(32)),
        S3ErrorCode.IncompleteBody,
        TERMINATED,
        None,
    ),
    "blank-signatures": (
        Case(STREAMING_SIGNED, b"20;chunk-signature=\r\n" + TEST, chunked(32)),
        S3ErrorCode.IncompleteBody,
        TERMINATED,
        None,
    ),
    "invalid-signatures": (
        Case(STREAMING_SIGNED, b"20;chunk-signature=invalid\r\n" + TEST + b"\r\n", chunked(32)),
        S3ErrorCode.SignatureDoesNotMatch,
        None,
        None,
    ),
    "extra-param-after": (
        Case(
            STREAMING_SIGNED,
            signed([TEST], fmt=b"%x;chunk-signature=%s;extra=param\r\n"),
            chunked(32),
        ),
        S3ErrorCode.IncompleteBody,
        TERMINATED,
        None,
    ),
    "missing-final-chunk": (
        Case(STREAMING_SIGNED, signed([TEST])[:-86], chunked(32)),
        S3ErrorCode.IncompleteBody,
        TERMINATED,
        None,
    ),
    "missing-final-crlf": (
        Case(STREAMING_SIGNED, signed([TEST])[:-2], chunked(32)),
        S3ErrorCode.IncompleteBody,
        TERMINATED,
        None,
    ),
    "line-after-final-chunk": (
        Case(STREAMING_SIGNED, signed([TEST])[:-2] + b"x\r\n\r\n", chunked(32)),
        S3ErrorCode.IncompleteBody,
        TERMINATED,
        None,
    ),
    "signed-too-small-chunks": (
        Case(STREAMING_SIGNED, signed(SMALL), chunked(8192)),
        INVALID_CHUNK_SIZE,
        None,
        SMALL_SIZE,
    ),
    "signed-too-many-bytes": (
        Case(STREAMING_SIGNED, signed([TEST * 2]), chunked(32)),
        S3ErrorCode.IncompleteBody,
        None,
        LENGTH_64,
    ),
    # Signed trailer.
    "missing-trailer-signature": (
        Case(ST, signed([TEST], [CRC_LINE])[:-92], chunked(32, "crc32")),
        S3ErrorCode.IncompleteBody,
        TERMINATED,
        None,
    ),
    "missing-trailer-signature-blank-line": (
        Case(ST, signed([TEST], [CRC_LINE])[:-92] + b"\r\n", chunked(32, "crc32")),
        S3ErrorCode.IncompleteBody,
        TERMINATED,
        None,
    ),
    "tampered-trailer": (
        Case(
            ST,
            tamper(signed([TEST], [CRC_LINE]), CRC_TEST.encode(), b"AAAAAA=="),
            chunked(32, "crc32"),
        ),
        S3ErrorCode.SignatureDoesNotMatch,
        None,
        None,
    ),
    "trailer-signature-no-final-crlf": (
        Case(ST, signed([TEST], [CRC_LINE])[:-2], chunked(32, "crc32")),
        S3ErrorCode.IncompleteBody,
        TERMINATED,
        None,
    ),
    "trailer-signature-not-ascii": (
        Case(ST, signed([], [])[:-92] + b"x-amz-trailer-signature:\xff\r\n\r\n", chunked(0)),
        S3ErrorCode.IncompleteBody,
        TERMINATED,
        None,
    ),
    "endless-trailer-repeats": (
        Case(ST, signed([TEST], [CRC_LINE] * 200), chunked(32, "crc32")),
        MALFORMED_TRAILER,
        None,
        None,
    ),
    "line-after-trailer-signature": (
        Case(ST, signed([TEST], [CRC_LINE])[:-2] + CRC_LINE + b"\r\n\r\n", chunked(32, "crc32")),
        MALFORMED_TRAILER,
        None,
        None,
    ),
    # Whole-body digests.
    "sha256-mismatch": (
        Case(EMPTY_SHA256.upper(), TEST),
        S3ErrorCode.XAmzContentSHA256Mismatch,
        None,
        {
            "ClientComputedContentSHA256": EMPTY_SHA256.upper(),
            "S3ComputedContentSHA256": hashlib.sha256(TEST).hexdigest(),
        },
    ),
    "sha256-mismatch-empty-body": (
        Case(hashlib.sha256(b"x").hexdigest(), b""),
        S3ErrorCode.XAmzContentSHA256Mismatch,
        None,
        {
            "ClientComputedContentSHA256": hashlib.sha256(b"x").hexdigest(),
            "S3ComputedContentSHA256": EMPTY_SHA256,
        },
    ),
    "sha256-trumps-crc": (
        Case(EMPTY_SHA256, TEST, {"x-amz-checksum-crc32": "AAAAAA=="}),
        S3ErrorCode.XAmzContentSHA256Mismatch,
        None,
        None,
    ),
    "md5-mismatch": (
        Case(UNSIGNED_PAYLOAD, TEST, {"content-md5": "1B2M2Y8AsgTpgAmY7PhCfg=="}),
        S3ErrorCode.BadDigest,
        "The Content-MD5 you specified did not match what we received.",
        {
            "ExpectedDigest": "d41d8cd98f00b204e9800998ecf8427e",
            "CalculatedDigest": base64.b64encode(hashlib.md5(TEST).digest()).decode(),
        },
    ),
    "sha1-header-mismatch": (
        Case(UNSIGNED_PAYLOAD, TEST, {"x-amz-checksum-sha1": b64digest("sha1", b"")}),
        S3ErrorCode.BadDigest,
        "The SHA1 you specified did not match the calculated checksum.",
        None,
    ),
    "presigned-streaming-is-a-claim": (
        Case(STREAMING_UNSIGNED_TRAILER, unsigned([TEST]), chunked(32), {"chunked": False}),
        S3ErrorCode.XAmzContentSHA256Mismatch,
        None,
        None,
    ),
}


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("name", BAD)
def test_decoder_bad_body_any_split_raises_s3_answer(name: str, split: str) -> None:
    case, code, message, extra = BAD[name]
    decoder, released = case.decoder(), 0
    with pytest.raises(S3Error) as info:
        for piece in pieces(case.body, split):
            released += len(decoder.feed(piece))
        decoder.finish()
    assert info.value.code is code
    if message is not None:
        assert info.value.message == message
    if extra is not None:
        assert info.value.extra == extra
    # The upstream request never receives its last byte, so it cannot become an object.
    assert released < (decoder.expected_length or len(case.body)) or released == 0
    with pytest.raises(S3Error) as again:
        decoder.finish()
    assert again.value is info.value


@pytest.mark.parametrize(
    ("payload_hash", "headers", "code"),
    [
        ("invalid", {}, S3ErrorCode.InvalidArgument),
        ("unsigned-payload", {}, S3ErrorCode.InvalidArgument),  # case matters (Swift's record)
        (EMPTY_SHA256[:-1], {}, S3ErrorCode.InvalidArgument),
        ("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", {}, S3ErrorCode.NotImplemented),
        (UT, {}, S3ErrorCode.MissingContentLength),
        (UT, {"x-amz-decoded-content-length": "not an int"}, S3ErrorCode.MissingContentLength),
        (UT, {"x-amz-decoded-content-length": "-1"}, S3ErrorCode.MissingContentLength),
        (UT, {"x-amz-decoded-content-length": "+1"}, S3ErrorCode.MissingContentLength),
        (UT, {"x-amz-decoded-content-length": "²"}, S3ErrorCode.MissingContentLength),
        (EMPTY_SHA256, {"x-amz-trailer": "x-amz-checksum-crc32"}, MALFORMED_TRAILER),
        (UNSIGNED_PAYLOAD, {"x-amz-trailer": "x-amz-checksum-crc32"}, MALFORMED_TRAILER),
        (STREAMING_SIGNED, chunked(1, "crc32"), MALFORMED_TRAILER),
        (UT, chunked(1, **{"x-amz-checksum-crc32": "bad"}), S3ErrorCode.InvalidRequest),
        (UNSIGNED_PAYLOAD, {"content-md5": "invalid"}, S3ErrorCode.InvalidDigest),
    ],
)
def test_make_decoder_refused_headers_raise_s3_answer(
    payload_hash: str, headers: dict[str, str], code: S3ErrorCode
) -> None:
    with pytest.raises(S3Error) as info:
        make_decoder(payload_hash, headers, Chain())
    assert info.value.code is code


def test_make_decoder_invalid_payload_hash_names_argument() -> None:
    with pytest.raises(S3Error) as info:
        make_decoder("INVALID", {})
    assert info.value.message.startswith("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, ")
    assert info.value.message.endswith(" or a valid sha256 value.")
    assert info.value.extra == {"ArgumentName": "x-amz-content-sha256", "ArgumentValue": "INVALID"}


@pytest.mark.parametrize("payload_hash", [STREAMING_SIGNED, STREAMING_SIGNED_TRAILER])
def test_make_decoder_signed_without_chain_raises(payload_hash: str) -> None:
    with pytest.raises(ValueError, match="ChunkSignatureChain"):
        make_decoder(payload_hash, chunked(0))


def test_decoder_min_chunk_size_zero_accepts_small_chunks() -> None:
    case = Case(UT, unsigned(SMALL), chunked(8192), {"min_chunk_size": 0})
    assert decode(case, "random")[0] == b"".join(SMALL)


def test_decoder_after_error_feed_raises_same_error() -> None:
    decoder = BAD["bare-lf"][0].decoder()
    with pytest.raises(S3Error) as info:
        decoder.feed(BAD["bare-lf"][0].body)
    with pytest.raises(S3Error) as again:
        decoder.feed(b"0\r\n\r\n")
    assert again.value is info.value


def test_identity_decoder_after_failed_finish_feed_raises_same_error() -> None:
    decoder = make_decoder(EMPTY_SHA256, {})
    decoder.feed(b"not empty")
    with pytest.raises(S3Error) as info:
        decoder.finish()
    with pytest.raises(S3Error) as again:
        decoder.feed(b"more")
    assert again.value is info.value


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("payload_hash", [UT, STREAMING_SIGNED, ST])
def test_decoder_random_chunk_layout_random_split_decodes_original(
    payload_hash: str, seed: int
) -> None:
    rng = random.Random(seed)
    sizes = [rng.randrange(8192, 40_000) for _ in range(rng.randrange(0, 5))]
    sizes.append(rng.randrange(1, 9000))  # only the last chunk may be under 8 KiB
    data = rng.randbytes(sum(sizes))
    chunks, pos = [], 0
    for size in sizes:
        chunks.append(data[pos : pos + size])
        pos += size
    line = b"x-amz-checksum-crc32c:" + b64digest("crc32c", data).encode()
    body = {
        UT: unsigned(chunks, line + b"\r\n\r\n"),
        STREAMING_SIGNED: signed(chunks),
        ST: signed(chunks, [line]),
    }[payload_hash]
    trailer = None if payload_hash == STREAMING_SIGNED else "crc32c"
    output, decoder = decode(Case(payload_hash, body, chunked(len(data), trailer)), "random")
    assert output == data
    assert decoder.checksums == ({} if trailer is None else {"crc32c": b64digest("crc32c", data)})


# -- digests deferred to a worker (bodies.DigestWorkers) -----------------------------------------


def _decode_deferred(case: Case, split: str, seed: int) -> tuple[bytes, BodyDecoder, bool]:
    """Decode with digests deferred, brought up to date in batches at random points (as a
    worker thread would, one batch at a time), the rest by finish()."""
    decoder, out, rng = case.decoder(), bytearray(), random.Random(seed)
    deferring = decoder.digests_deferrable
    if deferring:
        decoder.defer_digests()
    for piece in pieces(case.body, split):
        out += decoder.feed(piece)
        if rng.random() < 0.3:
            decoder.update_digests(decoder.take_deferred())
    out += decoder.finish()
    return bytes(out), decoder, deferring


@pytest.mark.parametrize("split", ["whole", "random"])
@pytest.mark.parametrize("name", VALID)
def test_deferred_digests_valid_body_decodes_the_same(name: str, split: str) -> None:
    case, expected = VALID[name]
    inline = decode(case, split)[1]
    out, decoder, _ = _decode_deferred(case, split, seed=len(name))
    assert out == expected
    assert decoder.checksums == inline.checksums
    assert decoder.deferred_bytes == 0


@pytest.mark.parametrize("name", BAD)
def test_deferred_digests_bad_body_raises_the_same_answer(name: str) -> None:
    case, code, message, _ = BAD[name]
    with pytest.raises(S3Error) as info:
        _decode_deferred(case, "random", seed=len(name))
    assert info.value.code is code
    if message is not None:
        assert info.value.message == message


def test_defer_digests_only_for_sha256_or_md5() -> None:
    md5 = base64.b64encode(hashlib.md5(TEST).digest()).decode()
    assert make_decoder(hashlib.sha256(TEST).hexdigest(), {}).digests_deferrable
    assert make_decoder(UNSIGNED_PAYLOAD, {"content-md5": md5}).digests_deferrable
    # CRC checksums only (zlib, awscrt) or nothing to digest: hashing stays inline.
    crc = {"x-amz-checksum-crc32": CRC_TEST}
    assert not make_decoder(UNSIGNED_PAYLOAD, crc).digests_deferrable
    assert not make_decoder(UNSIGNED_PAYLOAD, {}).digests_deferrable
    decoder = make_decoder(UNSIGNED_PAYLOAD, crc)
    with pytest.raises(AssertionError):
        decoder.defer_digests()
    decoder.feed(TEST)
    assert decoder.deferred_bytes == 0 and decoder.take_deferred() == []


def test_digests_not_deferred_keep_nothing_back() -> None:
    """A deferrable body whose caller did not defer (no worker slot) holds no bytes for later."""
    decoder = make_decoder(hashlib.sha256(TEST).hexdigest(), {})
    decoder.feed(TEST)
    assert decoder.deferred_bytes == 0 and decoder.take_deferred() == []


def test_empty_sha256_is_the_empty_bodys() -> None:
    assert EMPTY_SHA256 == hashlib.sha256(b"").hexdigest()
