"""Forwarding to the upstream S3 store: re-sign (upsign.py), stream both ways.

Owns: the one pooled aiohttp ClientSession, which request headers travel upstream and which
response headers come back (hop-by-hop headers never do, either way), signing each request with
the upstream's credentials (upsign.py, held to botocore's signer byte for byte), and turning
upstream failures (refused, reset, timed out) into `503 ServiceUnavailable`. Does not own:
verifying the tenant (sigv4/payload did that before any byte gets here) or deciding whether the
request is allowed.

The upstream is always addressed path-style (`/bucket/key`), with the path encoded per the SigV4
rule and the query in canonical form, so what is signed is exactly what the upstream
canonicalises.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

import aiohttp
from yarl import URL

from proxy.config import UpstreamSettings
from proxy.s3errors import S3Error, S3ErrorCode
from proxy.sigv4 import EMPTY_SHA256
from proxy.upsign import UpstreamSigner

#: RFC 9110 section 7.6.1 connection-specific headers, plus the ones the proxy recomputes itself.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)

#: Request headers that belong to the tenant's own signature or body framing; the upstream request
#: gets its own (our signature, a decoded body with an exact Content-Length).
_NOT_FORWARDED = HOP_BY_HOP | {
    "authorization",
    "host",
    "content-length",
    "expect",
    "x-amz-date",
    "x-amz-content-sha256",
    "x-amz-security-token",
    "x-amz-decoded-content-length",
    "x-amz-trailer",
}

#: Response headers the proxy's HTTP layer sets itself for the tenant connection.
_NOT_RETURNED = HOP_BY_HOP | {"content-length"}

#: aiohttp would otherwise add these on its own; what the tenant sent (or didn't) is what goes up.
_SKIP_AUTO = frozenset({"Accept", "Accept-Encoding", "User-Agent", "Content-Type"})


@dataclass
class UpstreamRequest:
    method: str
    path: str  # path-style, already encoded (addressing.upstream_path)
    query: str  # canonical query string (sigv4.canonical_query_string), "" for none
    headers: list[tuple[str, str]]  # the tenant's headers; filtered here
    payload_hash: str  # hex SHA-256 the tenant signed (and we verify), or UNSIGNED-PAYLOAD
    content_length: int | None  # decoded body length; None means no body
    body: AsyncIterator[bytes] | None
    expect_continue: bool = False
    # Set when the body goes up aws-chunked with this trailer (payload.TrailerReframer):
    # (x-amz-trailer name, decoded length).
    trailer: tuple[str, int] | None = None
    extra_headers: list[tuple[str, str]] | None = None

    @classmethod
    def own(cls, method: str, path: str, query: str = "") -> UpstreamRequest:
        """A bodiless request BillFlow makes on its own behalf (HEAD probes, listings)."""
        return cls(method, path, query, headers=[], payload_hash=EMPTY_SHA256,
                   content_length=None, body=None)  # fmt: skip


def forwardable_request_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The tenant's headers minus hop-by-hop and signature/framing ones.

    `Content-Encoding: aws-chunked` is framing, not a property of the object: S3 drops it and keeps
    any other codings listed with it ("aws-chunked,gzip" stores "gzip").
    """
    out: list[tuple[str, str]] = []
    for name, value in headers:
        lname = name.lower()
        if lname in _NOT_FORWARDED:
            continue
        if lname == "content-encoding":
            codings = [c.strip() for c in value.split(",") if c.strip().lower() != "aws-chunked"]
            if not codings:
                continue
            value = ",".join(codings)
        out.append((name, value))
    return out


def returnable_response_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(n, v) for n, v in headers if n.lower() not in _NOT_RETURNED]


class Upstream:
    """One pooled session to the upstream; `open()` sends a signed request, returns the response."""

    def __init__(self, settings: UpstreamSettings, session: aiohttp.ClientSession) -> None:
        self._settings = settings
        self._session = session
        self._signer = UpstreamSigner(
            settings.access_key_id, settings.secret_access_key, settings.region
        )
        self._base = URL(settings.endpoint)
        self._host = self._base.raw_authority

    @staticmethod
    def new_session(settings: UpstreamSettings) -> aiohttp.ClientSession:
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=settings.connect_timeout_seconds,
            sock_read=settings.read_timeout_seconds,
        )
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=settings.max_connections),
            timeout=timeout,
            # Objects stored with Content-Encoding: gzip must come back byte for byte.
            auto_decompress=False,
            skip_auto_headers=_SKIP_AUTO,
            read_bufsize=256 * 1024,
        )

    def sign(self, req: UpstreamRequest) -> tuple[str, list[tuple[str, str]]]:
        """The URL and the headers to send, signed for the upstream."""
        url = f"{self._settings.endpoint}{req.path}"
        if req.query:
            url = f"{url}?{req.query}"
        headers = [("Host", self._host)]
        codings = ""
        for name, value in forwardable_request_headers(req.headers):
            if req.trailer is not None and name.lower() == "content-encoding":
                codings = value
                continue
            headers.append((name, value))
        headers.extend(req.extra_headers or ())
        if req.trailer is not None:
            trailer, decoded_length = req.trailer
            encoding = f"aws-chunked,{codings}" if codings else "aws-chunked"
            headers.append(("Content-Encoding", encoding))
            headers.append(("x-amz-decoded-content-length", str(decoded_length)))
            headers.append(("x-amz-trailer", trailer))
        if req.content_length is not None:
            headers.append(("Content-Length", str(req.content_length)))
        signed = self._signer.sign(req.method, req.path, req.query, headers, req.payload_hash)
        return url, signed

    async def open(self, req: UpstreamRequest) -> aiohttp.ClientResponse:
        """Send `req`; failures to reach or hear from the upstream become ServiceUnavailable.

        Exceptions the body iterator raises (a failed check) propagate unchanged where aiohttp
        lets them; callers should also keep their own record of a body failure.
        """
        url, headers = self.sign(req)
        try:
            return await self._session.request(
                req.method,
                URL(url, encoded=True),
                headers=headers,
                data=req.body if req.body is not None else None,
                expect100=req.expect_continue,
                allow_redirects=False,
                compress=None,
                chunked=None,
            )
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise S3Error(
                S3ErrorCode.ServiceUnavailable,
                "The storage backend is unavailable. Please try again.",
            ) from e
