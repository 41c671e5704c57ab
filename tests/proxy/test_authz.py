"""Isolation's inputs: every bucket a request names, copy sources as S3 reads them."""

from __future__ import annotations

import botocore.session
import pytest

from proxy.addressing import Target
from proxy.authz import (
    BucketOperation,
    CopySource,
    bucket_operation,
    buckets_named,
    parse_copy_source,
    refuse_repeated_headers,
)
from proxy.s3errors import S3Error, S3ErrorCode


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("src-bucket/key", CopySource("src-bucket", "key", None)),
        ("/src-bucket/key", CopySource("src-bucket", "key", None)),
        ("src-bucket/a%20b%2Bc", CopySource("src-bucket", "a b+c", None)),
        ("src-bucket/dir/%C3%BC//x/", CopySource("src-bucket", "dir/ü//x/", None)),
        ("src-bucket/k?versionId=v%2B1", CopySource("src-bucket", "k", "v+1")),
        ("%73rc-bucket/k", CopySource("src-bucket", "k", None)),  # encoded letters decode
    ],
    ids=["plain", "leading-slash", "encoded-key", "unicode-slashes", "version", "encoded-bucket"],
)
def test_copy_source_valid_forms_parse(value: str, expected: CopySource) -> None:
    assert parse_copy_source(value) == expected


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("src-bucket", S3ErrorCode.InvalidArgument),
        ("/src-bucket/", S3ErrorCode.InvalidArgument),
        ("", S3ErrorCode.InvalidArgument),
        ("src-bucket/k?foo=1", S3ErrorCode.InvalidArgument),
        ("src-bucket/k?versionId=", S3ErrorCode.InvalidArgument),
        ("Src-Bucket/k", S3ErrorCode.InvalidBucketName),
        ("src%2Fbucket/k", S3ErrorCode.InvalidBucketName),
        ("%FF/k", S3ErrorCode.InvalidArgument),
        ("ab/k", S3ErrorCode.InvalidBucketName),
    ],
    ids=[
        "no-key",
        "empty-key",
        "empty",
        "other-param",
        "empty-version",
        "mixed-case",
        "encoded-slash-in-bucket",
        "bad-utf8",
        "short-name",
    ],
)
def test_copy_source_malformed_refused(value: str, code: S3ErrorCode) -> None:
    with pytest.raises(S3Error) as err:
        parse_copy_source(value)
    assert err.value.code is code


def test_buckets_named_includes_copy_source_bucket() -> None:
    target = Target(bucket="dest-bucket", key="k", style="path")
    headers = {"x-amz-copy-source": "/other-bucket/src"}
    assert buckets_named(target, headers) == ("dest-bucket", "other-bucket")


def test_buckets_named_same_bucket_listed_once() -> None:
    target = Target(bucket="dest-bucket", key="k", style="path")
    assert buckets_named(target, {"x-amz-copy-source": "dest-bucket/a"}) == ("dest-bucket",)


def test_buckets_named_service_request_names_none() -> None:
    assert buckets_named(Target(bucket=None, key=None, style="path"), {}) == ()


BUCKET = Target(bucket="my-bucket", key=None, style="path")
OBJECT = Target(bucket="my-bucket", key="k", style="path")
SERVICE = Target(bucket=None, key=None, style="path")


@pytest.mark.parametrize(
    ("method", "target", "query", "expected"),
    [
        ("GET", SERVICE, "", BucketOperation.LIST_BUCKETS),
        ("GET", SERVICE, "x-id=ListBuckets", BucketOperation.LIST_BUCKETS),
        ("GET", SERVICE, "prefix=a&max-buckets=2", BucketOperation.LIST_BUCKETS),
        ("GET", SERVICE, "acl", BucketOperation.LIST_BUCKETS),
        ("PUT", BUCKET, "", BucketOperation.CREATE_BUCKET),
        ("DELETE", BUCKET, "", BucketOperation.DELETE_BUCKET),
        ("PUT", BUCKET, "versioning", None),
        ("PUT", BUCKET, "foo=bar", BucketOperation.CREATE_BUCKET),
        ("DELETE", BUCKET, "foo=bar", BucketOperation.DELETE_BUCKET),
        ("DELETE", BUCKET, "x-id=DeleteBucket", BucketOperation.DELETE_BUCKET),
        ("DELETE", BUCKET, "tagging", None),
        ("GET", BUCKET, "", None),
        ("PUT", OBJECT, "", None),
        ("DELETE", OBJECT, "", None),
        ("POST", SERVICE, "", None),
    ],
    ids=[
        "list",
        "list-x-id",
        "list-params",
        "service-acl",
        "create",
        "delete",
        "put-versioning",
        "put-unknown-param",
        "delete-unknown-param",
        "delete-x-id",
        "delete-tagging",
        "list-objects",
        "put-object",
        "delete-object",
        "post-service",
    ],
)
def test_bucket_operation_table(
    method: str, target: Target, query: str, expected: BucketOperation | None
) -> None:
    assert bucket_operation(method, target, query) is expected


def _bucket_subresources(method: str) -> set[str]:
    model = botocore.session.get_session().get_service_model("s3")
    found: set[str] = set()
    for name in model.operation_names:
        http = model.operation_model(name).http
        path, _, query = http["requestUri"].partition("?")
        if http["method"] == method and path == "/{Bucket}" and query:
            found |= {p.partition("=")[0] for p in query.split("&")}
    return found


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_bucket_operation_knows_every_bucket_subresource_in_botocore_model(method: str) -> None:
    """Each bucket-level PUT/DELETE operation botocore knows is told apart from CreateBucket /
    DeleteBucket; a new one in a botocore upgrade fails here until it is listed."""
    for subresource in sorted(_bucket_subresources(method)):
        assert bucket_operation(method, BUCKET, subresource) is None, subresource


@pytest.mark.parametrize(
    "headers",
    [
        [("x-amz-copy-source", "a-bucket/k"), ("X-Amz-Copy-Source", "b-bucket/k")],
        [("Content-MD5", "x"), ("content-md5", "y")],
        [("x-amz-checksum-crc32", "AAAAAA=="), ("x-amz-checksum-crc32", "AAAAAA==")],
    ],
    ids=["copy-source", "content-md5", "checksum"],
)
def test_repeated_security_header_refused(headers: list[tuple[str, str]]) -> None:
    with pytest.raises(S3Error) as err:
        refuse_repeated_headers(headers)
    assert err.value.code is S3ErrorCode.InvalidArgument


def test_repeated_ordinary_header_allowed() -> None:
    refuse_repeated_headers([("x-amz-meta-a", "1"), ("Accept", "a"), ("Accept", "b")])
