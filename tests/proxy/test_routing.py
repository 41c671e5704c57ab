"""Tables for proxy/routing.py: request shape -> botocore operation name -> billing class.

The central test walks every operation of botocore's S3 model, has a real botocore client build
the request it would send (captured at `before-send`, nothing leaves the process), reduces it to
what the gateway sees (path-style: first segment bucket, rest key; query names; header names),
and asserts `classify()` names that operation.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit

import botocore.session
import pytest
from botocore.awsrequest import AWSPreparedRequest
from botocore.config import Config
from botocore.loaders import create_loader
from botocore.model import ListShape, ServiceModel, Shape, StringShape, StructureShape

from proxy.routing import (
    UNKNOWN,
    BillingClass,
    Router,
    billing_class,
    check_overrides,
    classify,
    default_billing_class,
    operation_names,
)

MODEL_JSON = create_loader().load_service_model("s3", "service-2")
MODEL = botocore.session.get_session().get_service_model("s3")
GATEWAY = "gw.test:9000"

#: Operations no path-style gateway can receive, each with the reason. Keep this minimal.
EXCLUDED = {
    "WriteGetObjectResponse": "S3 Object Lambda: sent to the `{RequestRoute}.` host prefix of an "
    "Object Lambda endpoint, not to a bucket path",
}
#: Operations byte-for-byte identical on the wire to another; classify() answers the second.
SAME_ON_THE_WIRE = {
    "GetBucketLifecycle": "GetBucketLifecycleConfiguration",  # deprecated; GET /{Bucket}?lifecycle
    "PutBucketLifecycle": "PutBucketLifecycleConfiguration",  # deprecated; PUT /{Bucket}?lifecycle
    "GetBucketNotification": "GetBucketNotificationConfiguration",  # deprecated; ?notification
    "PutBucketNotification": "PutBucketNotificationConfiguration",  # deprecated; ?notification
    # S3 Express directory buckets: GET / on the s3express-control endpoint, same as ListBuckets.
    "ListDirectoryBuckets": "ListBuckets",
}
WALKED = sorted(set(MODEL.operation_names) - EXCLUDED.keys())


class Seen(NamedTuple):
    """A request as the gateway sees it: classify()'s arguments, plus the host it went to."""

    method: str
    bucket: str | None
    key: str | None
    query: frozenset[str]
    headers: frozenset[str]
    host: str


class _Captured(Exception):
    def __init__(self, request: AWSPreparedRequest) -> None:
        self.request = request


def _value(shape: Shape) -> Any:
    """A minimal valid value: required members only, one list element, first enum value,
    strings of the minimum length."""
    if isinstance(shape, StructureShape):
        if shape.is_tagged_union:  # exactly one member must be set
            first = next(iter(shape.members))
            return {first: _value(shape.members[first])}
        return {m: _value(shape.members[m]) for m in shape.required_members}
    if isinstance(shape, ListShape):
        return [_value(shape.member)]
    if isinstance(shape, StringShape):
        return shape.enum[0] if shape.enum else "v" * shape.metadata.get("min", 1)
    if shape.type_name == "timestamp":
        return datetime(2024, 1, 1, tzinfo=UTC)
    return {"map": {}, "integer": 1, "long": 1, "boolean": True, "blob": b""}[shape.type_name]


def _seen(method: str, url: str, headers: Collection[str]) -> Seen:
    parts = urlsplit(url)
    bucket, _, key = parts.path.removeprefix("/").partition("/")
    return Seen(
        method,
        unquote(bucket) or None,
        unquote(key) or None,
        frozenset(k for k, _ in parse_qsl(parts.query, keep_blank_values=True)),
        frozenset(h.lower() for h in headers),
        parts.netloc,
    )


