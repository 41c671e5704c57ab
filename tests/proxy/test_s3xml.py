"""ListAllMyBucketsResult as S3 renders it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from xml.etree import ElementTree as ET

from proxy.s3xml import S3_NAMESPACE, list_buckets_xml, s3_timestamp

NS = {"s3": S3_NAMESPACE}


def test_s3_timestamp_utc_milliseconds_z() -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    at = datetime(2026, 11, 25, 15, 30, 1, 123456, tzinfo=ist)
    assert s3_timestamp(at) == "2026-11-25T10:00:01.123Z"


def test_list_buckets_xml_lists_names_and_dates_in_namespace() -> None:
    body = list_buckets_xml(
        "7",
        "acme",
        [
            ("a-bucket", datetime(2026, 1, 2, tzinfo=UTC)),
            ("b-bucket", datetime(2026, 3, 4, tzinfo=UTC)),
        ],
    )
    root = ET.fromstring(body)
    assert root.tag == f"{{{S3_NAMESPACE}}}ListAllMyBucketsResult"
    assert root.findtext("s3:Owner/s3:ID", namespaces=NS) == "7"
    names = [b.findtext("s3:Name", namespaces=NS) for b in root.findall("s3:Buckets/s3:Bucket", NS)]
    assert names == ["a-bucket", "b-bucket"]
    assert root.findtext("s3:Buckets/s3:Bucket/s3:CreationDate", namespaces=NS) == (
        "2026-01-02T00:00:00.000Z"
    )


def test_list_buckets_xml_empty_has_empty_buckets_element() -> None:
    root = ET.fromstring(list_buckets_xml("1", "t", []))
    assert root.find("s3:Buckets", NS) is not None
    assert root.findall("s3:Buckets/s3:Bucket", NS) == []


def test_list_buckets_xml_prefix_and_continuation_token() -> None:
    root = ET.fromstring(list_buckets_xml("1", "t", [], prefix="ph", continuation_token="dG9rZW4="))
    assert root.findtext("s3:Prefix", namespaces=NS) == "ph"
    assert root.findtext("s3:ContinuationToken", namespaces=NS) == "dG9rZW4="
