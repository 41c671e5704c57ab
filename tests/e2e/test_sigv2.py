"""Signature Version 2: what the default tools still make, accepted as MinIO accepts it, or refused
when the operator says so.

`aws s3 presign` and boto3's `generate_presigned_url` at their default config make SigV2 URLs
(`?AWSAccessKeyId=&Expires=&Signature=`, HMAC-SHA1), custom endpoint or not; these run over HTTP
and HTTPS. Header auth (`Authorization: AWS AKID:signature`) is signed by botocore's own
HmacV1Auth. Every refusal is followed by a look at moto: nothing stored. A second BillFlow with
`[s3] allow_sigv2 = false` answers every SigV2 request 400 InvalidRequest.
"""

from __future__ import annotations

import hashlib
import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
import pytest

from .harness import (
    NO_RETRIES,
    REGION,
    TENANT,
    Aws,
    Gateway,
    TenantKey,
    Upstream,
    over_schemes,
    write_config,
)
from .s3wire import Reply, Wire, assert_not_stored, expect_error, key_path, md5_b64

pytestmark = pytest.mark.e2e

OTHER_SECRET = "0" * 40
#: Object contents no error document could echo by chance.
CONTENTS = os.urandom(24).hex().encode()
#: What S3 answers a SigV2 request where only SigV4 is accepted (e.g. in regions opened after
#: 2014), and what BillFlow answers with `allow_sigv2 = false`.
SIGV4_ONLY = (
    "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
)


def assert_sigv2_url(url: str, gateway: Gateway) -> str:
    """`url` is a SigV2 presigned URL for this BillFlow; returns its path?query."""
    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.port) == (
        gateway.scheme,
        gateway.host,
        gateway.port,
    ), url
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    assert set(query) == {"AWSAccessKeyId", "Expires", "Signature"}, url
    assert int(query["Expires"]) > datetime.now(UTC).timestamp(), url
    return f"{parts.path}?{parts.query}"


def fetch(gateway: Gateway, method: str, target: str, body: bytes | None = None) -> Reply:
    """`method` on `target` with a plain HTTP client (TLS-verified against the test CA)."""
    conn = gateway.connection()
    try:
        conn.request(method, target, body=body)
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        conn.close()


# --- what the default tools make --------------------------------------------------------------


@over_schemes
def test_boto3_default_presigned_get_is_sigv2_and_served(
    s3_default: Any, gateway: Gateway, bucket: str
) -> None:
    """boto3's default `generate_presigned_url('get_object')` is a SigV2 URL; a plain HTTP
    client fetches the object with it."""
    key = "shared dir/ключ+1 100%.txt"
    s3_default.put_object(Bucket=bucket, Key=key, Body=CONTENTS)
    url = s3_default.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300
    )
    reply = fetch(gateway, "GET", assert_sigv2_url(url, gateway))
    assert (reply.status, reply.body) == (200, CONTENTS), reply.describe()


@over_schemes
def test_boto3_default_presigned_put_is_sigv2_and_stores_body(
    s3_default: Any, upstream_s3: Any, gateway: Gateway, bucket: str
) -> None:
    """boto3's default `generate_presigned_url('put_object')` is a SigV2 URL a plain HTTP
    client can PUT a body to."""
    url = s3_default.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "up+loaded.bin"}, ExpiresIn=300
    )
    reply = fetch(gateway, "PUT", assert_sigv2_url(url, gateway), CONTENTS)
    assert reply.status == 200, reply.describe()
    assert upstream_s3.get_object(Bucket=bucket, Key="up+loaded.bin")["Body"].read() == CONTENTS


@over_schemes
def test_aws_s3_presign_default_is_sigv2_and_served(
    aws: Aws, s3_default: Any, gateway: Gateway, bucket: str
) -> None:
    """`aws s3 presign` without a signature_version in its config makes a SigV2 URL; a plain
    HTTP client fetches the object with it."""
    s3_default.put_object(Bucket=bucket, Key="doc 1.txt", Body=CONTENTS)
    done = aws("s3", "presign", f"s3://{bucket}/doc 1.txt", "--expires-in", "300", profile="stock")
    assert done.returncode == 0, done.stderr
    reply = fetch(gateway, "GET", assert_sigv2_url(done.stdout.strip(), gateway))
    assert (reply.status, reply.body) == (200, CONTENTS), reply.describe()


# --- header auth ----------------------------------------------------------------------------