@pytest.fixture(scope="module")
def sent() -> Iterator[dict[str, Seen]]:
    """What botocore sends for each model operation, path-style, to a gateway endpoint."""
    client = botocore.session.Session().create_client(
        "s3",
        region_name="us-east-1",
        endpoint_url=f"http://{GATEWAY}",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 0}),
    )

    def capture(request: AWSPreparedRequest, **_: Any) -> None:
        raise _Captured(request)

    client.meta.events.register("before-send.s3", capture)
    python_names = {api: py for py, api in client.meta.method_to_api_mapping.items()}
    seen: dict[str, Seen] = {}
    for name in MODEL.operation_names:
        shape = MODEL.operation_model(name).input_shape
        params = _value(shape) if shape is not None else {}
        params |= {k: v for k, v in (("Bucket", "bucket"), ("Key", "dir/key")) if k in params}
        with pytest.raises(_Captured) as captured:
            getattr(client, python_names[name])(**params)
        req = captured.value.request
        seen[name] = _seen(req.method, req.url, req.headers.keys())
    yield seen
    client.close()


@pytest.mark.parametrize("x_id", ["as-sent", "stripped", "added"])
@pytest.mark.parametrize("operation", WALKED)
def test_classify_botocore_request_names_its_operation(
    sent: dict[str, Seen], operation: str, x_id: str
) -> None:
    """Modern SDKs may add `x-id=<Op>`; aws-cli v1, minio-py and curl never do."""
    method, bucket, key, query, headers, host = sent[operation]
    assert host == GATEWAY  # no host prefix: it really is path-style through the gateway
    if x_id == "stripped":
        query -= {"x-id"}
    elif x_id == "added":
        query |= {"x-id"}
    expected = SAME_ON_THE_WIRE.get(operation, operation)
    assert classify(method, bucket, key, query, headers) == expected


def test_exception_tables_name_model_operations() -> None:
    named = EXCLUDED.keys() | SAME_ON_THE_WIRE.keys() | set(SAME_ON_THE_WIRE.values())
    assert named <= set(MODEL.operation_names)


@pytest.mark.parametrize("operation", sorted(EXCLUDED))
def test_classify_excluded_operation_is_unknown_not_another(
    sent: dict[str, Seen], operation: str
) -> None:
    """Were one to reach the gateway anyway, it is not mistaken for a bucket operation."""
    method, bucket, key, query, headers, host = sent[operation]
    assert host != GATEWAY
    assert classify(method, bucket, key, query, headers) == UNKNOWN


def test_router_model_order_does_not_change_the_answer(sent: dict[str, Seen]) -> None:
    """Ties are broken by specificity, deprecation and name, never by position in the model."""
    ops = MODEL_JSON["operations"]
    flipped = {**MODEL_JSON, "operations": dict(reversed(list(ops.items())))}
    router = Router.from_model(ServiceModel(flipped, service_name="s3"))
    for seen in sent.values():
        args = seen[:5]
        assert router.classify(*args) == classify(*args)


def _request(line: str) -> tuple[str, str | None, str | None, frozenset[str]]:
    method, _, target = line.partition(" ")
    seen = _seen(method, f"http://{GATEWAY}{target}", ())
    return seen.method, seen.bucket, seen.key, seen.query


COPY = {"x-amz-copy-source"}


