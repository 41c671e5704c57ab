"""AWS Signature Version 4 for S3: verify header auth, presigned URLs and chunk-signature chains.

Owns: canonicalisation (URI, query string, headers), parsing the Authorization header or the
X-Amz-* query parameters into a `SigV4Request`, the checks S3 makes before it trusts a request
(credential scope, clock, signature, unsigned x-amz-* headers), the signing key, the chain of
chunk and trailer signatures of STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER) bodies. Header auth
without x-amz-content-sha256 (curl 7.88 --aws-sigv4 signs a payload hash without sending it)
parses with the hash unknown: the gateway supplies it (`with_payload_hash`), else `verify` refuses.
Does not own: finding the secret of an access key (the ledger, called between `parse` and
`verify`), reading, hashing or de-framing the body (payload.py), SigV2 (sigv2.py), SigV4a, browser
POST policies, signing requests to the upstream (upsign.py), or rendering errors (s3errors).
Pure: no I/O; `now` is a parameter.

Doc sections cited below, all in the Amazon S3 API Reference, "Authenticating Requests (AWS
Signature Version 4)": [HDR] "Signature Calculations for the Authorization Header: Transferring
Payload in a Single Chunk"; [QRY] "Authenticating Requests: Using Query Parameters"; [CHK] "...
Transferring Payload in Multiple Chunks (Chunked Upload)"; [TRL] "Signature calculations for
trailing headers (chunked uploads)". Error codes and messages are the ones S3 answers.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache
from urllib.parse import quote, unquote_to_bytes

# The payload modes are also sigv4's names for them (sigv4.UNSIGNED_PAYLOAD): re-exported.
from proxy.payloadmodes import EMPTY_SHA256 as EMPTY_SHA256
from proxy.payloadmodes import MODES
from proxy.payloadmodes import STREAMING_SIGNED as STREAMING_SIGNED
from proxy.payloadmodes import STREAMING_SIGNED_TRAILER as STREAMING_SIGNED_TRAILER
from proxy.payloadmodes import STREAMING_UNSIGNED_TRAILER as STREAMING_UNSIGNED_TRAILER
from proxy.payloadmodes import UNSIGNED_PAYLOAD as UNSIGNED_PAYLOAD
from proxy.s3errors import S3Error
from proxy.s3errors import S3ErrorCode as Code

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_EXPIRES_SECONDS = 604800  # [QRY] X-Amz-Expires: "maximum ... 604800 seconds (seven days)"
# Query parameters of a presigned URL ([QRY]); the gateway strips them before forwarding.
PRESIGN_PARAMS: frozenset[str] = frozenset(
    "X-Amz-Algorithm X-Amz-Credential X-Amz-Date X-Amz-Expires X-Amz-SignedHeaders "
    "X-Amz-Signature X-Amz-Security-Token X-Amz-Content-Sha256".split()
)
_REQUIRED_PARAMS = PRESIGN_PARAMS - {"X-Amz-Security-Token", "X-Amz-Content-Sha256"}
_ECDSA = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"  # SigV4a: valid for S3, not verified here
# S3's own wording for a value outside the list (InvalidArgument, with ArgumentName/Value).
_BAD_PAYLOAD_HASH = (
    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, "
    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER "
    "or a valid sha256 value."
)
_ONE_MECHANISM = (
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
    "string parameter or the Authorization header should be specified"
)
_SIGV2 = (
    "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
)
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_UNRESERVED_PATH = re.compile(r"[A-Za-z0-9/._~-]*")
_AMZ_FORMAT = "%Y%m%dT%H%M%SZ"
_SKEW = timedelta(minutes=15)  # [HDR]/S3: requests more than 15 minutes off are refused


def aws_uri_encode(value: str, *, encode_slash: bool) -> str:
    """[HDR] UriEncode(): keep A-Za-z0-9-_.~, %XX (upper-case hex) every other UTF-8 byte."""
    # urllib's quote() always keeps exactly the unreserved set (Python >= 3.7 includes '~').
    return quote(value, safe="" if encode_slash else "/")


def _decode(component: str) -> str:
    """Percent-decode strictly: bytes that are not UTF-8 make the URI unparsable for S3."""
    try:
        return unquote_to_bytes(component).decode("utf-8")
    except UnicodeError:  # also a str holding lone surrogates (undecodable raw bytes)
        raise S3Error(Code.InvalidURI) from None


def _query_pairs(raw_query: str) -> list[tuple[str, str]]:
    # '+' stays '+': SigV4 decodes a query as a URI, not as an HTML form.
    pairs = []
    for piece in raw_query.split("&"):
        if piece:
            key, _, value = piece.partition("=")
            pairs.append((_decode(key), _decode(value)))
    return pairs


def _canonical_query(pairs: Sequence[tuple[str, str]], exclude: Collection[str]) -> str:
    # [HDR] CanonicalQueryString: encode names and values, then sort by name (then value, for
    # repeated names); "The sorting occurs after encoding". A bare `?acl` becomes "acl=".
    encoded = sorted(
        (aws_uri_encode(k, encode_slash=True), aws_uri_encode(v, encode_slash=True))
        for k, v in pairs
        if k not in exclude
    )
    return "&".join(f"{k}={v}" for k, v in encoded)


def canonical_query_string(raw_query: str, *, exclude: Collection[str] = ()) -> str:
    return _canonical_query(_query_pairs(raw_query), exclude)


def canonical_uri(raw_path: str) -> str:
    # [HDR] CanonicalURI: UriEncode of the absolute path with '/' kept, and "You do not normalize
    # URI paths for requests to Amazon S3" ('//', '.', '..' and a trailing '/' all stay).
    # Decoding per segment keeps an encoded '%2F' inside a key segment as '%2F'.
    if _UNRESERVED_PATH.fullmatch(raw_path):  # nothing to decode or encode: the usual path
        return raw_path or "/"
    segments = (raw_path or "/").split("/")
    return "/".join(aws_uri_encode(_decode(s), encode_slash=True) for s in segments)


def _header_map(headers: Sequence[tuple[str, str]]) -> dict[str, str]:
    # [HDR] CanonicalHeaders: lower-case names, Trim() values; repeated headers are joined with ','
    # and runs of whitespace become one space (the general SigV4 rule; botocore uses split()).
    grouped: dict[str, list[str]] = {}
    for name, value in headers:
        grouped.setdefault(name.lower(), []).append(" ".join(value.split()))
    return {name: ",".join(values) for name, values in grouped.items()}


def _utf8(text: str) -> bytes:
    # Header values undecodable as UTF-8 reach us surrogate-escaped; sign their original bytes.
    return text.encode("utf-8", "surrogateescape")


def _string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    digest = hashlib.sha256(_utf8(canonical_request)).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@lru_cache(maxsize=4096)
def signing_key(secret: str, scope_date: str, region: str, service: str = "s3") -> bytes:
    """[HDR] Task 3: HMAC chain over date, region, service, "aws4_request"; valid a whole day."""
    key = ("AWS4" + secret).encode()
    for part in (scope_date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def hmac_hex(key: bytes, message: str) -> bytes:
    return hmac.new(key, _utf8(message), hashlib.sha256).hexdigest().encode()


@dataclass(frozen=True)
class SigV4Request:
    presigned: bool
    access_key_id: str
    scope_date: str
    region: str
    service: str
    request_at: datetime
    amz_date: str
    expires_seconds: int | None
    signed_headers: tuple[str, ...]
    signature: str  # lower-case hex
    payload_hash: str  # "" while unknown: see payload_hash_sent
    canonical_request: str
    string_to_sign: str
    alt_canonical_request: str | None
    # x-amz-* headers present but not signed: S3 refuses them once the signature checks out.
    unsigned_headers: tuple[str, ...] = ()
    security_token: str | None = None  # x-amz-security-token / X-Amz-Security-Token, if any
    # False: header auth signed a payload hash it did not send; with_payload_hash() supplies it.
    payload_hash_sent: bool = True

    @property
    def scope(self) -> str:
        return f"{self.scope_date}/{self.region}/{self.service}/aws4_request"


def _malformed(presigned: bool, detail: str, *, credential: bool = False, **extra: str) -> S3Error:
    """AuthorizationHeaderMalformed for header auth, AuthorizationQueryParametersError for URLs."""
    if not presigned:
        message = "The authorization header is malformed; " + detail
        return S3Error(Code.AuthorizationHeaderMalformed, message, **extra)
    prefix = "Error parsing the X-Amz-Credential parameter; " if credential else ""
    return S3Error(Code.AuthorizationQueryParametersError, prefix + detail, **extra)


def _credential(value: str, presigned: bool) -> list[str]:
    """Credential = <akid>/<YYYYMMDD>/<region>/<service>/aws4_request ([HDR] Authorization)."""
    parts = value.split("/")
    if len(parts) != 5 or not parts[0]:
        detail = 'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/'
        raise _malformed(presigned, detail + 'aws4_request".', credential=True)
    date = parts[1]
    if not _valid_scope_date(date):
        detail = (
            f'incorrect date format "{date}". This date in the credential must be in the format'
        )
        raise _malformed(presigned, detail + ' "yyyyMMdd".', credential=True)
    if parts[4] != "aws4_request":
        detail = f'incorrect terminal "{parts[4]}". This endpoint uses "aws4_request".'
        raise _malformed(presigned, detail, credential=True)
    return parts


@lru_cache(maxsize=64)
def _valid_scope_date(date: str) -> bool:
    # Cached: every request of a day carries the same one.
    return bool(re.fullmatch(r"[0-9]{8}", date)) and _parse_time(date + "T000000Z") is not None


def _parse_time(value: str) -> datetime | None:
    if not _AMZ_DATE.fullmatch(value):  # 8 digits, T, 6 digits, Z
        return None
    # Slicing instead of strptime: this runs for every request, and strptime costs ~10 us.
    try:
        return datetime(
            int(value[0:4]), int(value[4:6]), int(value[6:8]),
            int(value[9:11]), int(value[11:13]), int(value[13:15]), tzinfo=UTC,
        )  # fmt: skip
    except ValueError:  # month 13, Feb 30, hour 24, ...
        return None


def _signed_headers(value: str, presigned: bool) -> tuple[str, ...]:
    what = "X-Amz-SignedHeaders" if presigned else "SignedHeaders"
    names = value.split(";")
    if not all(names):
        raise _malformed(presigned, f'{what} "{value}" is malformed.')
    # [HDR] asks for a sorted lower-case list; like MinIO we sort it ourselves rather than refuse.
    signed = tuple(sorted({name.lower() for name in names}))
    if "host" not in signed:  # [HDR] "The CanonicalHeaders list must include ... host"
        raise _malformed(presigned, f'{what} must include "host".')
    return signed


def _signature(value: str, presigned: bool) -> str:
    if not _HEX64.fullmatch(value):
        what = "X-Amz-Signature" if presigned else "Signature"
        raise _malformed(presigned, f"{what} must be 64 hexadecimal characters.")
    return value.lower()  # S3 accepts upper-case hex


def _payload_hash(value: str) -> str:
    # [HDR] x-amz-content-sha256 is a hex SHA-256 or one of the payload modes. SigV4a modes are
    # valid for S3 but need an ECDSA signature we don't verify.
    if value in MODES or _HEX64.fullmatch(value):
        return value
    if value in (_ECDSA, _ECDSA + "-TRAILER"):
        raise S3Error(Code.NotImplemented, Header="x-amz-content-sha256")
    argument = {"ArgumentName": "x-amz-content-sha256", "ArgumentValue": value}
    raise S3Error(Code.InvalidArgument, _BAD_PAYLOAD_HASH, **argument)


def _header_time(hdrs: dict[str, str]) -> tuple[datetime, str]:
    # x-amz-date wins over Date ([HDR] Examples); without either S3 answers AccessDenied.
    at: datetime | None = None
    if "x-amz-date" in hdrs:
        at = _parse_time(hdrs["x-amz-date"])
        if at is not None:  # UTC already, and the value is the basic format itself
            return at, hdrs["x-amz-date"]
    elif "date" in hdrs:
        try:
            at = parsedate_to_datetime(hdrs["date"])
        except (TypeError, ValueError):
            at = None
        at = at if at is None or at.tzinfo else at.replace(tzinfo=UTC)
    if at is None:
        message = "AWS authentication requires a valid Date or x-amz-date header"
        raise S3Error(Code.AccessDenied, message)
    at = at.astimezone(UTC)
    return at, at.strftime(_AMZ_FORMAT)


def parse(
    method: str, raw_path: str, raw_query: str, headers: Sequence[tuple[str, str]]
) -> SigV4Request | None:
    """Parse the SigV4 authentication of a request; None when it carries none (anonymous)."""
    hdrs = _header_map(headers)
    pairs = _query_pairs(raw_query)
    names = {key for key, _ in pairs}
    authorization = hdrs.get("authorization", "")
    if authorization:
        if names & {"X-Amz-Algorithm", "Signature"}:
            argument = {"ArgumentName": "Authorization", "ArgumentValue": authorization}
            raise S3Error(Code.InvalidArgument, _ONE_MECHANISM, **argument)
        return _parse_header(method, raw_path, pairs, hdrs, authorization)
    if names & {"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"}:
        return _parse_query(method, raw_path, pairs, hdrs)
    if names & {"AWSAccessKeyId", "Signature"}:
        raise S3Error(Code.InvalidRequest, _SIGV2)
    return None


def _parse_header(
    method: str, raw_path: str, pairs: list[tuple[str, str]], hdrs: dict[str, str], value: str
) -> SigV4Request:
    # [HDR] "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..."; clients differ on
    # the spaces after the commas, so components are split on ',' and stripped.
    scheme, _, rest = value.partition(" ")
    if scheme == "AWS" and ":" in rest:
        raise S3Error(Code.InvalidRequest, _SIGV2)
    if scheme != ALGORITHM:
        argument = {"ArgumentName": "Authorization", "ArgumentValue": value}
        raise S3Error(Code.InvalidArgument, "Unsupported Authorization Type", **argument)
    fields: dict[str, str] = {}
    for component in (c.strip() for c in rest.split(",")):
        name, eq, text = component.partition("=")
        if not eq or name not in ("Credential", "SignedHeaders", "Signature") or name in fields:
            raise _malformed(False, f'the authorization component "{component}" is malformed.')
        fields[name] = text
    if len(fields) != 3:
        detail = "the authorization header requires three components: Credential, SignedHeaders,"
        raise _malformed(False, detail + " and Signature.")
    credential = _credential(fields["Credential"], False)
    signed = _signed_headers(fields["SignedHeaders"], False)
    signature = _signature(fields["Signature"], False)
    # [HDR] calls x-amz-content-sha256 "required for all ... Version 4 requests" and S3 refuses a
    # request without it, but curl signs the body's hash without sending it. The hash stays ""
    # (unknown) until with_payload_hash(); verify() refuses the request as S3 does until then.
    sent = hdrs.get("x-amz-content-sha256")
    payload = "" if sent is None else _payload_hash(sent)
    request_at, amz_date = _header_time(hdrs)
    return _request(
        method,
        raw_path,
        _canonical_query(pairs, ()),
        hdrs,
        presigned=False,
        credential=credential,
        request_at=request_at,
        amz_date=amz_date,
        expires=None,
        signed=signed,
        signature=signature,
        payload=payload,
        token=hdrs.get("x-amz-security-token"),
    )


def _parse_query(
    method: str, raw_path: str, pairs: list[tuple[str, str]], hdrs: dict[str, str]
) -> SigV4Request:
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in PRESIGN_PARAMS:
            if key in params:  # one value each, or the signed and the checked ones could differ
                raise _malformed(True, f"{key} must be given only once.")
            params[key] = value
    if not _REQUIRED_PARAMS <= params.keys():
        message = "Query-string authentication version 4 requires the X-Amz-Algorithm, "
        message += "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
        raise _malformed(True, message + "and X-Amz-Expires parameters.")
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise _malformed(True, f'X-Amz-Algorithm only supports "{ALGORITHM}"')
    credential = _credential(params["X-Amz-Credential"], True)
    amz_date = params["X-Amz-Date"]
    request_at = _parse_time(amz_date)
    if request_at is None:
        message = "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
        raise _malformed(True, message)
    expires = _expires(params["X-Amz-Expires"])
    signed = _signed_headers(params["X-Amz-SignedHeaders"], True)
    signature = _signature(params["X-Amz-Signature"], True)
    # [QRY] the payload is UNSIGNED-PAYLOAD unless the signer put a hash in the query or a header.
    payload = params.get("X-Amz-Content-Sha256") or hdrs.get("x-amz-content-sha256")
    payload = _payload_hash(payload) if payload else UNSIGNED_PAYLOAD
    # [QRY] CanonicalQueryString: "all the query parameters ... except for X-Amz-Signature".
    query = _canonical_query(pairs, ("X-Amz-Signature",))
    return _request(
        method,
        raw_path,
        query,
        hdrs,
        presigned=True,
        credential=credential,
        request_at=request_at,
        amz_date=amz_date,
        expires=expires,
        signed=signed,
        signature=signature,
        payload=payload,
        token=params.get("X-Amz-Security-Token"),
    )


def _expires(value: str) -> int:
    if not re.fullmatch(r"-?[0-9]+", value):
        raise _malformed(True, "X-Amz-Expires should be a number")
    if value.startswith("-"):
        raise _malformed(True, "X-Amz-Expires must be non-negative")
    if len(value.lstrip("0")) > 6 or int(value) > MAX_EXPIRES_SECONDS:  # no 5000-digit int()
        message = "X-Amz-Expires must be less than a week (in seconds); that is, the given "
        raise _malformed(True, message + "X-Amz-Expires must be less than 604800 seconds")
    return int(value)


def _request(
    method: str,
    raw_path: str,
    query: str,
    hdrs: dict[str, str],
    *,
    presigned: bool,
    credential: list[str],
    request_at: datetime,
    amz_date: str,
    expires: int | None,
    signed: tuple[str, ...],
    signature: str,
    payload: str,
    token: str | None,
) -> SigV4Request:
    """[HDR] Task 1 and 2: the canonical request and the string to sign."""
    for name in signed:
        if name not in hdrs:
            what = "X-Amz-SignedHeaders" if presigned else "SignedHeaders"
            raise _malformed(presigned, f'{what} lists "{name}", which the request does not have.')
    block = "".join(f"{name}:{hdrs[name]}\n" for name in signed)
    tail = f"{query}\n{block}\n{';'.join(signed)}\n{payload}"
    uri = canonical_uri(raw_path)
    canonical = f"{method}\n{uri}\n{tail}"
    # Some clients sign the path exactly as they send it instead of AWS-encoding it (an unencoded
    # '(' or an encoded '~'); verify() accepts that form too.
    alt = f"{method}\n{raw_path}\n{tail}" if raw_path and raw_path != uri else None
    akid, scope_date, region, service, _ = credential
    return SigV4Request(
        presigned=presigned,
        access_key_id=akid,
        scope_date=scope_date,
        region=region,
        service=service,
        request_at=request_at,
        amz_date=amz_date,
        expires_seconds=expires,
        signed_headers=signed,
        signature=signature,
        payload_hash=payload,
        payload_hash_sent=payload != "",  # only header auth can leave it unknown
        canonical_request=canonical,
        string_to_sign=_string_to_sign(amz_date, _scope(scope_date, region, service), canonical),
        alt_canonical_request=alt,
        unsigned_headers=_unsigned(hdrs, signed),
        security_token=token,
    )


def _scope(scope_date: str, region: str, service: str) -> str:
    return f"{scope_date}/{region}/{service}/aws4_request"


def _unsigned(hdrs: dict[str, str], signed: tuple[str, ...]) -> tuple[str, ...]:
    # [HDR] "all x-amz-* headers, excluding x-amz-content-sha256, are required" in the signature:
    # an unsigned x-amz-copy-source or x-amz-acl could have been added by anyone on the path.
    return tuple(
        name
        for name in sorted(hdrs)
        if name.startswith("x-amz-") and name not in signed and name != "x-amz-content-sha256"
    )


def with_payload_hash(req: SigV4Request, payload_hash: str) -> SigV4Request:
    """`req` with the hex SHA-256 its client signed but did not send (payload_hash_sent False):
    the canonical request's last line, the string to sign and the alternative rebuilt."""
    if req.payload_hash_sent or not _HEX64.fullmatch(payload_hash):
        raise ValueError("only a hex SHA-256 for a request that did not send its payload hash")
    payload_hash = payload_hash.lower()

    def last_line(canonical: str) -> str:
        return canonical.rpartition("\n")[0] + "\n" + payload_hash

    canonical = last_line(req.canonical_request)
    alt = req.alt_canonical_request
    return replace(
        req,
        payload_hash=payload_hash,
        canonical_request=canonical,
        string_to_sign=_string_to_sign(req.amz_date, req.scope, canonical),
        alt_canonical_request=None if alt is None else last_line(alt),
    )


