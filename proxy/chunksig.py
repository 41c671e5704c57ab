"""Chunk signatures of aws-chunked bodies: the chain that ties each chunk (and the trailer) of a
STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER) body to the request's own signature.

Owns: the chunk and trailer string-to-sign and the running chain. Does not own: the request's
signature (sigv4, which gives the signing key and the seed signature) or the body framing
(payload). Pure: stdlib, s3errors and sigv4's request record.

References: [CHK] "Signature Calculations for the Authorization Header: Transferring Payload in
Multiple Chunks (Chunked Upload)"; [TRL] the same page's trailing-header section (Amazon S3
API Reference, sigv4-streaming).
"""

from __future__ import annotations

import hashlib
import hmac

from proxy.s3errors import S3Error
from proxy.s3errors import S3ErrorCode as Code
from proxy.sigv4 import EMPTY_SHA256, SigV4Request, hmac_hex


class ChunkChain:
    """Verifies the chain of chunk signatures of STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER)
    bodies: each chunk's signature covers the previous one, so chunks can't be dropped or moved."""

    def __init__(self, signing_key: bytes, req: SigV4Request) -> None:
        self._key = signing_key
        self._head = f"{req.amz_date}\n{req.scope}\n"
        self._previous = req.signature  # [CHK] the seed is the signature of the headers

    def verify_chunk(self, chunk_sha256_hex: str, signature: str) -> None:
        # [CHK] "AWS4-HMAC-SHA256-PAYLOAD" + date + scope + previous signature + hash("") (the
        # unused chunk-extension slot) + hash(chunk data); the final 0-byte chunk is signed too.
        sts = f"AWS4-HMAC-SHA256-PAYLOAD\n{self._head}{self._previous}\n{EMPTY_SHA256}\n"
        self._check(sts + chunk_sha256_hex, signature)

    def verify_trailer(self, canonical_trailer: bytes, signature: str) -> None:
        # [TRL] "AWS4-HMAC-SHA256-TRAILER" + date + scope + last chunk signature + hash of the
        # trailing headers in canonical form ("name:value\n" each).
        digest = hashlib.sha256(canonical_trailer).hexdigest()
        self._check(f"AWS4-HMAC-SHA256-TRAILER\n{self._head}{self._previous}\n{digest}", signature)

    def _check(self, string_to_sign: str, signature: str) -> None:
        expected = hmac_hex(self._key, string_to_sign)
        if not hmac.compare_digest(expected, signature.lower().encode("utf-8", "surrogateescape")):
            extra = {"StringToSign": string_to_sign, "SignatureProvided": signature}
            raise S3Error(Code.SignatureDoesNotMatch, **extra)
        self._previous = expected.decode()