@pytest.mark.parametrize(
    "line, headers, expected",
    [
        ("GET /", (), "ListBuckets"),
        ("GET /b?list-type=2&prefix=x&delimiter=/", (), "ListObjectsV2"),
        ("GET /b?list-type=2&x-id=ListObjectsV2", (), "ListObjectsV2"),
        ("GET /b", (), "ListObjects"),
        ("GET /b?prefix=x&marker=m&max-keys=5", (), "ListObjects"),
        ("GET /b?foo", (), "ListObjects"),  # S3 ignores unknown parameters
        ("get /b", (), "ListObjects"),
        ("GET /b?location", (), "GetBucketLocation"),
        ("GET /b?versions&prefix=x", (), "ListObjectVersions"),
        ("GET /b?versioning", (), "GetBucketVersioning"),
        ("PUT /b?versioning", (), "PutBucketVersioning"),
        ("GET /b?uploads&key-marker=k", (), "ListMultipartUploads"),
        ("GET /b?acl", (), "GetBucketAcl"),
        ("PUT /b?acl", (), "PutBucketAcl"),
        ("GET /b?policy", (), "GetBucketPolicy"),
        ("GET /b?lifecycle", (), "GetBucketLifecycleConfiguration"),
        ("GET /b?analytics", (), "ListBucketAnalyticsConfigurations"),
        ("GET /b?analytics&id=a", (), "GetBucketAnalyticsConfiguration"),
        ("DELETE /b?analytics&id=a", (), "DeleteBucketAnalyticsConfiguration"),
        ("PUT /b", (), "CreateBucket"),
        ("HEAD /b", (), "HeadBucket"),
        ("DELETE /b", (), "DeleteBucket"),
        ("POST /b?delete", (), "DeleteObjects"),
        ("GET /b/k", (), "GetObject"),
        ("GET /b/k?response-content-type=text/plain&versionId=v", (), "GetObject"),
        ("GET /b/k?partNumber=2", (), "GetObject"),
        ("GET /b/k?X-Amz-Algorithm=a&X-Amz-Signature=s", (), "GetObject"),  # presigned
        ("HEAD /b/k", (), "HeadObject"),
        ("HEAD /b/k?partNumber=1", (), "HeadObject"),
        ("GET /b/k?acl", (), "GetObjectAcl"),
        ("PUT /b/k?acl", (), "PutObjectAcl"),
        ("GET /b/k?tagging", (), "GetObjectTagging"),
        ("PUT /b/k", (), "PutObject"),
        ("PUT /b/k", {"x-amz-tagging", "content-md5"}, "PutObject"),
        ("PUT /b/k?x-id=PutObject", (), "PutObject"),
        ("PUT /b/k", COPY, "CopyObject"),
        ("PUT /b/k?partNumber=1&uploadId=u", (), "UploadPart"),
        ("PUT /b/k?partNumber=1&uploadId=u", COPY, "UploadPartCopy"),
        ("PUT /b/k?uploadId=u", (), "PutObject"),  # UploadPart needs partNumber too
        ("POST /b/k?uploads", (), "CreateMultipartUpload"),
        ("POST /b/k?uploadId=u", (), "CompleteMultipartUpload"),
        ("DELETE /b/k?uploadId=u", (), "AbortMultipartUpload"),
        ("GET /b/k?uploadId=u&max-parts=9", (), "ListParts"),
        ("DELETE /b/k", (), "DeleteObject"),
        ("DELETE /b/k?versionId=v", (), "DeleteObject"),
        ("POST /b/k?restore", (), "RestoreObject"),
        ("POST /b/k?select&select-type=2", (), "SelectObjectContent"),
        # The key arrives separately, so a key spelled like a sub-resource is just a key.
        ("GET /b/acl", (), "GetObject"),
        ("PUT /uploads/versioning", (), "PutObject"),
        ("GET /b/k?uploads", (), "GetObject"),  # no GET-object operation takes ?uploads
        # A sub-resource names the operation: without it taking that key, there is no match.
        ("GET /b/k?acl&uploadId=u", (), "GetObjectAcl"),
        ("DELETE /b?analytics", (), UNKNOWN),  # missing id: never DeleteBucket
        ("GET /b?acl&uploads", (), UNKNOWN),
        ("POST /b/k?select", (), UNKNOWN),
        ("POST /b", (), UNKNOWN),  # browser form upload (PostObject) is not in the model
        ("OPTIONS /b/k", (), UNKNOWN),  # CORS preflight
        ("PUT /", (), UNKNOWN),
        ("PATCH /b/k", (), UNKNOWN),
    ],
)
def test_classify_client_request_shape(line: str, headers: Collection[str], expected: str) -> None:
    method, bucket, key, query = _request(line)
    assert classify(method, bucket, key, query, headers) == expected


@pytest.mark.parametrize(
    "query, headers",
    [
        (["partNumber", "uploadId"], ["x-amz-copy-source"]),
        ({"partNumber": "1", "uploadId": "u"}.keys(), {"x-amz-copy-source": ""}.keys()),
        (("uploadId", "partNumber"), ("host", "x-amz-copy-source")),
        (frozenset({"partNumber", "uploadId"}), {"x-amz-copy-source"}),
    ],
    ids=["list", "dict-keys", "tuple", "sets"],
)
def test_classify_accepts_any_collection(query: Collection[str], headers: Collection[str]) -> None:
    assert classify("PUT", "b", "k", query, headers) == "UploadPartCopy"


