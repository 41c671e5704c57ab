"""boto3 through BillFlow: every kind of S3 call passes through and round-trips exactly.

Every test runs over HTTP and over HTTPS (boto3 verifying against the test CA): over HTTPS boto3
uploads with aws-chunked trailers, over HTTP with checksum headers. Each client-shape test runs
with boto3's default config and with s3v4 payload signing on and off (the `s3` fixture). What the
upstream holds is read from moto directly (`upstream_s3`).
"""

from __future__ import annotations

import hashlib
import http.client
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from .harness import ODD_KEYS, Gateway, MiB, Upstream, over_schemes
from .s3wire import Wire, key_path, request_bytes

pytestmark = [pytest.mark.e2e, over_schemes]


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _sha256_file(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = exc.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def _listing(response: dict[str, Any]) -> dict[str, Any]:
    """A listing without what differs between two requests for the same listing."""
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def test_create_bucket_exists_upstream(s3: Any, upstream_s3: Any, bucket_name: str) -> None:
    """CreateBucket through BillFlow creates the bucket upstream; HeadBucket answers 200."""
    s3.create_bucket(Bucket=bucket_name)
    assert s3.head_bucket(Bucket=bucket_name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    upstream_s3.head_bucket(Bucket=bucket_name)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert bucket_name in names


def test_object_put_get_head_delete_roundtrips(s3: Any, upstream_s3: Any, bucket: str) -> None:
    """PUT stores the exact bytes with metadata and content type; GET/HEAD return them; DELETE
    removes the object upstream."""
    data = b"billflow \x00\xff" * 1000
    put = s3.put_object(
        Bucket=bucket,
        Key="obj.bin",
        Body=data,
        ContentType="application/x-billflow",
        Metadata={"colour": "blue", "two-words": "hello world"},
        CacheControl="max-age=60",
        ContentDisposition='attachment; filename="obj.bin"',
    )
    assert put["ETag"] == f'"{_md5(data)}"'

    got = s3.get_object(Bucket=bucket, Key="obj.bin")
    assert got["Body"].read() == data
    assert got["ETag"] == put["ETag"]
    assert got["ContentType"] == "application/x-billflow"
    assert got["Metadata"] == {"colour": "blue", "two-words": "hello world"}
    assert got["CacheControl"] == "max-age=60"
    assert got["ContentDisposition"] == 'attachment; filename="obj.bin"'
    assert got["ContentLength"] == len(data)

    head = s3.head_object(Bucket=bucket, Key="obj.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == put["ETag"]
    assert head["Metadata"] == {"colour": "blue", "two-words": "hello world"}
    assert isinstance(head["LastModified"], datetime)
    assert upstream_s3.get_object(Bucket=bucket, Key="obj.bin")["Body"].read() == data

    deleted = s3.delete_object(Bucket=bucket, Key="obj.bin")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        upstream_s3.head_object(Bucket=bucket, Key="obj.bin")
    assert _error(exc)[0] == 404


@pytest.mark.parametrize("key", list(ODD_KEYS.values()), ids=list(ODD_KEYS))
def test_odd_key_roundtrips_byte_for_byte(s3: Any, upstream_s3: Any, bucket: str, key: str) -> None:
    """Keys with spaces, '+', '%', unicode, '//', a trailing or leading '/' and reserved URI
    characters are stored upstream under exactly that key and listed as exactly that key."""
    data = key.encode() * 3
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(data)
    upstream_keys = [o["Key"] for o in upstream_s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert upstream_keys == [key]
    assert upstream_s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key)
    assert [o["Key"] for o in listed["Contents"]] == [key]
    s3.delete_object(Bucket=bucket, Key=key)
    assert upstream_s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_range_get_returns_206_with_content_range(s3_default: Any, bucket: str) -> None:
    """GET with Range answers 206 with the requested bytes and Content-Range."""
    data = bytes(range(256)) * 4
    s3_default.put_object(Bucket=bucket, Key="r", Body=data)
    got = s3_default.get_object(Bucket=bucket, Key="r", Range="bytes=10-19")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == f"bytes 10-19/{len(data)}"
    assert got["ContentLength"] == 10
    assert got["Body"].read() == data[10:20]
    suffix = s3_default.get_object(Bucket=bucket, Key="r", Range="bytes=-5")
    assert suffix["ContentRange"] == f"bytes {len(data) - 5}-{len(data) - 1}/{len(data)}"
    assert suffix["Body"].read() == data[-5:]


def test_conditional_get_answers_304_and_412(s3_default: Any, bucket: str) -> None:
    """If-None-Match on the current ETag gives 304; If-Match on another ETag gives 412
    PreconditionFailed; If-Match on the current ETag gives the object."""
    etag = s3_default.put_object(Bucket=bucket, Key="c", Body=b"conditional")["ETag"]
    with pytest.raises(ClientError) as exc:
        s3_default.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert _error(exc)[0] == 304
    with pytest.raises(ClientError) as exc:
        s3_default.get_object(Bucket=bucket, Key="c", IfMatch='"0123456789abcdef0123456789abcdef"')
    assert _error(exc) == (412, "PreconditionFailed")
    got = s3_default.get_object(Bucket=bucket, Key="c", IfMatch=etag)
    assert got["Body"].read() == b"conditional"
    later = datetime.now(UTC) + timedelta(days=1)
    with pytest.raises(ClientError) as exc:
        s3_default.get_object(Bucket=bucket, Key="c", IfModifiedSince=later)
    assert _error(exc)[0] == 304


def test_copy_object_copies_bytes_and_metadata(s3: Any, upstream_s3: Any, bucket: str) -> None:
    """CopyObject (x-amz-copy-source, keys with odd characters) copies bytes and metadata."""
    source, target = "src dir/ключ+1.txt", "dst//copy 100%.txt"
    s3.put_object(Bucket=bucket, Key=source, Body=b"copy me", Metadata={"m": "v"})
    copied = s3.copy_object(Bucket=bucket, Key=target, CopySource={"Bucket": bucket, "Key": source})
    assert copied["CopyObjectResult"]["ETag"] == f'"{_md5(b"copy me")}"'
    got = upstream_s3.get_object(Bucket=bucket, Key=target)
    assert got["Body"].read() == b"copy me"
    assert got["Metadata"] == {"m": "v"}


def test_object_tagging_passes_through(s3_default: Any, upstream_s3: Any, bucket: str) -> None:
    """PutObjectTagging, GetObjectTagging and DeleteObjectTagging (?tagging) pass through."""
    s3_default.put_object(Bucket=bucket, Key="t", Body=b"x", Tagging="a=1&b=two%20words")
    tags = s3_default.get_object_tagging(Bucket=bucket, Key="t")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("a", "1"), ("b", "two words")]
    s3_default.put_object_tagging(
        Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": "k", "Value": "v+w"}]}
    )
    assert upstream_s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == [
        {"Key": "k", "Value": "v+w"}
    ]
    s3_default.delete_object_tagging(Bucket=bucket, Key="t")
    assert s3_default.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == []


def test_upload_file_multipart_roundtrips(
    s3: Any, upstream_s3: Any, bucket: str, file_20mib: Path, tmp_path: Path
) -> None:
    """upload_file past the multipart threshold uploads 4 parts; download_file returns the
    same bytes."""
    five = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    s3.upload_file(str(file_20mib), bucket, "big/20mib.bin", Config=five)
    head = upstream_s3.head_object(Bucket=bucket, Key="big/20mib.bin")
    assert head["ContentLength"] == file_20mib.stat().st_size
    assert head["ETag"].endswith('-4"'), head["ETag"]
    out = tmp_path / "down.bin"
    s3.download_file(bucket, "big/20mib.bin", str(out), Config=five)
    assert _sha256_file(out) == _sha256_file(file_20mib)


def test_multipart_low_level_complete_and_abort(s3: Any, upstream_s3: Any, bucket: str) -> None:
    """CreateMultipartUpload, UploadPart, ListParts, CompleteMultipartUpload assemble the
    object; AbortMultipartUpload leaves nothing behind."""
    part1, part2 = b"1" * (5 * MiB), b"2" * 1000
    key = "mp/assembled obj+1"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etags = [
        s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=body)["ETag"]
        for n, body in ((1, part1), (2, part2))
    ]
    assert etags == [f'"{_md5(part1)}"', f'"{_md5(part2)}"']
    parts = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, len(part1)), (2, len(part2))]
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={
            "Parts": [{"PartNumber": n, "ETag": e} for n, e in ((1, etags[0]), (2, etags[1]))]
        },
    )
    assert done["ETag"].endswith('-2"'), done
    assert upstream_s3.get_object(Bucket=bucket, Key=key)["Body"].read() == part1 + part2

    aborted_key = "mp/aborted"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=aborted_key)["UploadId"]
    s3.upload_part(Bucket=bucket, Key=aborted_key, UploadId=upload_id, PartNumber=1, Body=b"x")
    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [u["Key"] for u in uploads] == [aborted_key]
    s3.abort_multipart_upload(Bucket=bucket, Key=aborted_key, UploadId=upload_id)
    assert upstream_s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(ClientError) as exc:
        upstream_s3.head_object(Bucket=bucket, Key=aborted_key)
    assert _error(exc)[0] == 404


