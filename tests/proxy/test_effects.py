"""Storage effects per S3 operation: what is refused, how much a write may add before it is
sent, and which storage events a successful answer produces."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import pytest
from multidict import CIMultiDict

from proxy.bodies import Kept
from proxy.effects import KEEP_LIMIT, Write, events, growth, refusal
from proxy.s3errors import S3ErrorCode
from proxy.usage import ObjectDeleted, ObjectPut, PartPut, StorageEvent, UploadEnded

AT = datetime(2026, 11, 25, 10, 40, tzinfo=UTC)
UPLOAD = {"uploadId": "u1", "partNumber": "3"}
NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
ERROR_ELEMENT = (
    b"<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>"
)
ERROR = DECLARATION + ERROR_ELEMENT
COPY_RESULT = (
    f'<?xml version="1.0" encoding="UTF-8"?>\n<CopyObjectResult {NS}>'
    '<LastModified>2026-11-25T10:40:00.000Z</LastModified><ETag>"abc"</ETag>'
    "</CopyObjectResult>"
).encode()
DELETE_RESULT = (
    f'<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult {NS}>'
    "<Deleted><Key>a.txt</Key></Deleted>"
    "<Error><Key>locked.txt</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
    "<Deleted><Key>dir/b&amp;c.txt</Key><VersionId>null</VersionId></Deleted>"
    "</DeleteResult>"
).encode()


class FakeSizes:
    """The caller's HEAD: sizes by (bucket, key), recording every question asked."""

    def __init__(self, known: Mapping[tuple[str, str], int] | None = None) -> None:
        self.known = dict(known or {})
        self.asked: list[tuple[str, str, str | None]] = []

    async def __call__(self, bucket: str, key: str, version_id: str | None) -> int | None:
        self.asked.append((bucket, key, version_id))
        return self.known.get((bucket, key))


def _write(
    operation: str,
    key: str | None = "k",
    query: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Write:
    return Write(operation, "b", key, dict(query or {}), CIMultiDict(headers or {}))


def _kept(body: bytes, limit: int = KEEP_LIMIT) -> Kept:
    kept = Kept(limit)
    kept.add(body)
    return kept


# -- refusal -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "operation, headers, refused",
    [
        pytest.param("PutBucketVersioning", {}, True, id="versioning"),
        pytest.param("PutObjectLockConfiguration", {}, True, id="object-lock-later"),
        pytest.param(
            "CreateBucket", {"x-amz-bucket-object-lock-enabled": "true"}, True, id="object-lock"
        ),
        pytest.param(
            "CreateBucket",
            {"X-Amz-Bucket-Object-Lock-Enabled": "True"},
            True,
            id="object-lock-any-case",
        ),
        pytest.param(
            "CreateBucket", {"x-amz-bucket-object-lock-enabled": "false"}, False, id="lock-off"
        ),
        pytest.param("CreateBucket", {}, False, id="create-bucket"),
        pytest.param(
            "PutObject", {"x-amz-bucket-object-lock-enabled": "true"}, False, id="not-create"
        ),
        pytest.param("GetBucketVersioning", {}, False, id="reading-versioning"),
        pytest.param("PutObject", {}, False, id="put-object"),
    ],
)
def test_refusal_versioning_requests_not_implemented(
    operation: str, headers: dict[str, str], refused: bool
) -> None:
    error = refusal(operation, CIMultiDict(headers))
    if refused:
        assert error is not None
        assert error.code is S3ErrorCode.NotImplemented and error.status == 501
    else:
        assert error is None