def verify(
    req: SigV4Request, secret: str, now: datetime, *, region: str, max_skew: timedelta = _SKEW
) -> bytes:
    """Check scope, clock and signature of `req`; return the signing key (for chunksig)."""
    if not req.payload_hash:  # fail closed: never check a signature over an unknown hash
        message = "Missing required header for this request: x-amz-content-sha256"
        raise S3Error(Code.InvalidRequest, message)
    if req.service != "s3":
        detail = f'incorrect service "{req.service}". This endpoint belongs to "s3".'
        raise _malformed(req.presigned, detail, credential=True)
    if req.region != region:
        detail = f"the region '{req.region}' is wrong; expecting '{region}'"
        raise _malformed(req.presigned, detail, credential=True, Region=region)
    request_day = req.request_at.strftime("%Y%m%d")
    if req.scope_date != request_day:  # [HDR] "Scope must use the same date" as the timestamp
        detail = (
            f'Invalid credential date "{req.scope_date}". This date is not the same as X-Amz-Date: '
        )
        raise _malformed(req.presigned, detail + f'"{request_day}".', credential=True)
    _check_time(req, now, max_skew)
    key = signing_key(secret, req.scope_date, req.region, req.service)
    provided = req.signature.encode()
    # hmac.compare_digest: constant time, so timing does not reveal how much of a guess matched.
    if not hmac.compare_digest(hmac_hex(key, req.string_to_sign), provided):
        alt = req.alt_canonical_request
        alt_sts = None if alt is None else _string_to_sign(req.amz_date, req.scope, alt)
        if alt_sts is None or not hmac.compare_digest(hmac_hex(key, alt_sts), provided):
            raise _mismatch(req)
    if req.unsigned_headers:
        headers = ", ".join(req.unsigned_headers)
        message = "There were headers present in the request which were not signed"
        raise S3Error(Code.AccessDenied, message, HeadersNotSigned=headers)
    return key