def test_list_objects_v1_v2_match_upstream(s3: Any, upstream_s3: Any, bucket: str) -> None:
    """ListObjects v1 and v2 with prefix and delimiter answer what the upstream answers."""
    for key in ("a/1", "a/2", "a/b/3", "a b/4", "c", "d/5+6", "ü/7"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    v2 = s3.list_objects_v2(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in v2["Contents"]] == ["a/1", "a/2"]
    assert [p["Prefix"] for p in v2["CommonPrefixes"]] == ["a/b/"]
    for call, kwargs in [
        ("list_objects_v2", {"Prefix": "a/", "Delimiter": "/"}),
        ("list_objects_v2", {"Delimiter": "/"}),
        ("list_objects_v2", {}),
        ("list_objects", {"Prefix": "a/", "Delimiter": "/"}),
        ("list_objects", {"Delimiter": "/"}),
        ("list_objects", {"Prefix": "ü"}),
    ]:
        through = getattr(s3, call)(Bucket=bucket, **kwargs)
        direct = getattr(upstream_s3, call)(Bucket=bucket, **kwargs)
        assert _listing(through) == _listing(direct), (call, kwargs)


def test_list_objects_v2_paginates_with_continuation_token(s3: Any, bucket: str) -> None:
    """ListObjectsV2 pages of MaxKeys=2 chained by continuation-token cover every key once."""
    keys = [f"p/{i:02d} é+" for i in range(7)]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 2}
    )
    seen = [o["Key"] for page in pages for o in page.get("Contents", [])]
    assert seen == sorted(keys)


