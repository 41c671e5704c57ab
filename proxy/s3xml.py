"""S3 XML documents BillFlow answers itself (not errors: those are s3errors.py's).

Owns: `ListAllMyBucketsResult`, because ListBuckets is answered from the ledger (the upstream
holds every tenant's buckets under one account). Built with ElementTree, never by pasting strings.
Pure: stdlib only.

Reference: Amazon S3 API Reference, ListBuckets, "Response Syntax".
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