def test_sigv2_header_put_get_head_served(wire: Wire, upstream_s3: Any, bucket: str) -> None:
    """SigV2 header auth: a PUT (Content-MD5, Content-Type and x-amz-meta-* signed) stores the
    exact bytes and metadata; GET and HEAD return them."""
    target = key_path(bucket, "v2/ключ+1 100%.bin")
    data = os.urandom(100 * 1024)
    put = wire.sign_v2(
        "PUT",
        target,
        body=data,
        headers=[
            ("Content-Length", str(len(data))),
            ("Content-MD5", md5_b64(data)),
            ("Content-Type", "application/x-billflow"),
            ("x-amz-meta-colour", "blue"),
        ],
    )
    assert put.header("Authorization").startswith(f"AWS {wire.access_key}:"), put.headers
    reply = wire.send(put)
    assert reply.status == 200, reply.describe()
    assert reply.headers["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    stored = upstream_s3.get_object(Bucket=bucket, Key="v2/ключ+1 100%.bin")
    assert stored["Body"].read() == data
    assert stored["ContentType"] == "application/x-billflow"
    assert stored["Metadata"] == {"colour": "blue"}
    got = wire.send(wire.sign_v2("GET", target))
    assert (got.status, got.body) == (200, data), got.describe()
    head = wire.send(wire.sign_v2("HEAD", target))
    assert head.status == 200, head.describe()
    assert head.headers["Content-Length"] == str(len(data))


def test_sigv2_header_subresource_served(wire: Wire, upstream_s3: Any, bucket: str) -> None:
    """A SigV2 GET of a sub-resource (?tagging, part of the SigV2 canonical resource) is
    served."""
    upstream_s3.put_object(Bucket=bucket, Key="t", Body=b"x", Tagging="colour=blue")
    reply = wire.send(wire.sign_v2("GET", key_path(bucket, "t") + "?tagging"))
    assert reply.status == 200, reply.describe()
    assert b"<Key>colour</Key>" in reply.body and b"<Value>blue</Value>" in reply.body


def test_sigv2_header_wrong_secret_answers_signature_does_not_match(
    wire: Wire, upstream_s3: Any, bucket: str
) -> None:
    """A SigV2 PUT signed with another secret gets 403 SignatureDoesNotMatch; nothing is
    stored, and the secret appears nowhere in the answer."""
    signed = wire.sign_v2(
        "PUT",
        key_path(bucket, "k"),
        body=CONTENTS,
        headers=[("Content-Length", str(len(CONTENTS)))],
        secret_key=OTHER_SECRET,
    )
    reply = wire.send(signed)
    expect_error(reply, 403, "SignatureDoesNotMatch")
    assert wire.secret_key.encode() not in reply.body
    wire.assert_serving()
    assert_not_stored(upstream_s3, bucket, "k")


def test_sigv2_header_unknown_key_answers_invalid_access_key_id(
    wire: Wire, upstream_s3: Any, bucket: str
) -> None:
    """A SigV2 request with an access key BillFlow never issued gets 403 InvalidAccessKeyId;
    nothing is stored."""
    stranger = Wire(wire.host, wire.port, "AKIDNEVERISSUED00000", OTHER_SECRET)
    signed = stranger.sign_v2(
        "PUT", key_path(bucket, "k"), body=b"x", headers=[("Content-Length", "1")]
    )
    expect_error(wire.send(signed), 403, "InvalidAccessKeyId")
    assert_not_stored(upstream_s3, bucket, "k")


def test_sigv2_put_content_md5_mismatch_answers_bad_digest(
    wire: Wire, upstream_s3: Any, bucket: str
) -> None:
    """A correctly signed SigV2 PUT whose Content-MD5 (signed) is not the body's MD5 gets 400
    BadDigest: SigV2 signs no payload hash, so Content-MD5 is the body's only check; nothing is
    stored."""
    signed = wire.sign_v2(
        "PUT",
        key_path(bucket, "k"),
        body=b"the real body",
        headers=[("Content-Length", "13"), ("Content-MD5", md5_b64(b"another body"))],
    )
    expect_error(wire.send(signed), 400, "BadDigest")
    wire.assert_serving()
    assert_not_stored(upstream_s3, bucket, "k")


def test_sigv2_header_date_too_old_answers_request_time_too_skewed(
    wire: Wire, upstream_s3: Any, bucket: str
) -> None:
    """A SigV2 request dated an hour ago (beyond the 15 minutes S3 allows) gets 403
    RequestTimeTooSkewed; nothing is stored (a captured request can't be replayed later)."""
    signed = wire.sign_v2(
        "PUT",
        key_path(bucket, "k"),
        body=b"x",
        headers=[("Content-Length", "1")],
        at=datetime.now(UTC) - timedelta(hours=1),
    )
    expect_error(wire.send(signed), 403, "RequestTimeTooSkewed")
    assert_not_stored(upstream_s3, bucket, "k")


# --- presigned (query) auth -------------------------------------------------------------------


def test_sigv2_presigned_wrong_secret_answers_signature_does_not_match(
    wire: Wire, upstream_s3: Any, bucket: str
) -> None:
    """A SigV2 URL signed with another secret gets 403 SignatureDoesNotMatch, for a GET (no
    contents leak) and a PUT (nothing stored)."""
    upstream_s3.put_object(Bucket=bucket, Key="p", Body=CONTENTS)
    reply = wire.get(wire.presign_v2("GET", key_path(bucket, "p"), secret_key=OTHER_SECRET))
    assert CONTENTS not in reply.body
    expect_error(reply, 403, "SignatureDoesNotMatch")
    target = wire.presign_v2("PUT", key_path(bucket, "k"), secret_key=OTHER_SECRET)
    reply = wire.raw("PUT", target, [("Host", wire.netloc), ("Content-Length", "4")], b"data")
    expect_error(reply, 403, "SignatureDoesNotMatch")
    wire.assert_serving()
    assert_not_stored(upstream_s3, bucket, "k")


def test_sigv2_presigned_other_key_answers_signature_does_not_match(
    wire: Wire, upstream_s3: Any, bucket: str
) -> None:
    """A SigV2 URL for one key, pointed at another, gets 403 SignatureDoesNotMatch."""
    upstream_s3.put_object(Bucket=bucket, Key="p", Body=b"p")
    upstream_s3.put_object(Bucket=bucket, Key="q", Body=CONTENTS)
    moved = wire.presign_v2("GET", key_path(bucket, "p")).replace(f"/{bucket}/p?", f"/{bucket}/q?")
    reply = wire.get(moved)
    assert CONTENTS not in reply.body
    expect_error(reply, 403, "SignatureDoesNotMatch")


def test_sigv2_presigned_expired_answers_access_denied(
    wire: Wire, upstream_s3: Any, bucket: str
) -> None:
    """A SigV2 URL whose Expires is past gets 403 AccessDenied, for a GET (no contents leak)
    and a PUT (nothing stored)."""
    upstream_s3.put_object(Bucket=bucket, Key="p", Body=CONTENTS)
    past = datetime.now(UTC) - timedelta(minutes=1)
    reply = wire.get(wire.presign_v2("GET", key_path(bucket, "p"), expires_at=past))
    assert CONTENTS not in reply.body
    expect_error(reply, 403, "AccessDenied")
    target = wire.presign_v2("PUT", key_path(bucket, "k"), expires_at=past)
    reply = wire.raw("PUT", target, [("Host", wire.netloc), ("Content-Length", "4")], b"data")
    expect_error(reply, 403, "AccessDenied")
    wire.assert_serving()
    assert_not_stored(upstream_s3, bucket, "k")


# --- refused by configuration -----------------------------------------------------------------


@pytest.fixture(scope="module")
def sigv2_off(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream
) -> Iterator[tuple[Gateway, Wire]]:
    """Another BillFlow, `[s3] allow_sigv2 = false`, in front of the same moto."""
    gw = write_config(
        tmp_path_factory.mktemp("sigv2-off"), upstream.url, s3_extra="allow_sigv2 = false"
    )
    gw.cli_json("tenant", "create", TENANT)
    key: TenantKey = gw.create_key(TENANT)
    gw.start()
    yield gw, Wire(gw.host, gw.port, key.access_key_id, key.secret_access_key, REGION)
    gw.stop(signal.SIGTERM)


@pytest.fixture
def sigv2_off_bucket(sigv2_off: tuple[Gateway, Wire], bucket_name: str) -> Iterator[str]:
    """A bucket created through the SigV2-refusing BillFlow (with SigV4)."""
    gw, wire = sigv2_off
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=gw.url,
        region_name=REGION,
        aws_access_key_id=wire.access_key,
        aws_secret_access_key=wire.secret_key,
        config=NO_RETRIES,
    )
    client.create_bucket(Bucket=bucket_name)
    yield bucket_name
    client.close()


