"""Which buckets a request names, and what kind of bucket operation it is: isolation's inputs.

Owns: reading `x-amz-copy-source` (CopyObject, UploadPartCopy) the way S3 does, listing every bucket
a request touches, and recognising the requests whose answer depends on bucket ownership itself
(ListBuckets, CreateBucket, DeleteBucket). Pure: stdlib, s3errors and addressing; no I/O.

Does not own: who owns a bucket (the ledger) or the decision to refuse (s3app applies it: a
bucket of another tenant and a bucket that exists nowhere answer the same AccessDenied, so
existence does not leak).

References (Amazon S3 API Reference): CopyObject and UploadPartCopy, "x-amz-copy-source": "the
bucket name and the key name of the source object, separated by a slash (/) ... The value must be
URL-encoded", optionally followed by `?versionId=`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from proxy.addressing import Target, resolve
from proxy.s3errors import S3Error, S3ErrorCode


class BucketOperation(enum.Enum):
    """Requests whose answer is about bucket ownership itself."""

    LIST_BUCKETS = "ListBuckets"
    CREATE_BUCKET = "CreateBucket"
    DELETE_BUCKET = "DeleteBucket"


@dataclass(frozen=True)
class CopySource:
    bucket: str
    key: str
    version_id: str | None


def _invalid_copy_source(value: str) -> S3Error:
    return S3Error(
        S3ErrorCode.InvalidArgument,
        "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
        ArgumentName="x-amz-copy-source",
        ArgumentValue=value,
    )


def parse_copy_source(value: str) -> CopySource:
    """`x-amz-copy-source`: "[/]bucket/key[?versionId=v]", URL-encoded.

    The bucket is validated with the same rules as an addressed bucket, so a percent-encoded or
    upper-case spelling cannot name a bucket the ownership check would not recognise.
    """
    path, sep, query = value.partition("?")
    version_id: str | None = None
    if sep:
        name, _, version = query.partition("=")
        if name != "versionId" or not version:
            raise _invalid_copy_source(value)
        version_id = _decode(version, value)
    path = path.removeprefix("/")
    bucket_raw, slash, key_raw = path.partition("/")
    if not slash or not bucket_raw or not key_raw:
        raise _invalid_copy_source(value)
    bucket = _decode(bucket_raw, value)
    # Reuse addressing's bucket-name rules; its key decoding is the same percent-decoding.
    target = resolve(None, "/" + _reencode(bucket) + "/" + key_raw, ())
    assert target.bucket is not None and target.key is not None
    return CopySource(bucket=target.bucket, key=target.key, version_id=version_id)


def _decode(text: str, whole: str) -> str:
    try:
        return unquote_to_bytes(text).decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid_copy_source(whole) from None


def _reencode(bucket: str) -> str:
    # A decoded bucket name may hold characters ('/', '%') that would change the path's shape;
    # encoding them makes addressing see (and refuse) exactly this name.
    return "".join(c if c.isalnum() or c in ".-" else f"%{ord(c):02X}" for c in bucket)


def buckets_named(target: Target, headers: Mapping[str, str]) -> tuple[str, ...]:
    """Every bucket the request touches: the addressed one and any copy source's.

    `headers` is read by lower-case name (a dict of lower-cased names, or aiohttp's case-insensitive
    headers). A copy source on a request that cannot copy is still checked:
    refusing too much is safe, forwarding an unchecked bucket name is not.
    """
    named: list[str] = []
    if target.bucket is not None:
        named.append(target.bucket)
    source = headers.get("x-amz-copy-source")
    if source is not None:
        bucket = parse_copy_source(source).bucket
        if bucket not in named:
            named.append(bucket)
    return tuple(named)


#: Query names that make a bucket-level PUT or DELETE another operation than CreateBucket or
#: DeleteBucket (PutBucketVersioning, DeleteBucketPolicy, ...): botocore's S3 model, which
#: tests/proxy/test_authz.py walks to keep these in step. Any other parameter leaves the request
#: a CreateBucket or DeleteBucket as far as the upstream is concerned (MinIO and moto ignore
#: unknown parameters), so it must be treated as one here too.
_PUT_BUCKET_SUBRESOURCES = frozenset(
    "abac accelerate acl analytics cors encryption intelligent-tiering inventory lifecycle logging"
    " metadataAnnotationTable metadataInventoryTable metadataJournalTable metrics notification"
    " object-lock ownershipControls policy publicAccessBlock replication requestPayment tagging"
    " versioning website".split()
)
_DELETE_BUCKET_SUBRESOURCES = frozenset(
    "analytics cors encryption intelligent-tiering inventory lifecycle metadataConfiguration"
    " metadataTable metrics ownershipControls policy publicAccessBlock replication tagging"
    " website".split()
)

#: Headers whose value decides what a request may touch or what its body must match. Sent twice,
#: the check here would read one value and the upstream might act on the other.
_SINGLE_VALUED = frozenset(
    {
        "x-amz-copy-source",
        "x-amz-copy-source-range",
        "x-amz-content-sha256",
        "x-amz-decoded-content-length",
        "x-amz-trailer",
        "content-md5",
        "host",
    }
)


def refuse_repeated_headers(headers: Sequence[tuple[str, str]]) -> None:
    """400 InvalidArgument when a header that access or integrity checks read is repeated."""
    seen: set[str] = set()
    for name, _ in headers:
        lower = name.lower()
        if lower in _SINGLE_VALUED or lower.startswith("x-amz-checksum-"):
            if lower in seen:
                raise S3Error(
                    S3ErrorCode.InvalidArgument,
                    f"The {lower} header may be given only once.",
                    ArgumentName=lower,
                )
            seen.add(lower)


def bucket_operation(method: str, target: Target, raw_query: str) -> BucketOperation | None:
    """ListBuckets (GET /), CreateBucket (PUT /bucket), DeleteBucket (DELETE /bucket).

    A known sub-resource in the query (`?versioning`, `?tagging`, ...) makes it another operation
    on an existing bucket, which the ordinary ownership check covers.
    """
    params = {p.partition("=")[0] for p in raw_query.split("&") if p}
    if target.bucket is None:
        # Every GET naming no bucket is ListBuckets (prefix, max-buckets, continuation-token and
        # bucket-region are its parameters): the upstream's answer would list every tenant's
        # buckets, so nothing service-level is ever forwarded.
        return BucketOperation.LIST_BUCKETS if method in ("GET", "HEAD") else None
    if target.key is not None:
        return None
    if method == "PUT" and not params & _PUT_BUCKET_SUBRESOURCES:
        return BucketOperation.CREATE_BUCKET
    if method == "DELETE" and not params & _DELETE_BUCKET_SUBRESOURCES:
        return BucketOperation.DELETE_BUCKET
    return None