# -- growth --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "operation, length, headers, added, asked",
    [
        pytest.param("PutObject", 1234, {}, 1234, [], id="put"),
        pytest.param("PutObject", None, {}, 0, [], id="put-no-length"),
        pytest.param("UploadPart", 99, {}, 99, [], id="upload-part"),
        pytest.param(
            "CopyObject",
            None,
            {"x-amz-copy-source": "/src/s.txt"},
            500,
            [("src", "s.txt", None)],
            id="copy",
        ),
        pytest.param(
            "CopyObject",
            None,
            {"X-Amz-Copy-Source": "src/dir%2Fs.txt?versionId=v%2B1"},
            700,
            [("src", "dir/s.txt", "v+1")],
            id="copy-encoded-with-version",
        ),
        pytest.param(
            "CopyObject",
            None,
            {"x-amz-copy-source": "/src/missing"},
            0,
            [("src", "missing", None)],
            id="copy-missing-source",
        ),
        pytest.param(
            "UploadPartCopy",
            None,
            {"x-amz-copy-source": "/src/s.txt", "x-amz-copy-source-range": "bytes=100-199"},
            100,
            [],
            id="part-copy-range",
        ),
        pytest.param(
            "UploadPartCopy",
            None,
            {"x-amz-copy-source": "/src/s.txt", "x-amz-copy-source-range": "bytes=0-0"},
            1,
            [],
            id="part-copy-one-byte",
        ),
        pytest.param(
            "UploadPartCopy",
            None,
            {"x-amz-copy-source": "/src/s.txt"},
            500,
            [("src", "s.txt", None)],
            id="part-copy-whole",
        ),
        pytest.param("GetObject", 10, {}, 0, [], id="get"),
        pytest.param("DeleteObject", None, {}, 0, [], id="delete"),
        pytest.param("CompleteMultipartUpload", 300, {}, 0, [], id="complete"),
    ],
)
async def test_growth_per_operation(
    operation: str,
    length: int | None,
    headers: dict[str, str],
    added: int,
    asked: list[tuple[str, str, str | None]],
) -> None:
    sizes = FakeSizes({("src", "s.txt"): 500, ("src", "dir/s.txt"): 700})
    assert await growth(_write(operation, headers=headers), length, sizes) == added
    assert sizes.asked == asked


# -- events --------------------------------------------------------------------------------

COPY = {"x-amz-copy-source": "/src/s.txt"}


@pytest.mark.parametrize(
    "write, status, response_headers, body, expected, asked",
    [
        pytest.param(
            _write("PutObject"), 200, {}, None, [ObjectPut(AT, "b", "k", 11)], [], id="put"
        ),
        pytest.param(
            _write("UploadPart", query=UPLOAD),
            200,
            {},
            None,
            [PartPut(AT, "b", "u1", 3, 11)],
            [],
            id="upload-part",
        ),
        pytest.param(
            _write(
                "UploadPartCopy",
                query=UPLOAD,
                headers={**COPY, "x-amz-copy-source-range": "bytes=0-9"},
            ),
            200,
            {},
            b"<CopyPartResult><ETag>x</ETag></CopyPartResult>",
            [PartPut(AT, "b", "u1", 3, 10)],
            [],
            id="upload-part-copy-range",
        ),
        pytest.param(
            _write("UploadPartCopy", query=UPLOAD, headers=COPY),
            200,
            {},
            b"<CopyPartResult><ETag>x</ETag></CopyPartResult>",
            [PartPut(AT, "b", "u1", 3, 500)],
            [("src", "s.txt", None)],
            id="upload-part-copy-whole",
        ),
        pytest.param(
            _write("CopyObject", headers=COPY),
            200,
            {"x-amz-version-id": "v9"},
            COPY_RESULT,
            [ObjectPut(AT, "b", "k", 42)],
            [("b", "k", "v9")],
            id="copy-heads-destination-version",
        ),
        pytest.param(
            _write("CopyObject", headers=COPY),
            200,
            {"X-Amz-Version-Id": "null"},
            COPY_RESULT,
            [ObjectPut(AT, "b", "k", 42)],
            [("b", "k", None)],
            id="copy-null-version-heads-key",
        ),
        pytest.param(
            _write("CopyObject", headers=COPY),
            200,
            {},
            None,
            [ObjectPut(AT, "b", "k", 42)],
            [("b", "k", None)],
            id="copy-body-not-kept",
        ),
        pytest.param(
            _write("CopyObject", key="gone", headers=COPY),
            200,
            {},
            COPY_RESULT,
            [],
            [("b", "gone", None)],
            id="copy-destination-not-found",
        ),
        pytest.param(
            _write("CompleteMultipartUpload", query={"uploadId": "u1"}),
            200,
            {},
            b"<CompleteMultipartUploadResult><Key>k</Key></CompleteMultipartUploadResult>",
            [UploadEnded(AT, "b", "u1"), ObjectPut(AT, "b", "k", 42)],
            [("b", "k", None)],
            id="complete",
        ),
        pytest.param(
            _write("CompleteMultipartUpload", key="gone", query={"uploadId": "u1"}),
            200,
            {},
            b"<CompleteMultipartUploadResult/>",
            [UploadEnded(AT, "b", "u1")],
            [("b", "gone", None)],
            id="complete-object-not-found",
        ),
        pytest.param(
            _write("AbortMultipartUpload", query={"uploadId": "u1"}),
            204,
            {},
            None,
            [UploadEnded(AT, "b", "u1")],
            [],
            id="abort",
        ),
        pytest.param(
            _write("DeleteObject"), 204, {}, None, [ObjectDeleted(AT, "b", "k")], [], id="delete"
        ),
        pytest.param(
            _write("DeleteObjects", key=None, query={"delete": ""}),
            200,
            {},
            DELETE_RESULT,
            [ObjectDeleted(AT, "b", "a.txt"), ObjectDeleted(AT, "b", "dir/b&c.txt")],
            [],
            id="delete-objects-only-deleted",
        ),
        pytest.param(
            _write("DeleteObjects", key=None),
            200,
            {},
            f"<DeleteResult {NS}/>".encode(),
            [],
            [],
            id="delete-objects-quiet",
        ),
        pytest.param(
            _write("DeleteObjects", key=None), 200, {}, None, [], [], id="delete-objects-not-kept"
        ),
        pytest.param(
            _write("DeleteObjects", key=None),
            200,
            {},
            ERROR,
            [],
            [],
            id="delete-objects-error-document",
        ),
        pytest.param(
            _write("DeleteObjects", key=None),
            200,
            {},
            DELETE_RESULT[: len(DELETE_RESULT) // 2],
            [],
            [],
            id="delete-objects-cut-short",
        ),
        pytest.param(_write("GetObject"), 200, {}, None, [], [], id="get"),
        pytest.param(_write("HeadObject"), 200, {}, None, [], [], id="head"),
        pytest.param(_write("CreateBucket", key=None), 200, {}, None, [], [], id="create-bucket"),
    ],
)
async def test_events_successful_answer_per_operation(
    write: Write,
    status: int,
    response_headers: dict[str, str],
    body: bytes | None,
    expected: list[StorageEvent],
    asked: list[tuple[str, str, str | None]],
) -> None:
    sizes = FakeSizes({("b", "k"): 42, ("src", "s.txt"): 500})
    got = await events(
        write,
        at=AT,
        status=status,
        response_headers=CIMultiDict(response_headers),
        kept=None if body is None else _kept(body),
        bytes_in=11,
        sizes=sizes,
    )
    assert got == expected
    assert sizes.asked == asked


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(_write("CopyObject", headers=COPY), id="copy"),
        pytest.param(_write("CompleteMultipartUpload", query={"uploadId": "u1"}), id="complete"),
        pytest.param(_write("UploadPartCopy", query=UPLOAD, headers=COPY), id="upload-part-copy"),
    ],
)
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(ERROR, id="plain"),
        pytest.param(ERROR.replace(b"<Error>", f"<Error {NS}>".encode()), id="namespaced"),
        # The upstream kept the connection alive with whitespace, then failed.
        pytest.param(DECLARATION + b"   \n " + ERROR_ELEMENT, id="after-spaces"),
    ],
)
async def test_events_200_carrying_error_document_change_nothing(write: Write, body: bytes) -> None:
    """CopyObject, UploadPartCopy and CompleteMultipartUpload can fail after their 200 went out;
    the error is then in the body, and nothing was stored."""
    sizes = FakeSizes({("b", "k"): 42, ("src", "s.txt"): 500})
    got = await events(
        write,
        at=AT,
        status=200,
        response_headers={},
        kept=_kept(body),
        bytes_in=0,
        sizes=sizes,
    )
    assert got == []
    assert sizes.asked == []