def _check_time(req: SigV4Request, now: datetime, max_skew: timedelta) -> None:
    if not req.presigned:
        if abs(now - req.request_at) > max_skew:
            skew_ms = str(max_skew // timedelta(milliseconds=1))
            times = {"RequestTime": req.amz_date, "ServerTime": _iso(now)}
            raise S3Error(Code.RequestTimeTooSkewed, **times, MaxAllowedSkewMilliseconds=skew_ms)
        return
    assert req.expires_seconds is not None  # parse() sets it for every presigned request
    expires_at = req.request_at + timedelta(seconds=req.expires_seconds)
    times = {"Expires": _iso(expires_at), "ServerTime": _iso(now)}
    if req.request_at - now > max_skew:
        # S3 renders X-Amz-Date here as epoch milliseconds.
        epoch_ms = {"X-Amz-Date": str(int(req.request_at.timestamp()) * 1000)}
        raise S3Error(Code.AccessDenied, "Request is not yet valid", **epoch_ms, **times)
    if now > expires_at:
        expires = {"X-Amz-Expires": str(req.expires_seconds)}
        raise S3Error(Code.AccessDenied, "Request has expired", **expires, **times)


def _hex_bytes(text: str) -> str:
    return " ".join(f"{byte:02x}" for byte in _utf8(text))


def _mismatch(req: SigV4Request) -> S3Error:
    # What S3 returns so a client can diff its own strings; nothing here derives from the secret.
    return S3Error(
        Code.SignatureDoesNotMatch,
        AWSAccessKeyId=req.access_key_id,
        StringToSign=req.string_to_sign,
        SignatureProvided=req.signature,
        StringToSignBytes=_hex_bytes(req.string_to_sign),
        CanonicalRequest=req.canonical_request,
        CanonicalRequestBytes=_hex_bytes(req.canonical_request),
    )
