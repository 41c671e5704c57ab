"""AWS Signature Version 2 for S3: verify `Authorization: AWS` headers and presigned URLs.

Deprecated by AWS (regions opened after 30 January 2014 take only SigV4), still accepted by MinIO
(cmd/signature-v2.go) and Ceph RGW (rgw_auth_s3.cc), and what `aws s3 presign` and boto3's
`generate_presigned_url` produce by default (botocore's HmacV1QueryAuth).

Owns: parsing the Authorization header or the AWSAccessKeyId/Expires/Signature query parameters
into a `SigV2Request`, the StringToSign (CanonicalizedAmzHeaders, CanonicalizedResource and its
sub-resources), the clock and expiry checks, and the HMAC-SHA1 comparison. Does not own: finding
the secret (the ledger, between `parse` and `verify`), telling a virtual-hosted bucket from the
Host header (addressing.py; the caller passes `virtual_bucket`), the body, or rendering errors.
Pure: no I/O; `now` is a parameter.

What a SigV2 signature does not protect: the body (only a Content-MD5 header, which is signed,
binds it; the gateway treats SigV2 bodies as UNSIGNED-PAYLOAD and still checks Content-MD5 and
x-amz-checksum-*), headers other than Content-MD5, Content-Type, Date and x-amz-* (Range, If-*,
Content-Encoding, Host...), and query parameters that are not sub-resources (prefix, max-keys,
list-type...). A presigned URL works for anyone holding it until Expires, with no upper bound.

Sections cited, all in "Signing and authenticating REST requests (AWS signature version 2)" of the
Amazon S3 documentation: [AUTH] "The authentication header"; [RES] "Constructing the
CanonicalizedResource element"; [AMZ] "Constructing the CanonicalizedAmzHeaders element"; [TIME]
"Time stamp requirement"; [QSA] "Query string request authentication alternative".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote, unquote_to_bytes

from proxy.s3errors import S3Error
from proxy.s3errors import S3ErrorCode as Code

# [QSA] the parameters of a presigned URL; the gateway strips them before forwarding.
SIGV2_QUERY_PARAMS: frozenset[str] = frozenset({"AWSAccessKeyId", "Expires", "Signature"})
# [RES] step 4 lists the sub-resources S3 signs (acl ... website, the response-* overrides,
# delete); botocore's HmacV1Auth.QSAOfInterest, what aws-cli and boto3 sign, has more. A signer
# and a verifier must agree on this list exactly.
_SIGNED_BY_BOTOCORE = (
    "accelerate acl analytics cors defaultObjectAcl delete inventory lifecycle location logging "
    "metrics notification object-lock partNumber policy replication requestPayment "
    "response-cache-control response-content-disposition response-content-encoding "
    "response-content-language response-content-type response-expires restore select "
    "select-type storageClass tagging torrent uploadId uploads versionId versioning versions "
    "website"
)
# Query keys that select another operation in S3's API model but that botocore leaves unsigned.
# Unsigned, they would let anyone holding a URL presigned for DELETE /bucket/ send DELETE
# /bucket/?encryption instead. We sign them when present, as MinIO and Ceph RGW do for
# encryption, legal-hold, retention, policyStatus and publicAccessBlock; a botocore signature of
# such a request does not match. (list-type is left out: ListObjects v1 and v2 read the same.)
_OPERATION_SELECTORS = (
    "abac annotation attributes encryption intelligent-tiering legal-hold metadataAnnotationTable "
    "metadataConfiguration metadataInventoryTable metadataJournalTable metadataTable "
    "ownershipControls policyStatus publicAccessBlock renameObject retention session"
)
SUBRESOURCES: frozenset[str] = frozenset(f"{_SIGNED_BY_BOTOCORE} {_OPERATION_SELECTORS}".split())

# Messages as S3 words them (seen in its answers quoted by client projects' issue threads).
_BAD_HEADER = "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature"
_BAD_QUERY = (
    "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"
)
_ONE_MECHANISM = (
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
    "string parameter or the Authorization header should be specified"
)
_NO_DATE = "AWS authentication requires a valid Date or x-amz-date header"
_V4_QUERY = frozenset({"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"})
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_SKEW = timedelta(minutes=15)  # [TIME] "within 15 minutes of the Amazon S3 system time"

Pairs = list[tuple[str, str | None]]  # decoded query; None: the key came without '='


@dataclass(frozen=True)
class SigV2Request:
    presigned: bool
    access_key_id: str
    signature: str  # base64 as sent
    string_to_sign: str
    expires_at: datetime | None  # presigned: from Expires
    request_at: datetime | None  # header auth: x-amz-date or Date
    # Other spellings of the same request that clients sign (see _resources, _date_forms).
    alt_strings_to_sign: tuple[str, ...] = ()
    request_time: str = ""  # header auth: the Date or x-amz-date value as sent
    # Presigned: header values botocore moved into the query. The signature covers them, so the
    # gateway sends them upstream as headers and drops them from the query.
    hoisted_headers: tuple[tuple[str, str], ...] = ()
    security_token: str | None = None


def is_sigv2(raw_query: str, headers: Sequence[tuple[str, str]]) -> bool:
    """Whether the request claims SigV2: then `parse` here, not `sigv4.parse`, handles it."""
    for name, value in headers:
        if name.lower() == "authorization" and value:
            return value.startswith("AWS ")
    names = {unquote(piece.partition("=")[0]) for piece in raw_query.split("&")}
    return bool(names & {"AWSAccessKeyId", "Signature"}) and not names & _V4_QUERY


def _header_map(headers: Sequence[tuple[str, str]]) -> dict[str, str]:
    # [AMZ] lower-case names; repeated headers become one comma-separated list "without any
    # spaces between values", each value trimmed (as botocore's canonical_custom_headers does).
    grouped: dict[str, list[str]] = {}
    for name, value in headers:
        grouped.setdefault(name.lower(), []).append(value.strip())
    return {name: ",".join(values) for name, values in grouped.items()}


def _decode(component: str) -> str:
    try:  # '+' stays '+', as botocore's unquote() leaves it
        return unquote_to_bytes(component).decode("utf-8")
    except UnicodeError:
        raise S3Error(Code.InvalidURI) from None


def _query_pairs(raw_query: str) -> Pairs:
    pairs: Pairs = []
    for piece in filter(None, raw_query.split("&")):
        key, eq, value = piece.partition("=")
        pairs.append((_decode(key), _decode(value) if eq else None))
    return pairs


def parse(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Sequence[tuple[str, str]],
    *,
    virtual_bucket: str | None = None,
) -> SigV2Request | None:
    """Parse the SigV2 authentication of a request; None when it carries none (anonymous).

    `virtual_bucket`: the bucket named by the Host header of a virtual-hosted-style request
    (addressing.py knows the base domains); [RES] puts "/" + bucket before the path.
    """
    hdrs = _header_map(headers)
    pairs = _query_pairs(raw_query)
    names = {key for key, _ in pairs}
    resources = _resources(raw_path, pairs, virtual_bucket)
    authorization = hdrs.get("authorization", "")
    if authorization:
        if names & {"X-Amz-Algorithm", "Signature"}:
            argument = {"ArgumentName": "Authorization", "ArgumentValue": authorization}
            raise S3Error(Code.InvalidArgument, _ONE_MECHANISM, **argument)
        return _parse_header(method, hdrs, authorization, resources)
    if names & {"AWSAccessKeyId", "Signature"}:
        return _parse_query(method, hdrs, pairs, resources)
    return None


def _parse_header(
    method: str, hdrs: dict[str, str], value: str, resources: list[str]
) -> SigV2Request:
    # [AUTH] Authorization = "AWS" + " " + AWSAccessKeyId + ":" + Signature
    scheme, _, credentials = value.partition(" ")
    fields = credentials.strip().split(":")
    if scheme != "AWS" or len(fields) != 2 or not fields[0] or not _BASE64.fullmatch(fields[1]):
        argument = {"ArgumentName": "Authorization", "ArgumentValue": value}
        raise S3Error(Code.InvalidArgument, _BAD_HEADER, **argument)
    request_at, request_time = _header_time(hdrs)
    strings = [
        _string_to_sign(method, hdrs, date, amz, resource)
        for date, amz in _date_forms(hdrs)
        for resource in resources
    ]
    return SigV2Request(
        presigned=False,
        access_key_id=fields[0],
        signature=fields[1],
        string_to_sign=strings[0],
        expires_at=None,
        request_at=request_at,
        alt_strings_to_sign=tuple(strings[1:]),
        request_time=request_time,
        security_token=hdrs.get("x-amz-security-token"),
    )


def _date_forms(hdrs: dict[str, str]) -> list[tuple[str, str]]:
    """(Date line, CanonicalizedAmzHeaders) pairs, the first as [TIME] prescribes."""
    amz = _amz_headers(hdrs)
    if "x-amz-date" not in hdrs:
        return [(hdrs["date"], amz)]
    # [TIME]: with x-amz-date, "use the empty string for the Date" (boto, s3cmd, Ceph RGW). The
    # doc's own Delete example instead moves x-amz-date into the Date line; MinIO keeps the Date
    # header there. Each form signs x-amz-date, the time we check.
    forms = [("", amz), (hdrs["x-amz-date"], _amz_headers(hdrs, skip="x-amz-date"))]
    return forms + ([(hdrs["date"], amz)] if "date" in hdrs else [])


def _amz_headers(hdrs: dict[str, str], skip: str = "") -> str:
    # [AMZ] every x-amz-* header, sorted by lower-case name, each "name:value\n".
    names = sorted(n for n in hdrs if n.startswith("x-amz-") and n != skip)
    return "".join(f"{name}:{hdrs[name]}\n" for name in names)


def _string_to_sign(method: str, hdrs: dict[str, str], date: str, amz: str, resource: str) -> str:
    # [AUTH] HTTP-Verb, Content-MD5, Content-Type, Date (or Expires), then CanonicalizedAmzHeaders
    # and CanonicalizedResource; an absent positional header is "".
    md5, content_type = hdrs.get("content-md5", ""), hdrs.get("content-type", "")
    return f"{method}\n{md5}\n{content_type}\n{date}\n{amz}{resource}"


def _resources(raw_path: str, pairs: Pairs, virtual_bucket: str | None) -> list[str]:
    # [RES] "/" + bucket for a virtual-hosted request, then the path of "the un-decoded HTTP
    # Request-URI", signed "literally ... including URL-Encoding and capitalization".
    prefix = f"/{virtual_bucket}" if virtual_bucket else ""
    path = raw_path or "/"
    # [RES] step 4: sub-resources sorted by name with their decoded values ("When signing, you
    # do not encode these values"); a bare "?acl" stays "acl", "?versionId=" keeps its '='.
    signed = sorted(((k, v) for k, v in pairs if k in SUBRESOURCES), key=lambda kv: kv[0])
    query = "&".join(key if value is None else f"{key}={value}" for key, value in signed)
    query = "?" + query if query else ""
    # Some clients sign the key AWS-encoded but send it otherwise (a raw '(', '%7E', lower-case
    # hex), so the AWS encoding of the path is accepted too, as sigv4.canonical_uri builds it.
    # Segments are decoded and re-encoded one by one: a form names the same key as the path.
    encoded = "/".join(
        quote(unquote_to_bytes(segment.encode("utf-8", "surrogateescape")), safe="")
        for segment in path.split("/")
    )
    paths = [path] if encoded == path else [path, encoded]
    if not prefix and path.count("/") == 1 and path != "/":
        # A path-style request for a bucket alone ("/bucket"): S3 signs "/bucket/" (botocore,
        # handlers.py: "the auth_path must be terminated with a '/' character"); MinIO the path.
        paths.insert(0, path + "/")
    return [prefix + p + query for p in paths]


def _header_time(hdrs: dict[str, str]) -> tuple[datetime, str]:
    # [TIME] x-amz-date, when sent, wins over Date; either in an RFC 2616 format (Ceph RGW also
    # takes ISO 8601, as 20130524T000000Z). Without a valid one S3 answers AccessDenied.
    value = hdrs["x-amz-date"] if "x-amz-date" in hdrs else hdrs.get("date", "")
    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        try:
            at = datetime.strptime(value, "%Y%m%dT%H%M%SZ")
        except ValueError:
            raise S3Error(Code.AccessDenied, _NO_DATE) from None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC), value


def _parse_query(
    method: str, hdrs: dict[str, str], pairs: Pairs, resources: list[str]
) -> SigV2Request:
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in SIGV2_QUERY_PARAMS:
            if key in params:  # one value each, or the checked and the forwarded could differ
                raise S3Error(Code.InvalidArgument, f"{key} must be given only once.")
            params[key] = value or ""
    if not all(params.get(name) for name in SIGV2_QUERY_PARAMS):
        raise S3Error(Code.AccessDenied, _BAD_QUERY)
    expires = params["Expires"]
    # [QSA] botocore moves x-amz-*, Content-MD5 and Content-Type into the query of a URL it
    # presigns and signs them in their header slots. A header sent with the request wins.
    hoisted = _header_map(
        [
            (key, value or "")
            for key, value in pairs
            if key.lower().startswith("x-amz-") or key.lower() in ("content-md5", "content-type")
        ]
    )
    hoisted = {name: value for name, value in hoisted.items() if name not in hdrs}
    effective = hdrs | hoisted
    # [QSA] Expires replaces Date in the StringToSign; CanonicalizedAmzHeaders stay.
    amz = _amz_headers(effective)
    strings = [_string_to_sign(method, effective, expires, amz, res) for res in resources]
    return SigV2Request(
        presigned=True,
        access_key_id=params["AWSAccessKeyId"],
        signature=params["Signature"],
        string_to_sign=strings[0],
        expires_at=_expires_at(expires),
        request_at=None,
        alt_strings_to_sign=tuple(strings[1:]),
        hoisted_headers=tuple(sorted(hoisted.items())),
        security_token=effective.get("x-amz-security-token"),
    )


def _expires_at(value: str) -> datetime:
    # [QSA] Expires: "the number of seconds since the epoch". Twelve digits reach the year 9999.
    try:
        if re.fullmatch(r"[0-9]{1,12}", value):
            return datetime.fromtimestamp(int(value), UTC)
    except (OverflowError, ValueError):
        pass
    raise S3Error(Code.AccessDenied, f"Invalid date (should be seconds since epoch): {value}")


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def verify(req: SigV2Request, secret: str, now: datetime, *, max_skew: timedelta = _SKEW) -> None:
    """Check expiry (presigned) or clock skew (header auth), then the signature of `req`."""
    if req.presigned:
        assert req.expires_at is not None  # parse() sets it for every presigned request
        # [QSA] "A request received after this time (according to the server) will be rejected."
        if now > req.expires_at:
            times = {"Expires": _iso(req.expires_at), "ServerTime": _iso(now)}
            raise S3Error(Code.AccessDenied, "Request has expired", **times)
    else:
        assert req.request_at is not None  # parse() sets it for every header-auth request
        if abs(now - req.request_at) > max_skew:
            skew_ms = str(max_skew // timedelta(milliseconds=1))
            times = {"RequestTime": req.request_time, "ServerTime": _iso(now)}
            raise S3Error(Code.RequestTimeTooSkewed, **times, MaxAllowedSkewMilliseconds=skew_ms)
    # [AUTH] Signature = Base64(HMAC-SHA1(secret, UTF-8 of StringToSign)). Compared as bytes (as
    # MinIO does: base64 has more than one spelling) in constant time, so timing reveals nothing.
    try:
        provided = base64.b64decode(req.signature, validate=True)
    except binascii.Error:
        provided = b""
    key = secret.encode("utf-8")
    for string in (req.string_to_sign, *req.alt_strings_to_sign):
        if hmac.compare_digest(hmac.new(key, _utf8(string), hashlib.sha1).digest(), provided):
            return
    # What S3 returns for SigV2 so a client can diff its own string; nothing derives from secret.
    raise S3Error(
        Code.SignatureDoesNotMatch,
        AWSAccessKeyId=req.access_key_id,
        StringToSign=req.string_to_sign,
        SignatureProvided=req.signature,
        StringToSignBytes=" ".join(f"{byte:02x}" for byte in _utf8(req.string_to_sign)),
    )


def _utf8(text: str) -> bytes:
    # Header values undecodable as UTF-8 reach us surrogate-escaped; sign their original bytes.
    return text.encode("utf-8", "surrogateescape")