def test_delete_objects_removes_every_listed_key(s3: Any, upstream_s3: Any, bucket: str) -> None:
    """DeleteObjects (POST ?delete, XML body with checksum) deletes every listed key."""
    keys = ["one", "two words", "ключ/3", "a+b"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert sorted(d["Key"] for d in result["Deleted"]) == sorted(keys)
    assert result.get("Errors", []) == []
    assert upstream_s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_bucket_versioning_refused_until_metered(
    s3_default: Any, upstream_s3: Any, bucket: str
) -> None:
    """PutBucketVersioning answers 501 NotImplemented (the meter tracks one size per key) and
    never reaches the upstream; GetBucketVersioning and ListObjectVersions still pass."""
    with pytest.raises(ClientError) as caught:
        s3_default.put_bucket_versioning(
            Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
        )
    assert caught.value.response["Error"]["Code"] == "NotImplemented"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert "Status" not in upstream_s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in s3_default.get_bucket_versioning(Bucket=bucket)
    s3_default.put_object(Bucket=bucket, Key="v", Body=b"first")
    versions = s3_default.list_object_versions(Bucket=bucket)["Versions"]
    assert [(v["Key"], v["VersionId"]) for v in versions] == [("v", "null")]


def _comparable(body: bytes) -> list[tuple[str, str | None]]:
    """An error document's elements, less the ids that differ on every request."""
    return [(e.tag, e.text) for e in ET.fromstring(body) if e.tag not in ("RequestId", "HostId")]


def test_upstream_nosuchkey_comes_back_unchanged(
    wire: Wire, upstream: Upstream, bucket: str
) -> None:
    """GET of a missing key answers the upstream's 404 NoSuchKey document unchanged."""
    through = wire.send(wire.sign("GET", key_path(bucket, "missing key")))
    conn = http.client.HTTPConnection(upstream.host, upstream.port, timeout=10)
    try:
        conn.request("GET", key_path(bucket, "missing key"))
        direct = conn.getresponse()
        direct_body = direct.read()
    finally:
        conn.close()
    assert through.status == direct.status == 404, through.describe()
    assert _comparable(through.body) == _comparable(direct_body)
    assert through.error()["Code"] == "NoSuchKey"


def test_missing_bucket_answers_access_denied(s3_default: Any, bucket_name: str) -> None:
    """GET and ListObjects in a bucket the tenant does not own answer 403 AccessDenied, whether
    or not it exists, so bucket names do not leak (isolation)."""
    with pytest.raises(ClientError) as exc:
        s3_default.get_object(Bucket=bucket_name, Key="k")
    assert _error(exc) == (403, "AccessDenied")
    with pytest.raises(ClientError) as exc:
        s3_default.list_objects_v2(Bucket=bucket_name)
    assert _error(exc) == (403, "AccessDenied")


def test_head_missing_key_answers_404_without_body(
    s3_default: Any, wire: Wire, bucket: str
) -> None:
    """HEAD of a missing key answers 404 and not one body byte on the wire."""
    with pytest.raises(ClientError) as exc:
        s3_default.head_object(Bucket=bucket, Key="missing")
    assert _error(exc) == (404, "404")
    signed = wire.sign("HEAD", key_path(bucket, "missing"))
    raw = wire.exchange(request_bytes(signed, extra=[("Connection", "close")]))
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404"), raw[:500]
    assert rest == b"", raw[:1000]


def _presigning(make_s3: Any) -> Any:
    return make_s3(Config(signature_version="s3v4"))


def test_presigned_get_s3v4_fetched_with_urllib(
    make_s3: Any, s3_default: Any, gateway: Gateway, bucket: str
) -> None:
    """A SigV4 presigned GET URL fetched by a plain HTTP client returns the object."""
    key = "pre signed/ключ+1.txt"
    s3_default.put_object(Bucket=bucket, Key=key, Body=b"presigned body")
    url = _presigning(make_s3).generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300
    )
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url
    with urllib.request.urlopen(url, timeout=30, context=gateway.ssl_context) as response:
        assert response.status == 200
        assert response.read() == b"presigned body"


def test_presigned_put_s3v4_stores_object(
    make_s3: Any, upstream_s3: Any, gateway: Gateway, bucket: str
) -> None:
    """A SigV4 presigned PUT URL used by a plain HTTP client stores the body."""
    key = "uploaded via/presign 100%.bin"
    url = _presigning(make_s3).generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300
    )
    parts = urlsplit(url)
    conn = gateway.connection()
    try:
        conn.request("PUT", f"{parts.path}?{parts.query}", body=b"put by url")
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    assert response.status == 200, body
    assert upstream_s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"put by url"
