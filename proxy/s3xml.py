"""S3 XML documents BillFlow answers itself (not errors: those are s3errors.py's).

Owns: `ListAllMyBucketsResult`, because ListBuckets is answered from the ledger (the upstream
holds every tenant's buckets under one account), built with ElementTree, never by pasting
strings; and the two things the meter reads from the upstream's answers: which keys a
DeleteObjects deleted, and whether a 200 answer is really an error document (CopyObject and
CompleteMultipartUpload can fail after the 200 went out). Pure: stdlib only.

Reference: Amazon S3 API Reference, ListBuckets, DeleteObjects, CopyObject and
CompleteMultipartUpload, "Response Syntax".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"


def s3_timestamp(at: datetime) -> str:
    """S3's ISO 8601 form with milliseconds and Z, e.g. 2026-11-25T10:00:00.000Z."""
    utc = at.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def list_buckets_xml(
    owner_id: str,
    owner_name: str,
    buckets: Iterable[tuple[str, datetime]],
    *,
    prefix: str | None = None,
    continuation_token: str | None = None,
) -> bytes:
    """`continuation_token`: where the next page starts, when there is one."""
    root = ET.Element("ListAllMyBucketsResult", xmlns=S3_NAMESPACE)
    owner = ET.SubElement(root, "Owner")
    ET.SubElement(owner, "ID").text = owner_id
    ET.SubElement(owner, "DisplayName").text = owner_name
    listed = ET.SubElement(root, "Buckets")
    for name, created_at in buckets:
        bucket = ET.SubElement(listed, "Bucket")
        ET.SubElement(bucket, "Name").text = name
        ET.SubElement(bucket, "CreationDate").text = s3_timestamp(created_at)
    if continuation_token is not None:
        ET.SubElement(root, "ContinuationToken").text = continuation_token
    if prefix is not None:
        ET.SubElement(root, "Prefix").text = prefix
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _root(document: bytes) -> ET.Element | None:
    try:
        # S3 keeps a slow CompleteMultipartUpload alive by sending whitespace before the
        # document; an XML declaration after it would not parse.
        return ET.fromstring(document.lstrip())
    except ET.ParseError:
        return None


def is_error_document(document: bytes) -> bool:
    """True for an `<Error>` document. One that does not parse says nothing either way."""
    root = _root(document)
    return root is not None and _local(root.tag) == "Error"


def deleted_keys(document: bytes) -> list[str] | None:
    """The keys of a `DeleteResult`'s `<Deleted>` entries; None when it does not parse."""
    root = _root(document)
    if root is None or _local(root.tag) != "DeleteResult":
        return None
    keys = []
    for entry in root:
        if _local(entry.tag) != "Deleted":
            continue
        for field in entry:
            if _local(field.tag) == "Key":
                keys.append(field.text or "")
    return keys


# -- listings reconciliation reads (ListObjectVersions, ListMultipartUploads, ListParts) ------


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in element if _local(c.tag) == name]


def _text(element: ET.Element, name: str, default: str = "") -> str:
    for child in element:
        if _local(child.tag) == name:
            return child.text or ""
    return default


def _listing(document: bytes, *kinds: str) -> ET.Element:
    root = _root(document)
    if root is None or _local(root.tag) not in kinds:
        raise ValueError(f"expected a {kinds[0]} document")
    return root


def _next(root: ET.Element, *names: str) -> tuple[str, ...] | None:
    """The markers of the next page, or None when this page is the last."""
    if _text(root, "IsTruncated").lower() != "true":
        return None
    return tuple(_text(root, name) for name in names)


def versions_page(
    document: bytes,
) -> tuple[list[tuple[str, str, int]], tuple[str, ...] | None]:
    """A `ListVersionsResult`: (key, version id, size) of every version and delete marker
    (size 0), and (NextKeyMarker, NextVersionIdMarker) when truncated."""
    root = _listing(document, "ListVersionsResult")
    entries = []
    for entry in root:
        kind = _local(entry.tag)
        if kind in ("Version", "DeleteMarker"):
            size = int(_text(entry, "Size", "0") or 0) if kind == "Version" else 0
            entries.append((_text(entry, "Key"), _text(entry, "VersionId", "null"), size))
    return entries, _next(root, "NextKeyMarker", "NextVersionIdMarker")


def uploads_page(document: bytes) -> tuple[list[tuple[str, str]], tuple[str, ...] | None]:
    """A `ListMultipartUploadsResult`: (key, upload id) of each upload in progress, and
    (NextKeyMarker, NextUploadIdMarker) when truncated."""
    root = _listing(document, "ListMultipartUploadsResult")
    entries = [(_text(u, "Key"), _text(u, "UploadId")) for u in _children(root, "Upload")]
    return entries, _next(root, "NextKeyMarker", "NextUploadIdMarker")


def parts_page(document: bytes) -> tuple[list[tuple[int, int]], tuple[str, ...] | None]:
    """A `ListPartsResult`: (part number, size) of each part, and (NextPartNumberMarker,)
    when truncated."""
    # moto names the root ListPartsResponse; S3 and MinIO, ListPartsResult.
    root = _listing(document, "ListPartsResult", "ListPartsResponse")
    entries = [
        (int(_text(p, "PartNumber")), int(_text(p, "Size", "0"))) for p in _children(root, "Part")
    ]
    return entries, _next(root, "NextPartNumberMarker")