@pytest.mark.parametrize("key", [None, ""])
def test_classify_empty_key_is_bucket_level(key: str | None) -> None:
    assert classify("PUT", "b", key, (), ()) == "CreateBucket"


def test_classify_service_endpoint_with_key_is_unknown() -> None:
    assert classify("GET", None, "k", (), ()) == UNKNOWN


W, R, F = BillingClass.WRITE, BillingClass.READ, BillingClass.FREE


@pytest.mark.parametrize(
    "operation, expected",
    [
        ("PutObject", W),
        ("CopyObject", W),
        ("UploadPart", W),
        ("UploadPartCopy", W),
        ("CreateMultipartUpload", W),
        ("CompleteMultipartUpload", W),
        ("CreateBucket", W),
        ("PutBucketVersioning", W),
        ("RestoreObject", W),  # POST
        ("ListBuckets", W),  # LIST is a write-class request although it is a GET
        ("ListObjects", W),
        ("ListObjectsV2", W),
        ("ListObjectVersions", W),
        ("ListMultipartUploads", W),
        ("ListParts", W),
        ("GetObject", R),
        ("HeadObject", R),
        ("HeadBucket", R),
        ("GetBucketAcl", R),
        ("GetBucketLocation", R),
        ("CreateSession", R),  # a GET
        ("SelectObjectContent", R),  # POST, but priced with GET ("GET, SELECT, and all other")
        ("DeleteObject", F),
        ("DeleteObjectTagging", F),
        ("DeleteBucket", F),
        ("DeleteBucketPolicy", F),
        ("DeleteObjects", F),  # POST, but it only deletes
        ("AbortMultipartUpload", F),  # "CANCEL"
        (UNKNOWN, R),
        ("NotAnOperation", R),
    ],
)
def test_default_billing_class(operation: str, expected: BillingClass) -> None:
    assert default_billing_class(operation) == expected
    assert billing_class(operation, {}) == expected


def test_billing_class_override_applies_to_its_operation_only() -> None:
    overrides = {"GetObject": "write", UNKNOWN: "free"}
    assert billing_class("GetObject", overrides) == W
    assert billing_class(UNKNOWN, overrides) == F
    assert billing_class("HeadObject", overrides) == R


def test_billing_class_is_plain_string() -> None:
    """Ledger and config code may treat the class as the string it is."""
    assert billing_class("PutObject", {}) == "write"
    assert f"{billing_class('GetObject', {})}" == "read"


@pytest.mark.parametrize("operation", sorted(MODEL.operation_names))
def test_every_model_operation_has_a_billing_class(operation: str) -> None:
    assert default_billing_class(operation) in {"write", "read", "free"}


def test_operation_names_are_the_model_names() -> None:
    assert operation_names() == frozenset(MODEL.operation_names)
    assert UNKNOWN not in operation_names()


@pytest.mark.parametrize(
    "overrides",
    [{}, {"GetObject": "write"}, {UNKNOWN: "free", "ListObjectsV2": "read", "PutObject": "write"}],
)
def test_check_overrides_accepts(overrides: dict[str, str]) -> None:
    check_overrides(overrides)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"PutObjects": "write"}, "'PutObjects': not an S3 operation; did you mean 'PutObject'?"),
        ({"put_object": "write"}, "'put_object': not an S3 operation"),
        ({"GetObject": "WRITE"}, "'GetObject': class 'WRITE' is not one of write, read, free"),
        ({"GetObject": ""}, "'GetObject': class '' is not one of"),
        ({"GetObject": "read", "HeadObject": "cheap"}, "'HeadObject': class 'cheap'"),
    ],
)
def test_check_overrides_names_bad_key_or_value(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match="billing override") as raised:
        check_overrides(overrides)
    assert message in str(raised.value)
