"""Incremental request-body decoders: aws-chunked framing, chunk signatures, trailers, digests.

Owns: turning the bytes a client sends into the bytes the upstream stores, and every check S3 makes
on the way: x-amz-content-sha256, chunk and trailer signatures, x-amz-decoded-content-length,
x-amz-checksum-* headers and trailers, Content-MD5. A decoder never releases the last decoded byte
before `finish()` has verified everything, so when a check fails the gateway aborts an upstream
request that is short of its Content-Length and stores nothing. An empty body has nothing to hold
back: the caller must run `finish()` before sending such a request upstream (`expected_length`).
Does not own: the seed signature or chunk HMACs (proxy.sigv4, behind `ChunkSignatureChain`), I/O,
or which operations carry a body. Sans-I/O like httpx's `_decoders.py`: `feed()` then `finish()`.

Sources: AWS S3 API Reference "Signature Calculations for the Authorization Header: Transferring
Payload in Multiple Chunks" (sigv4-streaming) and "... Including Trailing Headers"
(sigv4-streaming-trailers); botocore's AwsChunkedWrapper (httpchecksum.py) for the unsigned
framing; where the pages are silent, S3's answers as OpenStack Swift's test/s3api/
test_input_errors.py records them against AWS ("Swift's S3 record" below).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Protocol

from proxy.checksums import (
    DIGEST_SIZES,
    ChecksumHeaders,
    decode_checksum_value,
    encode_checksum_value,
    new_checksum,
    parse_checksum_headers,
)
from proxy.payloadmodes import (
    EMPTY_SHA256,
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
    UNSIGNED_PAYLOAD,
)
from proxy.s3errors import S3Error, S3ErrorCode

MIN_CHUNK_SIZE = 8192  # sigv4-streaming: "chunk size must be at least 8 KB", except the last
MAX_LINE = 4096  # a chunk header or trailer line; MinIO's maxLineLength

_HEX = "0123456789abcdefABCDEF"
_HEX_BYTES = _HEX.encode()
_OWS = b" \t"  # S3 accepts "10 ; chunk-signature = sig " and "x-amz-checksum-crc32: value"
Segment = bytes | memoryview


class ChunkSignatureChain(Protocol):
    """The running chunk signature (sigv4-streaming "Calculating the signature for each chunk")."""

    def verify_chunk(self, chunk_sha256_hex: str, signature: str) -> None: ...

    def verify_trailer(self, canonical_trailer: bytes, signature: str) -> None: ...


def _error(code: S3ErrorCode, message: str | None = None, **extra: str | int) -> S3Error:
    return S3Error(code, message, **extra)


def _incomplete() -> S3Error:
    # Swift's S3 record: every framing fault (bare LF or CR, missing CRLF, no final chunk, bad
    # size, blank or missing chunk-signature, missing trailer signature) is this, not a 5xx.
    return _error(S3ErrorCode.IncompleteBody, "The request body terminated unexpectedly")


def _malformed_trailer() -> S3Error:
    return _error(
        S3ErrorCode.MalformedTrailerError,
        "The request contained trailing data that was not well-formed or did not conform "
        "to our published schema.",
    )


class BodyDecoder:
    """Digests over the decoded bytes, the held-back tail, the final checks; identity framing.

    `feed(data)` keeps a reference to `data` (pass immutable bytes) and returns the decoded bytes
    now safe to forward; `finish()` verifies and returns the rest. After an S3Error every call
    raises it again. `checksums` (algorithm -> base64 as received) is set by a successful finish.
    """

    expected_length: int | None = None  # x-amz-decoded-content-length, aws-chunked modes only

    def __init__(self, expect: ChecksumHeaders, sha256: str | None = None) -> None:
        self.decoded_length = 0
        self.checksums: dict[str, str] = {}
        self._expect, self._claim = expect, sha256  # claim: x-amz-content-sha256, any case
        self._value, self._raw = expect.value, expect.raw
        self._sha = hashlib.sha256() if sha256 is not None else None
        self._md5 = hashlib.md5(usedforsecurity=False) if expect.md5 is not None else None
        self._cks = new_checksum(expect.algorithm) if expect.algorithm else None
        self._updates: list[Callable[[Segment], object]] = []
        for digest in (self._sha, self._md5):
            if digest is not None:
                self._updates.append(digest.update)
        if self._cks is not None:
            self._updates.append(self._cks.update)
        self._ready: list[Segment] = []  # decoded and checked so far; the newest one is held
        self._error: S3Error | None = None
        self._deferring = False
        self._deferred: list[Segment] = []  # emitted, not yet seen by the digests
        self.deferred_bytes = 0

    @property
    def trailer_algorithm(self) -> str | None:
        """The checksum algorithm whose value arrives in the trailer, if any."""
        return self._expect.algorithm if self._expect.trailer else None

    def feed(self, data: bytes) -> bytes:
        if self._error is not None:
            raise self._error
        if data:
            self._emit(data)
        return self._release()

    @property
    def digests_deferrable(self) -> bool:
        """Whether the body has a SHA-256 or MD5 to check, worth digesting off the event loop
        (a body with only a CRC checksum is not: zlib and awscrt are fast, and measured no
        gain)."""
        return self._sha is not None or self._md5 is not None

    def defer_digests(self) -> None:
        """From now on decoded bytes wait for `update_digests` instead of being digested as they
        are emitted, so a caller can digest them off the event loop in batches (hashlib releases
        the GIL on large buffers). The caller must then take them (`take_deferred`) as they
        come, or they pile up; one batch at a time, in order. `finish` digests whatever is left
        itself, so it must not run while a batch is still being digested."""
        assert self.digests_deferrable, "nothing to defer: check digests_deferrable first"
        self._deferring = True

    def take_deferred(self) -> list[Segment]:
        taken, self._deferred, self.deferred_bytes = self._deferred, [], 0
        return taken

    def update_digests(self, segments: list[Segment]) -> None:
        for segment in segments:
            for update in self._updates:
                update(segment)

    def finish(self) -> bytes:
        if self._error is not None:
            raise self._error
        if self._deferred:
            self.update_digests(self.take_deferred())
        try:
            self._end()
            self._verify()
        except S3Error as exc:
            self._error = exc
            raise
        out = b"".join(self._ready)
        self._ready = []
        return out

    def _emit(self, segment: Segment) -> None:
        if self._deferring:
            self._deferred.append(segment)
            self.deferred_bytes += len(segment)
        else:
            for update in self._updates:
                update(segment)
        self.decoded_length += len(segment)
        self._ready.append(segment)

    def _release(self) -> bytes:
        # Hold back the newest segment (>= 1 byte): no copy when the rest is one bytes object,
        # the usual case of one segment per feed.
        ready = self._ready
        if len(ready) < 2:
            return b""
        first = ready[0]
        out = first if len(ready) == 2 and isinstance(first, bytes) else b"".join(ready[:-1])
        self._ready = [ready[-1]]
        return out

    def _end(self) -> None:
        """Raise if the framing is incomplete; identity framing always ends cleanly."""

    def _verify(self) -> None:
        # Swift's S3 record: a SHA-256 mismatch trumps Content-MD5 and x-amz-checksum failures.
        expect = self._expect
        if self._sha is not None and self._claim is not None:
            computed = self._sha.hexdigest()
            if computed != self._claim.lower():
                raise _error(
                    S3ErrorCode.XAmzContentSHA256Mismatch,
                    ClientComputedContentSHA256=self._claim,
                    S3ComputedContentSHA256=computed,
                )
        if self._md5 is not None and expect.md5 is not None:
            computed_md5 = self._md5.digest()
            if computed_md5 != expect.md5:
                # AWS answers the header's digest in hex and its own in base64 (Swift's record).
                raise _error(
                    S3ErrorCode.BadDigest,
                    "The Content-MD5 you specified did not match what we received.",
                    ExpectedDigest=expect.md5.hex(),
                    CalculatedDigest=encode_checksum_value(computed_md5),
                )
        if self._cks is not None and expect.algorithm is not None:
            if self._cks.digest() != self._raw or self._value is None:
                raise _error(
                    S3ErrorCode.BadDigest,
                    f"The {expect.algorithm.upper()} you specified did not match the "
                    "calculated checksum.",
                )
            self.checksums = {expect.algorithm: self._value}


_HEAD, _DATA, _DATA_END, _TRAILER, _DONE = range(5)


class ChunkedDecoder(BodyDecoder):
    """aws-chunked: `hex-size[;chunk-signature=sig]CRLF data CRLF` ... `0[;...]CRLF`, trailer
    lines, CRLF (sigv4-streaming "Defining the chunked body"; the trailer modes' zero chunk has no
    data CRLF, sigv4-streaming-trailers). With a chain, each chunk is buffered until its
    signature verifies (memory: one chunk, <= max_chunk_size); without, data streams through.
    """

    def __init__(
        self,
        expect: ChecksumHeaders,
        declared: int,
        chain: ChunkSignatureChain | None,
        *,
        trailer_mode: bool,
        max_chunk_size: int,
        min_chunk_size: int,
    ) -> None:
        super().__init__(expect)
        self.expected_length = self._declared = declared
        self._chain = chain
        self._trailer_mode = trailer_mode
        self._trailer_algorithm = expect.algorithm if expect.trailer else None
        self._trailer_name = f"x-amz-checksum-{self._trailer_algorithm}".encode()
        self._max, self._min = max_chunk_size, min_chunk_size
        self._state = _HEAD
        self._line = bytearray()  # a header or trailer line split across feeds
        self._left = self._crlf = 0  # data bytes, then CRLF bytes, the current chunk still owes
        self._framed = self._chunks = self._last_size = 0
        self._signature = ""
        self._chunk_sha = hashlib.sha256()
        self._pending: list[Segment] = []  # the current chunk, until its signature verifies
        self._canonical = bytearray()  # signed trailer lines as "name:value\n"
        self._trailer_value: bytes | None = None
        self._trailer_signed = False

    def feed(self, data: bytes) -> bytes:
        if self._error is not None:
            raise self._error
        try:
            self._parse(data)
        except S3Error as exc:
            self._error = exc
            raise
        return self._release()

    def _parse(self, data: bytes) -> None:
        pos, n = 0, len(data)
        while pos < n:
            state = self._state
            if state == _DATA:
                take = min(self._left, n - pos)
                segment = data if take == n else memoryview(data)[pos : pos + take]
                if self._chain is None:
                    self._emit(segment)
                else:
                    self._chunk_sha.update(segment)
                    self._pending.append(segment)
                pos += take
                self._left -= take
                if not self._left:
                    self._state, self._crlf = _DATA_END, 2
            elif state == _DATA_END:
                if self._crlf == 2 and data.startswith(b"\r\n", pos):
                    pos, self._crlf = pos + 2, 0
                elif data[pos] == (13 if self._crlf == 2 else 10):
                    pos, self._crlf = pos + 1, self._crlf - 1
                else:
                    raise _incomplete()
                if not self._crlf:
                    self._chunk_done()
            elif state == _DONE:
                # S3 ignores anything after the final CRLF (Swift's record); a gateway should not
                # forward a body that keeps going, so only blank lines are tolerated.
                if data[pos:].strip(b"\r\n"):
                    raise _error(
                        S3ErrorCode.InvalidRequest, "Data follows the end of the aws-chunked body."
                    )
                return
            else:
                nl = data.find(b"\n", pos)
                end = n if nl < 0 else nl + 1
                if len(self._line) + end - pos > MAX_LINE:
                    raise _incomplete()
                if nl < 0:
                    self._line += memoryview(data)[pos:]
                    return
                line = data[pos:end]
                if self._line:
                    line, self._line = bytes(self._line) + line, bytearray()
                pos = end
                if not line.endswith(b"\r\n"):
                    raise _incomplete()
                if state == _HEAD:
                    self._head(line[:-2])
                else:
                    self._trailer(line[:-2])

    def _head(self, line: bytes) -> None:
        size_text, semi, extension = line.partition(b";")
        size_text = size_text.strip(_OWS)
        if not size_text or len(size_text) > 16 or size_text.strip(_HEX_BYTES):
            raise _incomplete()
        size = int(size_text, 16)
        if self._chain is not None:
            key, equals, signature = extension.partition(b"=")
            signature = signature.strip(_OWS)
            if key.strip(_OWS) != b"chunk-signature" or not equals or not signature:
                raise _incomplete()  # S3: no or blank signature is IncompleteBody
            if b";" in signature or not signature.isascii():
                raise _incomplete()  # S3: "chunk-signature=sig;extra=param" likewise
            self._signature = signature.decode("ascii")
        elif semi:
            raise _incomplete()
        self._chunks += 1
        if size == 0:
            if self._chain is not None:
                self._chain.verify_chunk(EMPTY_SHA256, self._signature)
            if self._framed != self._declared:
                raise self._length_mismatch(self._framed)
            self._state = _TRAILER
            return
        if self._chunks > 1 and self._last_size < self._min:
            # AWS names the chunk being read and the size of the one before it (403 on AWS).
            raise _error(
                S3ErrorCode.InvalidChunkSizeError,
                f"Only the last chunk is allowed to have a size less than {self._min} bytes",
                Chunk=self._chunks,
                BadChunkSize=self._last_size,
            )
        if self._chain is not None and size > self._max:
            raise _error(S3ErrorCode.EntityTooLarge, ProposedSize=size, MaxSizeAllowed=self._max)
        if self._framed + size > self._declared:
            raise self._length_mismatch(self._framed + size)  # never forward past the length
        self._framed += size
        self._last_size = self._left = size
        self._state = _DATA
        if self._chain is not None:
            self._chunk_sha = hashlib.sha256()

    def _length_mismatch(self, provided: int) -> S3Error:
        # Swift's S3 record: IncompleteBody with both counts, message without a final period.
        return _error(
            S3ErrorCode.IncompleteBody,
            "You did not provide the number of bytes specified by the Content-Length HTTP header",
            NumberBytesExpected=self._declared,
            NumberBytesProvided=provided,
        )

    def _chunk_done(self) -> None:
        self._state = _HEAD
        if self._chain is not None:
            # sigv4-streaming: each chunk's signature chains the previous one, so a tampered,
            # dropped or reordered chunk fails here, before any of its bytes are released.
            self._chain.verify_chunk(self._chunk_sha.hexdigest(), self._signature)
            for segment in self._pending:
                self._emit(segment)
            self._pending.clear()

    def _trailer(self, line: bytes) -> None:
        if not line:
            self._end_trailers()
            self._state = _DONE
            return
        if not self._trailer_mode:
            raise _incomplete()
        name, colon, value = line.partition(b":")
        name, value = name.strip(_OWS), value.strip(_OWS)
        if not colon or self._trailer_signed:
            raise _malformed_trailer()
        if self._chain is not None and name.lower() == b"x-amz-trailer-signature":
            # sigv4-streaming-trailers: the signature covers the trailer lines as "name:value\n"
            # (Swift's record: CR and blanks dropped; "\n" when there are none).
            if not value.isascii():
                raise _incomplete()
            self._chain.verify_trailer(bytes(self._canonical) or b"\n", value.decode("ascii"))
            self._trailer_signed = True
            return
        if self._trailer_algorithm is None or name.lower() != self._trailer_name:
            raise _malformed_trailer()  # undeclared or extra trailer (Swift's record)
        self._trailer_value = value  # S3 lets a repeated trailer's last value win
        self._canonical += name + b":" + value + b"\n"
        if len(self._canonical) > MAX_LINE:  # repeats must not grow memory without bound
            raise _malformed_trailer()

    def _end_trailers(self) -> None:
        if self._chain is not None and self._trailer_mode and not self._trailer_signed:
            raise _incomplete()  # S3: missing x-amz-trailer-signature
        if self._trailer_algorithm is not None:
            if self._trailer_value is None:
                raise _malformed_trailer()  # declared in x-amz-trailer, never sent
            self._value = self._trailer_value.decode("ascii", "replace")
            self._raw = decode_checksum_value(self._trailer_algorithm, self._value, trailing=True)

    def _end(self) -> None:
        if self._state == _DONE:
            return
        # S3 accepts an unsigned-trailer body that stops after its last trailer line, or right
        # after "0\r\n", without the final CRLF (Swift's record), but no partial line.
        if self._state == _TRAILER and not self._line and self._trailer_mode and not self._chain:
            self._end_trailers()
            self._state = _DONE
            return
        raise _incomplete()


def make_decoder(
    payload_hash: str,
    headers: Mapping[str, str],
    chain: ChunkSignatureChain | None = None,
    *,
    max_chunk_size: int = 16 * 1024 * 1024,
    min_chunk_size: int = MIN_CHUNK_SIZE,
    chunked: bool = True,
) -> BodyDecoder:
    """The decoder for a request whose headers (lower-case names) were authenticated already.

    `payload_hash` is x-amz-content-sha256. Pass `chunked=False` for presigned and SigV2
    requests: S3 then reads every value but UNSIGNED-PAYLOAD, STREAMING-* included, as a claimed
    SHA-256 and answers XAmzContentSHA256Mismatch (Swift's record). x-amz-checksum-* headers are
    taken as checksums of this body: drop them for CompleteMultipartUpload, where they describe
    the object. Raises S3Error for a header S3 would refuse before reading the body.
    """
    mode = _mode(payload_hash, chunked)
    expect = parse_checksum_headers(headers)
    trailer_mode = mode in (STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER)
    if expect.trailer and not trailer_mode:
        raise _malformed_trailer()  # Swift's record: x-amz-trailer on a non-streaming PUT
    if mode is None or mode == UNSIGNED_PAYLOAD:
        return BodyDecoder(expect, payload_hash if mode is None else None)
    signed = mode in (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER)
    if signed and chain is None:
        raise ValueError(f"{mode} needs a ChunkSignatureChain")
    # sigv4-streaming: "you must include the x-amz-decoded-content-length header"; S3 answers
    # MissingContentLength (411) when it is missing or not an integer (Swift's record, MinIO).
    declared = headers.get("x-amz-decoded-content-length", "").strip()
    if not (declared.isascii() and declared.isdigit() and len(declared) <= 19):
        raise _error(S3ErrorCode.MissingContentLength)
    return ChunkedDecoder(
        expect,
        int(declared),
        chain if signed else None,
        trailer_mode=trailer_mode,
        max_chunk_size=max_chunk_size,
        min_chunk_size=min_chunk_size,
    )


def _mode(payload_hash: str, chunked: bool) -> str | None:
    """The payload mode, or None for a claimed SHA-256 of the whole body."""
    if payload_hash == UNSIGNED_PAYLOAD:
        return UNSIGNED_PAYLOAD
    if not chunked or (len(payload_hash) == 64 and not payload_hash.strip(_HEX)):
        return None
    if payload_hash in (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER):
        return payload_hash
    if payload_hash.startswith("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"):
        raise _error(S3ErrorCode.NotImplemented, Header="x-amz-content-sha256")  # SigV4a
    # Swift's record (header-signed V4): case matters, "unsigned-payload" is refused too.
    raise _error(
        S3ErrorCode.InvalidArgument,
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, "
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-"
        "TRAILER or a valid sha256 value.",
        ArgumentName="x-amz-content-sha256",
        ArgumentValue=payload_hash,
    )


class TrailerReframer:
    """Re-frames a verified body as STREAMING-UNSIGNED-PAYLOAD-TRAILER for the upstream.

    A trailing checksum is only known at the end of the body, too late for a request header, so
    the upstream gets the body as one aws-chunked data chunk followed by the same trailer, and
    stores the checksum as S3 would. The encoded length is known up front (the trailer value's
    length is fixed by the algorithm), so the upstream request still has an exact Content-Length;
    the trailer is written only after `finish()` verified it, so the upstream cannot complete the
    request before every check passed.
    """

    def __init__(self, decoded_length: int, algorithm: str) -> None:
        self.decoded_length = decoded_length
        self.trailer_name = f"x-amz-checksum-{algorithm}"
        self._value_length = 4 * ((DIGEST_SIZES[algorithm] + 2) // 3)  # base64 of the digest
        self._algorithm = algorithm

    def prefix(self) -> bytes:
        return f"{self.decoded_length:x}\r\n".encode() if self.decoded_length else b""

    def suffix(self, checksums: Mapping[str, str]) -> bytes:
        data_end = b"\r\n" if self.decoded_length else b""
        trailer = f"{self.trailer_name}:{checksums[self._algorithm]}\r\n".encode()
        return data_end + b"0\r\n" + trailer + b"\r\n"

    @property
    def encoded_length(self) -> int:
        data = len(self.prefix()) + self.decoded_length + (2 if self.decoded_length else 0)
        return data + 3 + len(self.trailer_name) + 1 + self._value_length + 2 + 2
