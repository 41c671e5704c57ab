"""ListAllMyBucketsResult as S3 renders it, and what the meter reads from upstream answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from xml.etree import ElementTree as ET

import pytest

from proxy.s3xml import (
    S3_NAMESPACE,
    deleted_keys,
    is_error_document,
    list_buckets_xml,
    s3_timestamp,
)

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


# -- what the meter reads from the upstream's answers --------------------------------------

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
ERROR_ELEMENT = b"<Error><Code>InternalError</Code><Message>Try again.</Message></Error>"
DELETE_RESULT = (
    "<Deleted><Key>a.txt</Key></Deleted>"
    "<Error><Key>locked.txt</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
    "<Deleted><Key>dir/b&amp;c &#233;.txt</Key><VersionId>null</VersionId>"
    "<DeleteMarker>false</DeleteMarker></Deleted>"
    "</DeleteResult>"
)


@pytest.mark.parametrize(
    "document, is_error",
    [
        pytest.param(XML_DECLARATION + ERROR_ELEMENT, True, id="error"),
        pytest.param(ERROR_ELEMENT, True, id="error-no-declaration"),
        pytest.param(
            ERROR_ELEMENT.replace(b"<Error>", f'<Error xmlns="{S3_NAMESPACE}">'.encode()),
            True,
            id="error-namespaced",
        ),
        # A slow CompleteMultipartUpload is kept alive with whitespace before its document.
        pytest.param(b"  \n  " + XML_DECLARATION + ERROR_ELEMENT, True, id="error-after-spaces"),
        pytest.param(XML_DECLARATION + b"   " + ERROR_ELEMENT, True, id="spaces-inside"),
        pytest.param(
            XML_DECLARATION
            + f'<CopyObjectResult xmlns="{S3_NAMESPACE}"><ETag>"e"</ETag>'.encode()
            + b"</CopyObjectResult>",
            False,
            id="copy-result-namespaced",
        ),
        pytest.param(b"<CopyPartResult><ETag>e</ETag></CopyPartResult>", False, id="copy-part"),
        pytest.param(
            b"  " + XML_DECLARATION + b"<CompleteMultipartUploadResult/>",
            False,
            id="complete-after-spaces",
        ),
        pytest.param(
            b"<DeleteResult><Error><Key>k</Key></Error></DeleteResult>",
            False,
            id="error-entry-not-root",
        ),
        pytest.param(b"<ErrorDocument/>", False, id="similar-name"),
    ],
)
def test_is_error_document_by_root_element(document: bytes, is_error: bool) -> None:
    assert is_error_document(document) is is_error


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"   ", id="whitespace"),
        pytest.param(b"not xml", id="text"),
        pytest.param((XML_DECLARATION + ERROR_ELEMENT)[:-5], id="error-cut-short"),
        pytest.param(b"<Error><Code>x</Error>", id="mismatched"),
        pytest.param(b"\xff\xfe<Error/>", id="bad-encoding"),
    ],
)
def test_is_error_document_malformed_says_no(document: bytes) -> None:
    """A document that does not parse says nothing either way: not proof of an error."""
    assert is_error_document(document) is False


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(f'<DeleteResult xmlns="{S3_NAMESPACE}">{DELETE_RESULT}', id="namespaced"),
        pytest.param(f"<DeleteResult>{DELETE_RESULT}", id="plain"),
        pytest.param(
            f'<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult>{DELETE_RESULT}',
            id="declaration",
        ),
        pytest.param(f"  \n<DeleteResult>{DELETE_RESULT}", id="leading-spaces"),
    ],
)
def test_deleted_keys_lists_deleted_entries_not_errors(document: str) -> None:
    assert deleted_keys(document.encode()) == ["a.txt", "dir/b&c \u00e9.txt"]


@pytest.mark.parametrize(
    "document, keys",
    [
        pytest.param(b"<DeleteResult/>", [], id="quiet-all-deleted"),
        pytest.param(
            b"<DeleteResult><Error><Key>k</Key><Code>AccessDenied</Code></Error></DeleteResult>",
            [],
            id="only-errors",
        ),
        pytest.param(
            b"<DeleteResult><Deleted><Key></Key></Deleted></DeleteResult>", [""], id="empty-key"
        ),
        pytest.param(
            b"<DeleteResult><Deleted><VersionId>v</VersionId></Deleted></DeleteResult>",
            [],
            id="deleted-without-key",
        ),
        pytest.param(
            b"<DeleteResult><Deleted><Key>k</Key></Deleted><Deleted><Key>k</Key></Deleted>"
            b"</DeleteResult>",
            ["k", "k"],
            id="repeated-key",
        ),
    ],
)
def test_deleted_keys_edge_documents(document: bytes, keys: list[str]) -> None:
    assert deleted_keys(document) == keys


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not xml", id="text"),
        pytest.param(f"<DeleteResult>{DELETE_RESULT}".encode()[:60], id="cut-short"),
        pytest.param(XML_DECLARATION + ERROR_ELEMENT, id="error-document"),
        pytest.param(b"<CopyObjectResult/>", id="other-document"),
    ],
)
def test_deleted_keys_not_a_delete_result_none(document: bytes) -> None:
    assert deleted_keys(document) is None
