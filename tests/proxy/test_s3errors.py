"""S3 error XML: one table, one renderer, user data escaped by ElementTree."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest

from proxy.s3errors import S3Error, S3ErrorCode, error_xml


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (S3ErrorCode.AccessDenied, 403),
        (S3ErrorCode.SignatureDoesNotMatch, 403),
        (S3ErrorCode.InvalidAccessKeyId, 403),
        (S3ErrorCode.RequestTimeTooSkewed, 403),
        (S3ErrorCode.AuthorizationHeaderMalformed, 400),
        (S3ErrorCode.XAmzContentSHA256Mismatch, 400),
        (S3ErrorCode.BadDigest, 400),
        (S3ErrorCode.InvalidDigest, 400),
        (S3ErrorCode.IncompleteBody, 400),
        (S3ErrorCode.MissingContentLength, 411),
        (S3ErrorCode.ServiceUnavailable, 503),
        (S3ErrorCode.InternalError, 500),
    ],
)
def test_error_code_status_matches_s3(code: S3ErrorCode, status: int) -> None:
    assert S3Error(code).status == status


def test_error_xml_extras_in_order_after_message() -> None:
    err = S3Error(S3ErrorCode.SignatureDoesNotMatch, StringToSign="a", CanonicalRequest="b")
    root = ET.fromstring(error_xml(err, request_id="RID", resource="/b/k"))
    assert [child.tag for child in root] == [
        "Code",
        "Message",
        "StringToSign",
        "CanonicalRequest",
        "Resource",
        "RequestId",
    ]
    assert root.findtext("Code") == "SignatureDoesNotMatch"
    assert root.findtext("RequestId") == "RID"


def test_error_xml_user_data_is_escaped_not_pasted() -> None:
    hostile = "</Message><Code>Owned</Code>&"
    body = error_xml(S3Error(S3ErrorCode.AccessDenied, hostile), request_id="R", resource=hostile)
    root = ET.fromstring(body)
    assert root.findtext("Message") == hostile
    assert root.findtext("Resource") == hostile
    assert root.findtext("Code") == "AccessDenied"


def test_error_xml_starts_with_xml_declaration() -> None:
    body = error_xml(S3Error(S3ErrorCode.AccessDenied), request_id="R")
    assert body.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