def refused_sigv2(reply: Reply) -> None:
    error = expect_error(reply, 400, "InvalidRequest")
    assert error["Message"] == SIGV4_ONLY, reply.describe()


def test_sigv2_refused_by_config_answers_invalid_request(
    sigv2_off: tuple[Gateway, Wire], upstream_s3: Any, sigv2_off_bucket: str
) -> None:
    """With allow_sigv2 = false, a correctly signed SigV2 header PUT and GET and a SigV2
    presigned GET and PUT each get 400 InvalidRequest asking for AWS4-HMAC-SHA256; nothing is
    stored; SigV4 is still served."""
    _, wire = sigv2_off
    bucket = sigv2_off_bucket
    upstream_s3.put_object(Bucket=bucket, Key="p", Body=CONTENTS)
    put = wire.sign_v2("PUT", key_path(bucket, "k"), body=b"x", headers=[("Content-Length", "1")])
    refused_sigv2(wire.send(put))
    reply = wire.send(wire.sign_v2("GET", key_path(bucket, "p")))
    assert CONTENTS not in reply.body
    refused_sigv2(reply)
    reply = wire.get(wire.presign_v2("GET", key_path(bucket, "p")))
    assert CONTENTS not in reply.body
    refused_sigv2(reply)
    target = wire.presign_v2("PUT", key_path(bucket, "k"))
    refused_sigv2(wire.raw("PUT", target, [("Host", wire.netloc), ("Content-Length", "1")], b"x"))
    assert_not_stored(upstream_s3, bucket, "k")
    got = wire.send(wire.sign("GET", key_path(bucket, "p")))
    assert (got.status, got.body) == (200, CONTENTS), got.describe()
