"""What a request does to stored bytes: the storage events of each successful write, and how
much a write may add before it is sent (for the quota).

Owns: the per-operation rules. PutObject and UploadPart store the decoded body they carried;
CopyObject and CompleteMultipartUpload store an object whose size only the upstream knows for
sure, so it is asked (HEAD) once the write succeeded; UploadPartCopy stores its copy range (or
the whole source); DeleteObject removes its key, DeleteObjects only the keys the upstream reports
deleted; AbortMultipartUpload and CompleteMultipartUpload end the upload's parts. Versioning is
refused (see `refusal`): every object has one size, its current one. Does not own: aggregation
(meter), SQL (ledger_usage), XML (s3xml), the HEAD request itself (the caller's `Sizes`).

A 200 answer to CopyObject, UploadPartCopy or CompleteMultipartUpload can still carry an
<Error> (the upstream failed after it started answering): those change nothing.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from proxy import authz, s3xml
from proxy.bodies import Kept
from proxy.s3errors import S3Error, S3ErrorCode
from proxy.usage import ObjectDeleted, ObjectPut, PartPut, StorageEvent, UploadEnded

#: (bucket, key, version id) -> the object's size now, or None when it does not exist.
Sizes = Callable[[str, str, str | None], Awaitable[int | None]]

#: Answers the meter must read: kept while they stream back, up to this many bytes (a
#: DeleteResult for 1,000 keys of 1,024 bytes is about 1.1 MiB).
KEEP_LIMIT = 2 * 1024 * 1024
KEEP_BODY = frozenset({"DeleteObjects", "CopyObject", "UploadPartCopy", "CompleteMultipartUpload"})
#: Writes that can grow a tenant's storage, checked against its quota before they are sent.
GROWING = frozenset({"PutObject", "UploadPart", "CopyObject", "UploadPartCopy"})

_RANGE = re.compile(r"bytes=(\d+)-(\d+)")


@dataclass(frozen=True, slots=True)
class Write:
    """The facts about one request that decide its storage effect."""

    operation: str
    bucket: str
    key: str | None
    query: Mapping[str, str]
    headers: Mapping[str, str]  # the tenant's request headers, case-insensitive


def refusal(operation: str, headers: Mapping[str, str]) -> S3Error | None:
    """Requests the meter cannot follow yet, refused before they reach the upstream: with
    versioning, overwrites and deletes would keep old versions that are still storage."""
    if operation in ("PutBucketVersioning", "PutObjectLockConfiguration"):
        return S3Error(
            S3ErrorCode.NotImplemented,
            "Bucket versioning (and Object Lock, which turns it on) is not available through "
            "BillFlow.",
        )
    if operation == "CreateBucket" and (
        headers.get("x-amz-bucket-object-lock-enabled", "").lower() == "true"
    ):
        return S3Error(
            S3ErrorCode.NotImplemented,
            "Object Lock (which turns versioning on) is not available through BillFlow.",
        )
    return None


async def growth(w: Write, length: int | None, sizes: Sizes) -> int:
    """Bytes the write may add to storage (an overwrite is counted in full: an upper bound)."""
    if w.operation in ("PutObject", "UploadPart"):
        return length or 0
    if w.operation in ("CopyObject", "UploadPartCopy"):
        src = authz.parse_copy_source(w.headers.get("x-amz-copy-source", ""))
        if w.operation == "UploadPartCopy" and (
            m := _RANGE.fullmatch(w.headers.get("x-amz-copy-source-range", ""))
        ):
            return int(m[2]) - int(m[1]) + 1
        return await sizes(src.bucket, src.key, src.version_id) or 0
    return 0


async def events(
    w: Write,
    *,
    at: datetime,
    status: int,
    response_headers: Mapping[str, str],
    kept: Kept | None,
    bytes_in: int,
    sizes: Sizes,
) -> list[StorageEvent]:
    """The storage events of a request the upstream answered with `status`."""
    if status >= 300:
        return []
    if w.operation == "DeleteObjects":
        # Only what the upstream reports deleted; an answer too large to keep is left to
        # reconciliation.
        if kept is None or not kept.complete:
            return []
        keys = s3xml.deleted_keys(bytes(kept.data)) or []
        return [ObjectDeleted(at, w.bucket, key) for key in keys]
    if w.key is None:
        return []
    if (
        w.operation in KEEP_BODY
        and kept is not None
        and (not kept.complete or s3xml.is_error_document(bytes(kept.data)))
    ):
        return []  # an <Error> after the 200, or an answer cut off: reconciliation settles it
    b, k = w.bucket, w.key
    match w.operation:
        case "PutObject":
            return [ObjectPut(at, b, k, bytes_in)]
        case "UploadPart":
            return [PartPut(at, b, w.query["uploadId"], int(w.query["partNumber"]), bytes_in)]
        case "UploadPartCopy":
            copied = await growth(w, None, sizes)
            return [PartPut(at, b, w.query["uploadId"], int(w.query["partNumber"]), copied)]
        case "CopyObject" | "CompleteMultipartUpload":
            # "null" is the only version of an unversioned key: ask for the key itself (moto
            # sends x-amz-version-id: null there, and refuses HEAD ?versionId=null).
            version = response_headers.get("x-amz-version-id")
            size = await sizes(b, k, None if version in (None, "null") else version)
            ended = (
                [UploadEnded(at, b, w.query["uploadId"])]
                if w.operation == "CompleteMultipartUpload"
                else []
            )
            return [*ended, *([] if size is None else [ObjectPut(at, b, k, size)])]
        case "AbortMultipartUpload":
            return [UploadEnded(at, b, w.query["uploadId"])]
        case "DeleteObject":
            return [ObjectDeleted(at, b, k)]
    return []
