"""Who is asking: a request's signature (SigV4 or SigV2) checked against the key's secret.

Owns: choosing the signature scheme, looking the access key up (through the cache), verifying,
and describing what that means for the body: which payload mode the decoder runs, whether chunk
signatures follow, which query parameters and headers belong to the tenant's signature rather than
to the request (they are not forwarded). Also the one case where a body must be read before the
signature can be checked: curl's SigV4 signs the body's SHA-256 without sending it.

Does not own: the signature maths (sigv4, sigv2), the key store (ledger), bucket ownership
(isolation) or the body's framing and digests (payload).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import unquote

from proxy import chunksig, sigv2, sigv4
from proxy.ledger import Credentials
from proxy.s3errors import S3Error, S3ErrorCode

#: The most BillFlow reads ahead to hash a body whose SHA-256 the client signed but did not send
#: (curl --aws-sigv4). Bounded because it is held in memory before the signature is known good.
UNSENT_HASH_BODY_LIMIT = 1024 * 1024

_SIGNED_STREAMING = frozenset({sigv4.STREAMING_SIGNED, sigv4.STREAMING_SIGNED_TRAILER})

KeyLookup = Callable[[str], Awaitable[Credentials | None]]
BodyReader = Callable[[int], Awaitable[bytes]]


@dataclass(frozen=True)
class Authenticated:
    creds: Credentials
    signature_version: int  # 4 or 2
    payload_hash: str  # what the payload decoder checks: hex SHA-256, UNSIGNED-PAYLOAD, STREAMING-*
    chunked: bool  # aws-chunked framing allowed (SigV4 header auth only)
    chain: chunksig.ChunkChain | None  # chunk-signature chain for signed aws-chunked bodies
    strip_query: frozenset[str]  # the signature's query parameters, not the request's
    extra_headers: tuple[tuple[str, str], ...] = ()  # headers a presigned SigV2 URL carried
    prefetched_body: bytes | None = None  # the whole body, when it had to be read to verify
    presigned: bool = field(default=False)


class Authenticator:
    def __init__(
        self, find_key: KeyLookup, *, region: str, max_skew: timedelta, allow_sigv2: bool
    ) -> None:
        self._find_key = find_key
        self._region = region
        self._max_skew = max_skew
        self._allow_sigv2 = allow_sigv2

    async def _credentials(self, access_key_id: str) -> Credentials:
        creds = await self._find_key(access_key_id)
        if creds is None:
            raise S3Error(S3ErrorCode.InvalidAccessKeyId, AWSAccessKeyId=access_key_id)
        return creds

    async def authenticate(
        self,
        method: str,
        raw_path: str,
        raw_query: str,
        headers: Sequence[tuple[str, str]],
        *,
        now: datetime,
        has_body: bool,
        read_body: BodyReader,
        virtual_bucket: str | None = None,
    ) -> Authenticated:
        """Verify the request's signature; anonymous requests get AccessDenied."""
        if sigv2.is_sigv2(raw_query, headers):
            return await self._sigv2(
                method, raw_path, raw_query, headers, now=now, virtual_bucket=virtual_bucket
            )
        auth = sigv4.parse(method, raw_path, raw_query, headers)
        if auth is None:
            raise S3Error(S3ErrorCode.AccessDenied)
        creds = await self._credentials(auth.access_key_id)
        prefetched: bytes | None = None
        body_hash = auth.payload_hash
        if not auth.payload_hash_sent:
            auth, prefetched, body_hash = await self._unsent_hash(
                auth, creds.secret, now, has_body, read_body
            )
        key = sigv4.verify(auth, creds.secret, now, region=self._region, max_skew=self._max_skew)
        signed_chunks = auth.payload_hash in _SIGNED_STREAMING and not auth.presigned
        return Authenticated(
            creds=creds,
            signature_version=4,
            payload_hash=body_hash,
            chunked=not auth.presigned,
            chain=chunksig.ChunkChain(key, auth) if signed_chunks else None,
            strip_query=sigv4.PRESIGN_PARAMS if auth.presigned else frozenset(),
            prefetched_body=prefetched,
            presigned=auth.presigned,
        )

    async def _unsent_hash(
        self,
        auth: sigv4.SigV4Request,
        secret: str,
        now: datetime,
        has_body: bool,
        read_body: BodyReader,
    ) -> tuple[sigv4.SigV4Request, bytes | None, str]:
        """curl --aws-sigv4 (7.x) signs a payload hash it does not send: the body's SHA-256 for
        in-memory bodies (-d), the empty body's for uploads from a file (-T). The second kind
        leaves the body unsigned, as UNSIGNED-PAYLOAD does (MinIO accepts it the same way), so
        it is tried first: it needs no read-ahead and has no size limit.
        Returns the request with its hash, the body if it was read, and the decoder's mode."""
        empty = sigv4.with_payload_hash(auth, sigv4.EMPTY_SHA256)
        if not has_body:
            return empty, None, sigv4.EMPTY_SHA256
        try:
            sigv4.verify(empty, secret, now, region=self._region, max_skew=self._max_skew)
        except S3Error as e:
            if e.code is not S3ErrorCode.SignatureDoesNotMatch:
                raise
        else:
            return empty, None, sigv4.UNSIGNED_PAYLOAD
        body = await read_body(UNSENT_HASH_BODY_LIMIT + 1)
        if len(body) > UNSENT_HASH_BODY_LIMIT:
            raise S3Error(
                S3ErrorCode.InvalidRequest,
                "Missing required header for this request: x-amz-content-sha256 "
                f"(required for bodies over {UNSENT_HASH_BODY_LIMIT} bytes)",
            )
        digest = hashlib.sha256(body).hexdigest()
        return sigv4.with_payload_hash(auth, digest), body, digest

    async def _sigv2(
        self,
        method: str,
        raw_path: str,
        raw_query: str,
        headers: Sequence[tuple[str, str]],
        *,
        now: datetime,
        virtual_bucket: str | None,
    ) -> Authenticated:
        if not self._allow_sigv2:
            # S3's own answer to SigV2 where it is not accepted.
            raise S3Error(
                S3ErrorCode.InvalidRequest,
                "The authorization mechanism you have provided is not supported. "
                "Please use AWS4-HMAC-SHA256.",
            )
        auth = sigv2.parse(method, raw_path, raw_query, headers, virtual_bucket=virtual_bucket)
        assert auth is not None  # is_sigv2 said it carries SigV2
        creds = await self._credentials(auth.access_key_id)
        sigv2.verify(auth, creds.secret, now, max_skew=self._max_skew)
        query_names = {unquote(p.partition("=")[0]) for p in raw_query.split("&") if p}
        # A presigned SigV2 URL carries header values in its query (botocore moves x-amz-*,
        # Content-Type and Content-MD5 there); they are headers, not query parameters, upstream.
        hoisted = {n.lower() for n in query_names if _is_hoistable(n)} if auth.presigned else set()
        # SigV2 signs no body: it travels as UNSIGNED-PAYLOAD, still checked against any
        # Content-MD5 or x-amz-checksum-* header the client sent.
        return Authenticated(
            creds=creds,
            signature_version=2,
            payload_hash=sigv4.UNSIGNED_PAYLOAD,
            chunked=False,
            chain=None,
            strip_query=sigv2.SIGV2_QUERY_PARAMS
            | {name for name in query_names if name.lower() in hoisted},
            extra_headers=auth.hoisted_headers,
            presigned=auth.presigned,
        )


def _is_hoistable(name: str) -> bool:
    lower = name.lower()
    return lower.startswith("x-amz-") or lower in ("content-type", "content-md5")