async def test_events_delete_objects_answer_past_keep_limit_left_to_reconciliation() -> None:
    kept = _kept(DELETE_RESULT, limit=64)
    assert not kept.complete
    got = await events(
        _write("DeleteObjects", key=None),
        at=AT,
        status=200,
        response_headers={},
        kept=kept,
        bytes_in=0,
        sizes=FakeSizes(),
    )
    assert got == []


@pytest.mark.parametrize("status", [300, 304, 400, 403, 404, 500, 503])
@pytest.mark.parametrize(
    "write, body",
    [
        pytest.param(_write("PutObject"), None, id="put"),
        pytest.param(_write("UploadPart", query=UPLOAD), None, id="upload-part"),
        pytest.param(_write("CopyObject", headers=COPY), ERROR, id="copy"),
        pytest.param(
            _write("CompleteMultipartUpload", query={"uploadId": "u1"}), ERROR, id="complete"
        ),
        pytest.param(_write("AbortMultipartUpload", query={"uploadId": "u1"}), ERROR, id="abort"),
        pytest.param(_write("DeleteObject"), ERROR, id="delete"),
        pytest.param(_write("DeleteObjects", key=None), DELETE_RESULT, id="delete-objects"),
    ],
)
async def test_events_status_300_or_more_none(
    write: Write, body: bytes | None, status: int
) -> None:
    sizes = FakeSizes({("b", "k"): 42})
    got = await events(
        write,
        at=AT,
        status=status,
        response_headers={},
        kept=None if body is None else _kept(body),
        bytes_in=11,
        sizes=sizes,
    )
    assert got == []
    assert sizes.asked == []
