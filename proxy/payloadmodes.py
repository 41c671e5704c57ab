"""The x-amz-content-sha256 values that name a payload mode instead of being a body's SHA-256,
and the empty body's SHA-256.

Shared by the two leaves that read the header: sigv4 (what is signed) and payload (how the body
is framed and checked). Values as the S3 API Reference spells them ("Authenticating Requests
(AWS Signature Version 4)"); SigV4a's ECDSA modes are left to sigv4, which refuses them.
"""

from __future__ import annotations

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
#: Every mode above: any other value must be a hex SHA-256 of the body.
MODES = frozenset(
    (UNSIGNED_PAYLOAD, STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER)
)
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
