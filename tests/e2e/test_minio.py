"""minio-py through BillFlow: bucket and object calls, multipart, presigned URLs.

Every test runs over HTTP and over HTTPS (minio's urllib3 pool verifying against the test CA). The
client discovers the bucket region with GetBucketLocation, as a user's client does.
"""

from __future__ import annotations

import hashlib
import io
import os
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError
from minio import Minio

from .harness import Gateway, MiB, over_schemes

pytestmark = [pytest.mark.e2e, over_schemes]


def _fetch(gateway: Gateway, method: str, url: str, body: bytes | None = None) -> tuple[int, bytes]:
    """`method` on a presigned URL with a plain HTTP client; (status, body)."""
    parts = urlsplit(url)
    assert (parts.hostname, parts.port) == (gateway.host, gateway.port), url
    conn = gateway.connection()
    try:
        conn.request(method, f"{parts.path}?{parts.query}", body=body)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _read(client: Minio, bucket: str, key: str) -> bytes:
    response = client.get_object(bucket, key)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def test_make_bucket_creates_bucket_upstream(
    minio_client: Minio, upstream_s3: Any, bucket_name: str
) -> None:
    """make_bucket creates the bucket upstream; bucket_exists sees it."""
    minio_client.make_bucket(bucket_name)
    assert minio_client.bucket_exists(bucket_name)
    upstream_s3.head_bucket(Bucket=bucket_name)


def test_put_object_small_roundtrips_with_stat(
    minio_client: Minio, upstream_s3: Any, bucket: str
) -> None:
    """put_object stores the bytes, content type and metadata; get_object and stat_object
    return them."""
    data = os.urandom(4096)
    key = "small/ключ with space+1.bin"
    written = minio_client.put_object(
        bucket,
        key,
        io.BytesIO(data),
        len(data),
        content_type="application/x-billflow",
        metadata={"colour": "blue"},
    )
    assert written.etag == hashlib.md5(data).hexdigest()
    assert _read(minio_client, bucket, key) == data
    stat = minio_client.stat_object(bucket, key)
    assert stat.size == len(data)
    assert stat.etag == written.etag
    assert stat.content_type == "application/x-billflow"
    assert stat.metadata["x-amz-meta-colour"] == "blue"
    assert upstream_s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data


def test_put_object_unknown_length_uploads_multipart(
    minio_client: Minio, upstream_s3: Any, bucket: str
) -> None:
    """put_object with length -1 and part_size 5 MiB uploads 12 MiB as three parts."""
    data = os.urandom(12 * MiB)
    minio_client.put_object(bucket, "multi.bin", io.BytesIO(data), -1, part_size=5 * MiB)
    head = upstream_s3.head_object(Bucket=bucket, Key="multi.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].endswith('-3"'), head["ETag"]
    assert _read(minio_client, bucket, "multi.bin") == data


def test_list_objects_prefix_and_recursive(minio_client: Minio, bucket: str) -> None:
    """list_objects lists prefixes as directories, or every key when recursive."""
    for key in ("a/1", "a/b/2", "c d+e", "ü/3"):
        minio_client.put_object(bucket, key, io.BytesIO(b"x"), 1)
    top = {(o.object_name, o.is_dir) for o in minio_client.list_objects(bucket)}
    assert top == {("a/", True), ("c d+e", False), ("ü/", True)}
    under_a = [o.object_name for o in minio_client.list_objects(bucket, prefix="a/")]
    assert under_a == ["a/1", "a/b/"]
    every = sorted(o.object_name for o in minio_client.list_objects(bucket, recursive=True))
    assert every == ["a/1", "a/b/2", "c d+e", "ü/3"]


def test_presigned_get_object_fetched_with_http_client(
    minio_client: Minio, gateway: Gateway, bucket: str
) -> None:
    """presigned_get_object makes a URL a plain HTTP client can GET."""
    minio_client.put_object(bucket, "pre/get me.txt", io.BytesIO(b"presigned get"), 13)
    url = minio_client.presigned_get_object(bucket, "pre/get me.txt", expires=timedelta(minutes=5))
    assert _fetch(gateway, "GET", url) == (200, b"presigned get")


def test_presigned_put_object_stores_body(
    minio_client: Minio, upstream_s3: Any, gateway: Gateway, bucket: str
) -> None:
    """presigned_put_object makes a URL a plain HTTP client can PUT a body to."""
    url = minio_client.presigned_put_object(bucket, "pre/put+me.txt", expires=timedelta(minutes=5))
    status, body = _fetch(gateway, "PUT", url, b"presigned put")
    assert status == 200, body
    assert upstream_s3.get_object(Bucket=bucket, Key="pre/put+me.txt")["Body"].read() == (
        b"presigned put"
    )


def test_remove_object_deletes_upstream(minio_client: Minio, upstream_s3: Any, bucket: str) -> None:
    """remove_object deletes the object upstream."""
    minio_client.put_object(bucket, "doomed", io.BytesIO(b"x"), 1)
    minio_client.remove_object(bucket, "doomed")
    with pytest.raises(ClientError) as exc:
        upstream_s3.head_object(Bucket=bucket, Key="doomed")
    assert exc.value.response["Error"]["Code"] == "404"
