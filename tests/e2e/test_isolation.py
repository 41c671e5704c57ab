"""Tenant isolation, adversarially: tenant B tries every operation class on tenant A's buckets.

Both tenants are made through BillFlow's CLI while it serves (the HTTP `gateway`), each with boto3
(installed defaults: SigV4 requests and SigV2 presigning; and `s3v4` for SigV4 presigning),
aws-cli, and raw signed requests (`Wire`) for the spellings SDKs never produce. A owns a versioned
bucket holding three objects (one uploaded by multipart) and a multipart upload in progress; B owns
a bucket of its own. Every attempt by B must be refused with 403 AccessDenied, the answer it gets
for a bucket nobody owns and for one that does not exist (so existence does not leak), and
afterwards A's bucket must be exactly as it was: versions, uploads, parts, configuration and bytes,
read on moto itself and through A's client; B's bucket must hold none of A's bytes.

Where a refusal could be a refusal of the spelling rather than of the caller (copy sources,
encoded paths), A's own request with the same spelling is the valid twin.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote_to_bytes, urlsplit

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from .harness import REGION, Aws, Gateway, MiB, TenantKey, aws_cli
from .s3wire import Reply, Wire, assert_not_stored, expect_error, key_path, md5_b64

pytestmark = pytest.mark.e2e

#: A's objects. ODD needs percent-encoding on the wire (space, '%', '+', Cyrillic).
SMALL = "small.txt"
ODD = "dir/ключ 100%+x.bin"
MULTI = "multi.bin"
#: The key of A's multipart upload in progress (one part uploaded).
PENDING = "pending.bin"
B_KEY = "b-own.txt"
B_DATA = b"B's own object " + os.urandom(16).hex().encode()
#: What B tries to write; must never appear in A's bucket.
EVIL = b"written by tenant B " + os.urandom(16).hex().encode()


@dataclass(frozen=True)
class Party:
    """One tenant and its clients."""

    key: TenantKey
    s3: Any  # boto3, installed defaults (SigV4 requests, SigV2 presigned URLs)
    s3v4: Any  # boto3 with signature_version="s3v4" (SigV4 presigned URLs too)
    wire: Wire


@dataclass
class World:
    """The module's shared state. Bucket names all have the same length, so error documents for
    them can be compared byte for byte."""

    a: Party
    b: Party
    bucket_a: str  # A's, versioned; `objects` and the PENDING upload
    bucket_b: str  # B's; B_KEY
    scratch_a: str  # A's second bucket: where A's valid twins copy to
    unowned: str  # made on moto directly, behind BillFlow's back
    missing: str  # exists nowhere
    objects: dict[str, bytes]  # A's key -> bytes
    versions: dict[str, str]  # A's key -> VersionId
    upload_id: str  # A's upload of PENDING
    part_etag: str  # its part 1
    baseline: dict[str, Any] = field(default_factory=dict)
    b_buckets: set[str] = field(default_factory=set)  # every bucket B made


def _party(gateway: Gateway, make_s3: Callable[..., Any], name: str) -> Party:
    made = gateway.cli_json("tenant", "create", name)
    assert made["name"] == name, made
    key = gateway.create_key(name)
    wire = Wire(
        gateway.host,
        gateway.port,
        key.access_key_id,
        key.secret_access_key,
        REGION,
        ssl_context=gateway.ssl_context,
    )
    return Party(key, make_s3(key=key), make_s3(Config(signature_version="s3v4"), key=key), wire)


@pytest.fixture(scope="module")
def world(gateway: Gateway, make_s3: Callable[..., Any], upstream_s3: Any) -> World:
    """Tenants A and B, their buckets and A's objects, made once for the module; tests that
    change anything use names of their own."""
    suffix = uuid.uuid4().hex[:10]
    a = _party(gateway, make_s3, f"iso-a-{suffix}")
    b = _party(gateway, make_s3, f"iso-b-{suffix}")
    w = World(
        a=a,
        b=b,
        bucket_a=f"iso-a-{suffix}",
        bucket_b=f"iso-b-{suffix}",
        scratch_a=f"iso-s-{suffix}",
        unowned=f"iso-m-{suffix}",
        missing=f"iso-n-{suffix}",
        objects={SMALL: os.urandom(100), ODD: os.urandom(3000)},
        versions={},
        upload_id="",
        part_etag="",
    )
    bucket = w.bucket_a
    a.s3.create_bucket(Bucket=bucket)
    # Versioned, so B's attempts can name versions too. BillFlow refuses PutBucketVersioning
    # (its meter tracks one size per key), so it is set on the upstream, as on a bucket that
    # was versioned before an admin assigned it to A.
    upstream_s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    a.s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "owner", "Value": "a"}]})
    for key, data in w.objects.items():
        w.versions[key] = a.s3.put_object(Bucket=bucket, Key=key, Body=data)["VersionId"]
    a.s3.put_object_tagging(
        Bucket=bucket, Key=SMALL, Tagging={"TagSet": [{"Key": "k", "Value": "v"}]}
    )
    parts = [os.urandom(5 * MiB), os.urandom(1000)]
    upload = a.s3.create_multipart_upload(Bucket=bucket, Key=MULTI)["UploadId"]
    etags = [
        a.s3.upload_part(Bucket=bucket, Key=MULTI, UploadId=upload, PartNumber=n, Body=part)["ETag"]
        for n, part in enumerate(parts, 1)
    ]
    done = a.s3.complete_multipart_upload(
        Bucket=bucket,
        Key=MULTI,
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    assert done["ETag"].endswith('-2"'), done
    w.objects[MULTI] = b"".join(parts)
    w.versions[MULTI] = done["VersionId"]
    w.upload_id = a.s3.create_multipart_upload(Bucket=bucket, Key=PENDING)["UploadId"]
    w.part_etag = a.s3.upload_part(
        Bucket=bucket, Key=PENDING, UploadId=w.upload_id, PartNumber=1, Body=os.urandom(1024)
    )["ETag"]
    a.s3.create_bucket(Bucket=w.scratch_a)
    b.s3.create_bucket(Bucket=w.bucket_b)
    w.b_buckets.add(w.bucket_b)
    b.s3.put_object(Bucket=w.bucket_b, Key=B_KEY, Body=B_DATA)
    upstream_s3.create_bucket(Bucket=w.unowned)
    upstream_s3.put_object(Bucket=w.unowned, Key="nobodys.txt", Body=b"nobody's")
    w.baseline = _state(upstream_s3, w)
    return w


# --- what "untouched" means ------------------------------------------------------------------


def _or_code(call: Callable[[], Any]) -> Any:
    """The call's result, or its S3 error code (NoSuchBucketPolicy, NoSuchUpload, ...)."""
    try:
        return call()
    except ClientError as e:
        return ("error", e.response["Error"]["Code"])


def _state(up: Any, w: World) -> dict[str, Any]:
    """A's bucket as moto holds it: everything a tenant could change, except object bytes."""
    b = w.bucket_a
    listed = up.list_object_versions(Bucket=b)
    return {
        "versions": sorted(
            (v["Key"], v["VersionId"], v["ETag"], v["Size"], v["IsLatest"])
            for v in listed.get("Versions", [])
        ),
        "delete_markers": listed.get("DeleteMarkers", []),
        "uploads": sorted(
            (u["Key"], u["UploadId"])
            for u in up.list_multipart_uploads(Bucket=b).get("Uploads", [])
        ),
        "parts": _or_code(
            lambda: [
                (p["PartNumber"], p["ETag"], p["Size"])
                for p in up.list_parts(Bucket=b, Key=PENDING, UploadId=w.upload_id)["Parts"]
            ]
        ),
        "versioning": up.get_bucket_versioning(Bucket=b).get("Status"),
        "tagging": _or_code(lambda: up.get_bucket_tagging(Bucket=b)["TagSet"]),
        "policy": _or_code(lambda: up.get_bucket_policy(Bucket=b)["Policy"]),
        "acl": up.get_bucket_acl(Bucket=b)["Grants"],
        "cors": _or_code(lambda: up.get_bucket_cors(Bucket=b)["CORSRules"]),
        "lifecycle": _or_code(lambda: up.get_bucket_lifecycle_configuration(Bucket=b)["Rules"]),
        "object_tagging": up.get_object_tagging(Bucket=b, Key=SMALL)["TagSet"],
        "object_acl": up.get_object_acl(Bucket=b, Key=SMALL)["Grants"],
    }


def assert_isolated(w: World, up: Any) -> None:
    """A's bucket is exactly as set up (on moto, and byte for byte through A's client too), the
    bucket nobody owns still holds its one object, and no bucket of B holds any of A's bytes."""
    assert _state(up, w) == w.baseline
    for key, data in w.objects.items():
        assert up.get_object(Bucket=w.bucket_a, Key=key)["Body"].read() == data, key
        assert w.a.s3.get_object(Bucket=w.bucket_a, Key=key)["Body"].read() == data, key
    unowned = up.list_objects_v2(Bucket=w.unowned).get("Contents", [])
    assert [o["Key"] for o in unowned] == ["nobodys.txt"]
    digests = {hashlib.sha256(d).digest() for d in w.objects.values()}
    sizes = {len(d) for d in w.objects.values()}
    for bucket in sorted(w.b_buckets):
        for obj in up.list_objects_v2(Bucket=bucket).get("Contents", []):
            if obj["Size"] in sizes:
                data = up.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                assert hashlib.sha256(data).digest() not in digests, (bucket, obj["Key"])


def denied(error: ClientError) -> None:
    """boto3 saw 403 AccessDenied (HEAD answers carry no body: boto3 names the code "403")."""
    response = error.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403, response
    expected = "403" if error.operation_name.startswith("Head") else "AccessDenied"
    assert response["Error"]["Code"] == expected, response


def leaks_nothing(reply: Reply, w: World) -> None:
    """No byte of A's objects, and no listing entry of A's, is in `reply`."""
    for key, data in w.objects.items():
        assert data[:64] not in reply.body, f"{key} leaked:\n{reply.describe()}"
    for key in (SMALL, MULTI, PENDING):
        assert f"<Key>{key}</Key>".encode() not in reply.body, reply.describe()


#: Headers whose value differs between any two answers. `Connection: close` too: whether the
#: refused request's body had all arrived when the answer went out is a matter of timing.
_VOLATILE = {"date", "x-amz-request-id", "x-amzn-requestid", "x-amz-id-2", "server", "connection"}


def fingerprint(reply: Reply, *names: str) -> tuple[Any, ...]:
    """What a client can tell about an answer, less request ids and the bucket names it was
    asked about (S3 may echo them): status, headers and body."""
    body = re.sub(rb"<(RequestId|HostId)>[^<]*</\1>", rb"<\1/>", reply.body)
    body = re.sub(rb"<(Resource|BucketName|Key)>([^<]*)</\1>", _decoded, body)
    for name in names:
        body = re.sub(re.escape(name.encode()), b"<BUCKET>", body, flags=re.IGNORECASE)
    headers = sorted((k.lower(), v) for k, v in reply.headers.items() if k.lower() not in _VOLATILE)
    return reply.status, headers, body


def _decoded(match: re.Match[bytes]) -> bytes:
    """An echoed path or name, percent-decoded until it no longer changes (so each spelling of
    a bucket name shows as the name)."""
    text, previous = match.group(2), b""
    while text != previous:
        previous, text = text, unquote_to_bytes(text)
    return b"<%s>%s</%s>" % (match.group(1), text, match.group(1))


def pct(text: str, *, lower: bool = False) -> str:
    """Every character percent-encoded."""
    out = "".join(f"%{b:02X}" for b in text.encode())
    return out.lower() if lower else out


# --- every operation class through boto3 ------------------------------------------------------

Attempt = Callable[[World], Any]


def _b_upload(w: World, key: str) -> str:
    """B starts an upload of `key` in B's own bucket."""
    upload_id: str = w.b.s3.create_multipart_upload(Bucket=w.bucket_b, Key=key)["UploadId"]
    return upload_id


BOTO3_ATTEMPTS: dict[str, Attempt] = {
    "GetObject": lambda w: w.b.s3.get_object(Bucket=w.bucket_a, Key=SMALL),
    "GetObject-non-ascii-key": lambda w: w.b.s3.get_object(Bucket=w.bucket_a, Key=ODD),
    "GetObject-version": lambda w: w.b.s3.get_object(
        Bucket=w.bucket_a, Key=SMALL, VersionId=w.versions[SMALL]
    ),
    "GetObject-range": lambda w: w.b.s3.get_object(Bucket=w.bucket_a, Key=SMALL, Range="bytes=0-9"),
    "GetObject-part-of-multipart": lambda w: w.b.s3.get_object(
        Bucket=w.bucket_a, Key=MULTI, PartNumber=2
    ),
    "HeadObject": lambda w: w.b.s3.head_object(Bucket=w.bucket_a, Key=SMALL),
    "GetObjectAttributes": lambda w: w.b.s3.get_object_attributes(
        Bucket=w.bucket_a, Key=SMALL, ObjectAttributes=["ETag", "ObjectSize"]
    ),
    "PutObject-overwrite": lambda w: w.b.s3.put_object(Bucket=w.bucket_a, Key=SMALL, Body=EVIL),
    "PutObject-new-key": lambda w: w.b.s3.put_object(Bucket=w.bucket_a, Key="planted", Body=EVIL),
    "DeleteObject": lambda w: w.b.s3.delete_object(Bucket=w.bucket_a, Key=SMALL),
    "DeleteObject-version": lambda w: w.b.s3.delete_object(
        Bucket=w.bucket_a, Key=SMALL, VersionId=w.versions[SMALL]
    ),
    "DeleteObjects": lambda w: w.b.s3.delete_objects(
        Bucket=w.bucket_a,
        Delete={"Objects": [{"Key": SMALL}, {"Key": MULTI, "VersionId": w.versions[MULTI]}]},
    ),
    "ListObjects": lambda w: w.b.s3.list_objects(Bucket=w.bucket_a),
    "ListObjectsV2": lambda w: w.b.s3.list_objects_v2(Bucket=w.bucket_a),
    "ListObjectVersions": lambda w: w.b.s3.list_object_versions(Bucket=w.bucket_a),
    "ListMultipartUploads": lambda w: w.b.s3.list_multipart_uploads(Bucket=w.bucket_a),
    "CreateMultipartUpload": lambda w: w.b.s3.create_multipart_upload(
        Bucket=w.bucket_a, Key="planted"
    ),
    "UploadPart-to-As-upload": lambda w: w.b.s3.upload_part(
        Bucket=w.bucket_a, Key=PENDING, UploadId=w.upload_id, PartNumber=2, Body=EVIL
    ),
    "UploadPart-overwrite-As-part": lambda w: w.b.s3.upload_part(
        Bucket=w.bucket_a, Key=PENDING, UploadId=w.upload_id, PartNumber=1, Body=EVIL
    ),
    "ListParts-of-As-upload": lambda w: w.b.s3.list_parts(
        Bucket=w.bucket_a, Key=PENDING, UploadId=w.upload_id
    ),
    "CompleteMultipartUpload-As-upload": lambda w: w.b.s3.complete_multipart_upload(
        Bucket=w.bucket_a,
        Key=PENDING,
        UploadId=w.upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": w.part_etag}]},
    ),
    "AbortMultipartUpload-As-upload": lambda w: w.b.s3.abort_multipart_upload(
        Bucket=w.bucket_a, Key=PENDING, UploadId=w.upload_id
    ),
    "CopyObject-within-As-bucket": lambda w: w.b.s3.copy_object(
        Bucket=w.bucket_a, Key="planted", CopySource={"Bucket": w.bucket_a, "Key": SMALL}
    ),
    "CopyObject-from-A-into-B": lambda w: w.b.s3.copy_object(
        Bucket=w.bucket_b, Key="stolen", CopySource={"Bucket": w.bucket_a, "Key": SMALL}
    ),
    "CopyObject-from-A-version-into-B": lambda w: w.b.s3.copy_object(
        Bucket=w.bucket_b,
        Key="stolen",
        CopySource={"Bucket": w.bucket_a, "Key": ODD, "VersionId": w.versions[ODD]},
    ),
    "CopyObject-from-B-into-A": lambda w: w.b.s3.copy_object(
        Bucket=w.bucket_a, Key=SMALL, CopySource={"Bucket": w.bucket_b, "Key": B_KEY}
    ),
    "UploadPartCopy-from-A-into-Bs-upload": lambda w: w.b.s3.upload_part_copy(
        Bucket=w.bucket_b,
        Key="stolen-part",
        UploadId=_b_upload(w, "stolen-part"),
        PartNumber=1,
        CopySource={"Bucket": w.bucket_a, "Key": MULTI},
        CopySourceRange="bytes=0-999",
    ),
    "UploadPartCopy-from-B-into-As-upload": lambda w: w.b.s3.upload_part_copy(
        Bucket=w.bucket_a,
        Key=PENDING,
        UploadId=w.upload_id,
        PartNumber=2,
        CopySource={"Bucket": w.bucket_b, "Key": B_KEY},
    ),
    "GetObjectTagging": lambda w: w.b.s3.get_object_tagging(Bucket=w.bucket_a, Key=SMALL),
    "PutObjectTagging": lambda w: w.b.s3.put_object_tagging(
        Bucket=w.bucket_a, Key=SMALL, Tagging={"TagSet": [{"Key": "k", "Value": "b"}]}
    ),
    "DeleteObjectTagging": lambda w: w.b.s3.delete_object_tagging(Bucket=w.bucket_a, Key=SMALL),
    "GetObjectAcl": lambda w: w.b.s3.get_object_acl(Bucket=w.bucket_a, Key=SMALL),
    "PutObjectAcl": lambda w: w.b.s3.put_object_acl(
        Bucket=w.bucket_a, Key=SMALL, ACL="public-read"
    ),
    "HeadBucket": lambda w: w.b.s3.head_bucket(Bucket=w.bucket_a),
    "GetBucketLocation": lambda w: w.b.s3.get_bucket_location(Bucket=w.bucket_a),
    "GetBucketTagging": lambda w: w.b.s3.get_bucket_tagging(Bucket=w.bucket_a),
    "PutBucketTagging": lambda w: w.b.s3.put_bucket_tagging(
        Bucket=w.bucket_a, Tagging={"TagSet": [{"Key": "owner", "Value": "b"}]}
    ),
    "DeleteBucketTagging": lambda w: w.b.s3.delete_bucket_tagging(Bucket=w.bucket_a),
    "GetBucketVersioning": lambda w: w.b.s3.get_bucket_versioning(Bucket=w.bucket_a),
    "PutBucketVersioning": lambda w: w.b.s3.put_bucket_versioning(
        Bucket=w.bucket_a, VersioningConfiguration={"Status": "Suspended"}
    ),
    "GetBucketPolicy": lambda w: w.b.s3.get_bucket_policy(Bucket=w.bucket_a),
    "PutBucketPolicy": lambda w: w.b.s3.put_bucket_policy(
        Bucket=w.bucket_a,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [f"arn:aws:s3:::{w.bucket_a}", f"arn:aws:s3:::{w.bucket_a}/*"],
                    }
                ],
            }
        ),
    ),
    "DeleteBucketPolicy": lambda w: w.b.s3.delete_bucket_policy(Bucket=w.bucket_a),
    "GetBucketAcl": lambda w: w.b.s3.get_bucket_acl(Bucket=w.bucket_a),
    "PutBucketAcl": lambda w: w.b.s3.put_bucket_acl(Bucket=w.bucket_a, ACL="public-read-write"),
    "GetBucketCors": lambda w: w.b.s3.get_bucket_cors(Bucket=w.bucket_a),
    "PutBucketCors": lambda w: w.b.s3.put_bucket_cors(
        Bucket=w.bucket_a,
        CORSConfiguration={"CORSRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}]},
    ),
    "PutBucketLifecycleConfiguration": lambda w: w.b.s3.put_bucket_lifecycle_configuration(
        Bucket=w.bucket_a,
        LifecycleConfiguration={
            "Rules": [{"ID": "wipe", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 1}}]
        },
    ),
    "DeleteBucket": lambda w: w.b.s3.delete_bucket(Bucket=w.bucket_a),
}


@pytest.mark.parametrize("attempt", list(BOTO3_ATTEMPTS))
def test_boto3_other_tenants_bucket_each_operation_access_denied(
    world: World, upstream_s3: Any, attempt: str
) -> None:
    """Each S3 operation B's boto3 makes on A's bucket or objects (or copying between A's and
    B's) is refused with 403 AccessDenied, and A's bucket is untouched."""
    with pytest.raises(ClientError) as caught:
        BOTO3_ATTEMPTS[attempt](world)
    denied(caught.value)
    assert_isolated(world, upstream_s3)


def test_other_tenants_upload_id_in_own_bucket_reaches_nothing_of_a(
    world: World, upstream_s3: Any
) -> None:
    """A's upload id used on B's own bucket (where it is B's to ask) finds no upload there:
    listing, uploading to and completing it fail, and A's upload keeps its one part."""
    w, s3 = world, world.b.s3
    calls: list[Callable[[], Any]] = [
        lambda: s3.list_parts(Bucket=w.bucket_b, Key=PENDING, UploadId=w.upload_id),
        lambda: s3.upload_part(
            Bucket=w.bucket_b, Key=PENDING, UploadId=w.upload_id, PartNumber=2, Body=EVIL
        ),
        lambda: s3.complete_multipart_upload(
            Bucket=w.bucket_b,
            Key=PENDING,
            UploadId=w.upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": w.part_etag}]},
        ),
        lambda: s3.abort_multipart_upload(Bucket=w.bucket_b, Key=PENDING, UploadId=w.upload_id),
    ]
    for call in calls:
        with pytest.raises(ClientError) as caught:
            call()
        # S3 answers 404 NoSuchUpload; moto answers UploadPart and CompleteMultipartUpload of
        # an unknown upload id with a bare 500 (MOTO.md: multipart edge cases).
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] in (404, 500)
    assert_not_stored(upstream_s3, w.bucket_b, PENDING, settle=0)
    assert_isolated(w, upstream_s3)


# --- copy sources in every spelling ----------------------------------------------------------


def _source(w: World, spelling: str, bucket: str) -> str:
    """`x-amz-copy-source` naming `bucket` (SMALL, or ODD for the key spellings) as spelt."""
    small = f"{SMALL}?versionId={quote(w.versions[SMALL], safe='')}"
    odd = quote(ODD, safe="/~")
    return {
        "plain": f"{bucket}/{SMALL}",
        "leading-slash": f"/{bucket}/{SMALL}",
        "pct-first-char": f"{pct(bucket[0])}{bucket[1:]}/{SMALL}",
        # "iso-%61-...": the tenant letter, 'a' for A's bucket
        "pct-inner-char": f"{bucket[:4]}{pct(bucket[4])}{bucket[5:]}/{SMALL}",
        "pct-every-char": f"{pct(bucket)}/{SMALL}",
        "pct-every-char-lower-hex": f"/{pct(bucket, lower=True)}/{SMALL}",
        "version-id": f"{bucket}/{small}",
        "leading-slash-version-id": f"/{bucket}/{small}",
        "pct-version-id": f"{pct(bucket)}/{small}",
        "encoded-key": f"{bucket}/{odd}",
        "leading-slash-encoded-key": f"/{bucket}/{odd}",
    }[spelling]


COPY_SPELLINGS = [
    "plain",
    "leading-slash",
    "pct-first-char",
    "pct-inner-char",
    "pct-every-char",
    "pct-every-char-lower-hex",
    "version-id",
    "leading-slash-version-id",
    "pct-version-id",
    "encoded-key",
    "leading-slash-encoded-key",
]


def _copied(spelling: str) -> str:
    return ODD if "encoded-key" in spelling else SMALL


def _copy(wire: Wire, target: str, source: str) -> Reply:
    """PUT `target` (CopyObject, or UploadPartCopy with ?partNumber&uploadId) copying `source`."""
    return wire.send(wire.sign("PUT", target, headers=[("x-amz-copy-source", source)]))


@pytest.mark.parametrize("spelling", COPY_SPELLINGS)
def test_copy_object_from_other_tenants_bucket_each_spelling_access_denied(
    world: World, upstream_s3: Any, spelling: str
) -> None:
    """CopyObject into B's bucket with `x-amz-copy-source` naming A's bucket (with or without a
    leading slash, percent-encoded bucket characters, `?versionId=`) gets 403 AccessDenied and
    copies nothing; A's own copy with the same header value succeeds (the valid twin)."""
    w = world
    dest = f"stolen-{spelling}"
    reply = _copy(w.b.wire, key_path(w.bucket_b, dest), _source(w, spelling, w.bucket_a))
    expect_error(reply, 403, "AccessDenied")
    assert_not_stored(upstream_s3, w.bucket_b, dest, settle=0)
    twin = _copy(w.a.wire, key_path(w.scratch_a, dest), _source(w, spelling, w.bucket_a))
    assert twin.status == 200, twin.describe()
    stored = upstream_s3.get_object(Bucket=w.scratch_a, Key=dest)["Body"].read()
    assert stored == w.objects[_copied(spelling)]
    assert_isolated(w, upstream_s3)


@pytest.mark.parametrize("spelling", COPY_SPELLINGS)
def test_upload_part_copy_from_other_tenants_bucket_each_spelling_access_denied(
    world: World, upstream_s3: Any, spelling: str
) -> None:
    """UploadPartCopy into B's own upload with `x-amz-copy-source` naming A's bucket, in each
    spelling, gets 403 AccessDenied and adds no part; A's twin adds its part."""
    w = world
    source = _source(w, spelling, w.bucket_a)
    upload_id = _b_upload(w, "stolen-part")
    target = f"{key_path(w.bucket_b, 'stolen-part')}?partNumber=1&uploadId={quote(upload_id)}"
    expect_error(_copy(w.b.wire, target, source), 403, "AccessDenied")
    parts = upstream_s3.list_parts(Bucket=w.bucket_b, Key="stolen-part", UploadId=upload_id)
    assert parts.get("Parts", []) == []
    w.b.s3.abort_multipart_upload(Bucket=w.bucket_b, Key="stolen-part", UploadId=upload_id)

    twin_id = w.a.s3.create_multipart_upload(Bucket=w.scratch_a, Key="part")["UploadId"]
    twin_target = f"{key_path(w.scratch_a, 'part')}?partNumber=1&uploadId={quote(twin_id)}"
    twin = _copy(w.a.wire, twin_target, source)
    assert twin.status == 200, twin.describe()
    parts = upstream_s3.list_parts(Bucket=w.scratch_a, Key="part", UploadId=twin_id)["Parts"]
    assert [p["Size"] for p in parts] == [len(w.objects[_copied(spelling)])]
    w.a.s3.abort_multipart_upload(Bucket=w.scratch_a, Key="part", UploadId=twin_id)
    assert_isolated(w, upstream_s3)


#: Copy sources that name A's bucket in a way that is no valid spelling of it (so may be refused
#: as malformed), or name B's bucket with a path that could resolve to A's.
ODD_SOURCES: dict[str, Callable[[World, str], str]] = {
    "upper-case": lambda w, bucket: f"{bucket.upper()}/{SMALL}",
    "mixed-case": lambda w, bucket: f"{bucket.capitalize()}/{SMALL}",
    "encoded-slash": lambda w, bucket: f"{bucket}%2F{SMALL}",
    "double-leading-slash": lambda w, bucket: f"//{bucket}/{SMALL}",
    "network-path": lambda w, bucket: f"//{w.bucket_b}/{bucket}/{SMALL}",
    "absolute-url": lambda w, bucket: f"http://{w.bucket_b}/{bucket}/{SMALL}",
    "dot-segment": lambda w, bucket: f"{w.bucket_b}/../{bucket}/{SMALL}",
    "pct-dot-segment": lambda w, bucket: f"{w.bucket_b}/%2E%2E/{bucket}/{SMALL}",
    "fragment": lambda w, bucket: f"{w.bucket_b}#/{bucket}/{SMALL}",
    "double-encoded": lambda w, bucket: f"%25{pct(bucket[0])[1:]}{bucket[1:]}/{SMALL}",
    "version-id-twice": lambda w, bucket: f"{bucket}/{SMALL}?versionId=1&versionId=2",
}


@pytest.mark.parametrize("spelling", list(ODD_SOURCES))
def test_copy_object_odd_copy_source_copies_nothing_of_a(
    world: World, upstream_s3: Any, spelling: str
) -> None:
    """A copy source no SDK would send (upper or mixed case, '%2F', extra slashes, a URL, dot
    segments through B's bucket, a fragment, double encoding) never copies A's object, and the
    answer is the one B gets with a nonexistent bucket name in its place."""
    w = world
    dest = f"stolen-{spelling}"
    source = ODD_SOURCES[spelling](w, w.bucket_a)
    reply = _copy(w.b.wire, key_path(w.bucket_b, dest), source)
    assert reply.status >= 400, reply.describe()
    leaks_nothing(reply, w)
    assert_not_stored(upstream_s3, w.bucket_b, dest, settle=0)
    control = _copy(w.b.wire, key_path(w.bucket_b, dest), ODD_SOURCES[spelling](w, w.missing))
    assert fingerprint(reply, w.bucket_a) == fingerprint(control, w.missing), (
        reply.describe(),
        control.describe(),
    )
    assert_isolated(w, upstream_s3)


def _copy_twice(wire: Wire, target: str, first: str, second: str) -> Reply:
    """A copy with two `x-amz-copy-source` headers, both signed (SigV4 joins them with ',')."""
    headers = [("x-amz-copy-source", first), ("x-amz-copy-source", second)]
    return wire.send(wire.sign("PUT", target, headers=headers))


@pytest.mark.parametrize("order", ["others-first", "own-first"])
def test_copy_source_header_twice_answers_like_nonexistent_bucket(
    world: World, upstream_s3: Any, order: str
) -> None:
    """Two `x-amz-copy-source` headers, one naming A's object and one B's own: BillFlow must
    refuse (400, or 403 AccessDenied) before the upstream sees it, exactly as when the first
    names a bucket that exists nowhere, and copy nothing."""
    w = world
    dest = f"stolen-twice-{order}"
    mine = f"{w.bucket_b}/{B_KEY}"

    def send(bucket: str) -> Reply:
        theirs = f"{bucket}/{SMALL}"
        first, second = (theirs, mine) if order == "others-first" else (mine, theirs)
        return _copy_twice(w.b.wire, key_path(w.bucket_b, dest), first, second)

    reply, control = send(w.bucket_a), send(w.missing)
    leaks_nothing(reply, w)
    assert_not_stored(upstream_s3, w.bucket_b, dest, settle=0)
    assert fingerprint(reply, w.bucket_a) == fingerprint(control, w.missing), (
        reply.describe(),
        control.describe(),
    )
    expect_error(reply, reply.status, {"AccessDenied", "InvalidArgument", "InvalidRequest"})
    assert reply.status in (400, 403), reply.describe()
    assert_isolated(w, upstream_s3)


def test_copy_source_header_twice_cannot_copy_other_tenants_object(
    world: World, upstream_s3: Any, bucket_name: str
) -> None:
    """B's copy into its own bucket with `x-amz-copy-source: A-bucket/secret` then
    `x-amz-copy-source: B-bucket/b-own.txt` does not copy A's object "secret,B-bucket/b-own.txt"
    (the two values joined with ','), nor anything else of A's."""
    w = world
    secret_key = f"secret,{w.bucket_b}/{B_KEY}"
    secret = b"A's secret " + os.urandom(16).hex().encode()
    w.a.s3.create_bucket(Bucket=bucket_name)
    w.a.s3.put_object(Bucket=bucket_name, Key=secret_key, Body=secret)
    reply = _copy_twice(
        w.b.wire,
        key_path(w.bucket_b, "stolen-secret"),
        f"{bucket_name}/secret",
        f"{w.bucket_b}/{B_KEY}",
    )
    try:
        stolen = upstream_s3.get_object(Bucket=w.bucket_b, Key="stolen-secret")["Body"].read()
    except ClientError:
        stolen = b""
    assert stolen != secret, f"A's object copied into B's bucket:\n{reply.describe()}"
    expect_error(reply, reply.status, {"AccessDenied", "InvalidArgument", "InvalidRequest"})


def test_copy_into_other_tenants_bucket_encoded_path_access_denied(
    world: World, upstream_s3: Any
) -> None:
    """CopyObject from B's bucket to A's bucket spelt `/%XX...` in the path gets 403
    AccessDenied."""
    w = world
    for target in (
        f"/{pct(w.bucket_a)}/{SMALL}",
        f"/{pct(w.bucket_a[0])}{w.bucket_a[1:]}/planted",
    ):
        reply = _copy(w.b.wire, target, f"{w.bucket_b}/{B_KEY}")
        expect_error(reply, 403, "AccessDenied")
    assert_isolated(w, upstream_s3)


# --- addressing: path spellings, virtual-hosted style, SigV2 ---------------------------------

Sender = Callable[[World, str, str], Reply]


def _path_request(w: World, method: str, target: str, host: str | None = None) -> Reply:
    body = EVIL if method == "PUT" else b""
    headers = [("Content-Length", str(len(body)))] if method == "PUT" else []
    return w.b.wire.send(w.b.wire.sign(method, target, headers=headers, body=body, host=host))


def _vhost(w: World, bucket: str) -> str:
    return f"{bucket}.s3.localhost:{w.b.wire.port}"


#: Each spelling: (bucket, object key) -> (target, Host or None). Exact spellings of the bucket
#: must be refused with AccessDenied; the others must not reach it.
PATH_SPELLINGS: dict[str, Callable[[World, str, str | None], tuple[str, str | None]]] = {
    "pct-first-char": lambda w, b, k: (f"/{pct(b[0])}{b[1:]}/{k or ''}", None),
    "pct-every-char": lambda w, b, k: (f"/{pct(b)}/{k or ''}", None),
    "pct-every-char-lower-hex": lambda w, b, k: (f"/{pct(b, lower=True)}/{k or ''}", None),
    "virtual-hosted": lambda w, b, k: (f"/{k or ''}", _vhost(w, b)),
    "virtual-hosted-upper-case": lambda w, b, k: (f"/{k or ''}", _vhost(w, b.upper())),
    "virtual-hosted-trailing-dot": lambda w, b, k: (
        f"/{k or ''}",
        _vhost(w, b).replace(":", ".:"),
    ),
    "upper-case": lambda w, b, k: (f"/{b.upper()}/{k or ''}", None),
    "mixed-case": lambda w, b, k: (f"/{b.capitalize()}/{k or ''}", None),
    "double-slash": lambda w, b, k: (f"//{b}/{k or ''}", None),
    "dot-segment": lambda w, b, k: (f"/{w.bucket_b}/../{b}/{k or ''}", None),
    "pct-dot-segment": lambda w, b, k: (f"/{w.bucket_b}/%2E%2E/{b}/{k or ''}", None),
    "pct-slash": lambda w, b, k: (f"/{b}%2F{k or ''}", None),
}
EXACT = {"pct-first-char", "pct-every-char", "pct-every-char-lower-hex", "virtual-hosted"}
# Host names are case-insensitive (RFC 4343) and may end in the root's '.' (RFC 1034 3.1).
EXACT |= {"virtual-hosted-upper-case", "virtual-hosted-trailing-dot"}


def _path_target(w: World, spelling: str, bucket: str, method: str) -> tuple[str, str, str | None]:
    """(HTTP method, target, Host) for `method` (GET/PUT/DELETE of SMALL, or LIST)."""
    key = None if method == "LIST" else SMALL
    target, host = PATH_SPELLINGS[spelling](w, bucket, key)
    if method == "LIST":
        target += "?list-type=2"
    return ("GET" if method == "LIST" else method), target, host


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "LIST"])
@pytest.mark.parametrize("spelling", list(PATH_SPELLINGS))
def test_bucket_spelling_in_path_or_host_never_reaches_other_tenants_bucket(
    world: World, upstream_s3: Any, spelling: str, method: str
) -> None:
    """A's bucket named by B with percent-encoded characters or virtual-hosted (any case) gets
    403 AccessDenied; upper/mixed case, extra or encoded slashes and dot segments don't reach
    it either, answering B as they answer a nonexistent bucket's name."""
    w = world
    verb, target, host = _path_target(w, spelling, w.bucket_a, method)
    reply = _path_request(w, verb, target, host)
    leaks_nothing(reply, w)
    if spelling in EXACT:
        expect_error(reply, 403, "AccessDenied")
    verb, target, host = _path_target(w, spelling, w.missing, method)
    control = _path_request(w, verb, target, host)
    assert fingerprint(reply, w.bucket_a) == fingerprint(control, w.missing), (
        reply.describe(),
        control.describe(),
    )
    assert_isolated(w, upstream_s3)


def test_virtual_hosted_own_bucket_with_others_name_as_key_stays_in_own_bucket(
    world: World, upstream_s3: Any
) -> None:
    """Host B's-bucket.s3.localhost with path /A's-bucket/small.txt is the key
    "A's-bucket/small.txt" in B's bucket: written there, never in A's."""
    w = world
    target = f"/{w.bucket_a}/{SMALL}"
    put = _path_request(w, "PUT", target, _vhost(w, w.bucket_b))
    assert put.status == 200, put.describe()
    key = f"{w.bucket_a}/{SMALL}"
    assert upstream_s3.get_object(Bucket=w.bucket_b, Key=key)["Body"].read() == EVIL
    got = _path_request(w, "GET", target, _vhost(w, w.bucket_b))
    assert (got.status, got.body) == (200, EVIL), got.describe()
    assert_isolated(w, upstream_s3)


def test_virtual_hosted_own_bucket_path_style_host_mismatch_never_reaches_a(
    world: World, upstream_s3: Any
) -> None:
    """A request whose Host names B's bucket but whose absolute-form target names A's bucket
    (proxy-style request line) never reads A's object."""
    w = world
    signed = w.b.wire.sign("GET", f"/{SMALL}", host=_vhost(w, w.bucket_b))
    reply = w.b.wire.raw(
        "GET", f"http://{_vhost(w, w.bucket_a)}/{SMALL}", list(signed.headers), b""
    )
    leaks_nothing(reply, w)
    assert reply.status >= 400, reply.describe()
    assert_isolated(w, upstream_s3)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "LIST"])
def test_sigv2_header_signed_by_other_tenant_access_denied(
    world: World, upstream_s3: Any, method: str
) -> None:
    """SigV2 header auth (`Authorization: AWS B-key:...`) on A's bucket gets 403 AccessDenied."""
    w = world
    target = f"/{w.bucket_a}" if method == "LIST" else key_path(w.bucket_a, SMALL)
    verb = "GET" if method == "LIST" else method
    body = EVIL if verb == "PUT" else b""
    headers = [("Content-Length", str(len(body)))] if body else []
    reply = w.b.wire.send(w.b.wire.sign_v2(verb, target, headers=headers, body=body))
    expect_error(reply, 403, "AccessDenied")
    assert_isolated(w, upstream_s3)


def test_anonymous_request_on_tenants_bucket_access_denied(world: World, upstream_s3: Any) -> None:
    """Unsigned GET, PUT and list on A's bucket get 403 AccessDenied (BillFlow would sign them
    with the upstream account's key if it forwarded them)."""
    w, wire = world, world.b.wire
    host = [("Host", wire.netloc)]
    for method, target, extra, body in [
        ("GET", key_path(w.bucket_a, SMALL), [], b""),
        ("PUT", key_path(w.bucket_a, SMALL), [("Content-Length", str(len(EVIL)))], EVIL),
        ("GET", f"/{w.bucket_a}?list-type=2", [], b""),
    ]:
        reply = wire.raw(method, target, [*host, *extra], body)
        expect_error(reply, 403, "AccessDenied")
        leaks_nothing(reply, w)
    assert_isolated(w, upstream_s3)


# --- presigned URLs made with B's key ---------------------------------------------------------


def _fetch(gateway: Gateway, method: str, url: str, body: bytes | None = None) -> Reply:
    parts = urlsplit(url)
    conn = gateway.connection()
    try:
        conn.request(method, f"{parts.path}?{parts.query}", body=body)
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        conn.close()


@pytest.mark.parametrize("signer", ["sigv4", "sigv2-default"])
@pytest.mark.parametrize("operation", ["get_object", "put_object", "delete_object"])
def test_presigned_url_made_with_other_tenants_key_access_denied(
    world: World, gateway: Gateway, upstream_s3: Any, signer: str, operation: str
) -> None:
    """A URL B's boto3 presigns for A's object (SigV4 with s3v4, SigV2 at boto3's defaults),
    fetched by a plain HTTP client, gets 403 AccessDenied."""
    w = world
    client = w.b.s3v4 if signer == "sigv4" else w.b.s3
    url = client.generate_presigned_url(
        operation, Params={"Bucket": w.bucket_a, "Key": SMALL}, ExpiresIn=300
    )
    assert ("X-Amz-Signature=" if signer == "sigv4" else "AWSAccessKeyId=") in url, url
    method = {"get_object": "GET", "put_object": "PUT", "delete_object": "DELETE"}[operation]
    reply = _fetch(gateway, method, url, EVIL if method == "PUT" else None)
    expect_error(reply, 403, "AccessDenied")
    leaks_nothing(reply, w)
    assert_isolated(w, upstream_s3)


def test_presigned_post_made_with_other_tenants_key_stores_nothing(
    world: World, gateway: Gateway, upstream_s3: Any
) -> None:
    """A browser-form POST upload B's boto3 presigns (`generate_presigned_post`) for A's bucket
    gets 403 AccessDenied and stores nothing there."""
    w = world
    post = w.b.s3v4.generate_presigned_post(Bucket=w.bucket_a, Key="posted", ExpiresIn=300)
    boundary = uuid.uuid4().hex
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in post["fields"].items()
    )
    body += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    body += EVIL + f"\r\n--{boundary}--\r\n".encode()
    parts = urlsplit(post["url"])
    conn = gateway.connection()
    try:
        conn.request(
            "POST",
            parts.path,
            body=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        response = conn.getresponse()
        reply = Reply(response.status, response.headers, response.read())
    finally:
        conn.close()
    expect_error(reply, 403, "AccessDenied")
    assert_not_stored(upstream_s3, w.bucket_a, "posted", settle=0)
    assert_isolated(w, upstream_s3)


# --- existence does not leak -----------------------------------------------------------------


def _signed(method: str, target: str, body: bytes = b"", **kw: Any) -> Callable[[Wire], Reply]:
    headers = [("Content-Length", str(len(body)))] if body else []
    if body and "?" in target:
        headers.append(("Content-MD5", md5_b64(body)))
    return lambda wire: wire.send(wire.sign(method, target, headers=headers, body=body, **kw))


_TAGGING = b"<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>"
_DELETE = f"<Delete><Object><Key>{SMALL}</Key></Object></Delete>".encode()

PROBES: dict[str, Callable[[World, str], Reply]] = {
    "GetObject": lambda w, b: _signed("GET", key_path(b, SMALL))(w.b.wire),
    "HeadObject": lambda w, b: _signed("HEAD", key_path(b, SMALL))(w.b.wire),
    "PutObject": lambda w, b: _signed("PUT", key_path(b, SMALL), EVIL)(w.b.wire),
    "DeleteObject": lambda w, b: _signed("DELETE", key_path(b, SMALL))(w.b.wire),
    "ListObjects": lambda w, b: _signed("GET", f"/{b}")(w.b.wire),
    "ListObjectsV2": lambda w, b: _signed("GET", f"/{b}?list-type=2")(w.b.wire),
    "ListObjectVersions": lambda w, b: _signed("GET", f"/{b}?versions")(w.b.wire),
    "ListMultipartUploads": lambda w, b: _signed("GET", f"/{b}?uploads")(w.b.wire),
    "HeadBucket": lambda w, b: _signed("HEAD", f"/{b}")(w.b.wire),
    "GetBucketLocation": lambda w, b: _signed("GET", f"/{b}?location")(w.b.wire),
    "GetBucketVersioning": lambda w, b: _signed("GET", f"/{b}?versioning")(w.b.wire),
    "PutBucketTagging": lambda w, b: _signed("PUT", f"/{b}?tagging", _TAGGING)(w.b.wire),
    "DeleteObjects": lambda w, b: _signed("POST", f"/{b}?delete", _DELETE)(w.b.wire),
    "CreateMultipartUpload": lambda w, b: _signed("POST", f"{key_path(b, 'x')}?uploads")(w.b.wire),
    "DeleteBucket": lambda w, b: _signed("DELETE", f"/{b}")(w.b.wire),
    "CopyObject-from": lambda w, b: _copy(
        w.b.wire, key_path(w.bucket_b, "stolen-probe"), f"{b}/{SMALL}"
    ),
    "CopyObject-into": lambda w, b: _copy(w.b.wire, key_path(b, SMALL), f"{w.bucket_b}/{B_KEY}"),
    "virtual-hosted-GetObject": lambda w, b: _signed("GET", f"/{SMALL}", host=_vhost(w, b))(
        w.b.wire
    ),
    "sigv2-GetObject": lambda w, b: w.b.wire.send(w.b.wire.sign_v2("GET", key_path(b, SMALL))),
    "presigned-sigv4-GetObject": lambda w, b: w.b.wire.get(
        w.b.wire.presign("GET", key_path(b, SMALL))
    ),
    "presigned-sigv2-GetObject": lambda w, b: w.b.wire.get(
        w.b.wire.presign_v2("GET", key_path(b, SMALL))
    ),
}


@pytest.mark.parametrize("probe", list(PROBES))
def test_other_tenants_bucket_answers_like_nonexistent_and_unowned(
    world: World, upstream_s3: Any, probe: str
) -> None:
    """B cannot tell A's bucket from a bucket that exists nowhere or one nobody owns: the same
    403 AccessDenied, headers and body (less request ids and the name asked about)."""
    w = world
    replies = {name: PROBES[probe](w, name) for name in (w.bucket_a, w.missing, w.unowned)}
    for reply in replies.values():
        if probe.startswith("Head"):
            assert (reply.status, reply.body) == (403, b""), reply.describe()
        else:
            expect_error(reply, 403, "AccessDenied")
        leaks_nothing(reply, w)
    seen = {name: fingerprint(reply, name) for name, reply in replies.items()}
    assert seen[w.bucket_a] == seen[w.missing] == seen[w.unowned], seen
    upstream_s3.head_bucket(Bucket=w.unowned)
    assert_isolated(w, upstream_s3)


# --- ListBuckets -----------------------------------------------------------------------------


def _only_own(names: list[str], w: World) -> None:
    assert w.bucket_a not in names and w.scratch_a not in names and w.unowned not in names, names
    assert set(names) <= w.b_buckets, names


def test_list_buckets_shows_only_own_buckets(world: World) -> None:
    """boto3 ListBuckets for B lists B's buckets only; for A, A's and not B's or the unowned
    one."""
    w = world
    b_names = [b["Name"] for b in w.b.s3.list_buckets()["Buckets"]]
    _only_own(b_names, w)
    assert w.bucket_b in b_names
    a_names = {b["Name"] for b in w.a.s3.list_buckets()["Buckets"]}
    assert {w.bucket_a, w.scratch_a} <= a_names
    assert not a_names & (w.b_buckets | {w.unowned}), a_names


@pytest.mark.parametrize(
    "params",
    [{"Prefix": "iso-"}, {"MaxBuckets": 1000}, {"BucketRegion": REGION}],
    ids=["prefix", "max-buckets", "bucket-region"],
)
def test_list_buckets_with_parameters_shows_only_own_buckets(
    world: World, params: dict[str, Any]
) -> None:
    """ListBuckets with its optional parameters (Prefix, MaxBuckets, BucketRegion, which boto3
    sends as `GET /?prefix=...`) still lists only B's buckets."""
    w = world
    _only_own([b["Name"] for b in w.b.s3.list_buckets(**params)["Buckets"]], w)


@pytest.mark.parametrize(
    "request_",
    [
        "GET /?prefix=iso-",
        "GET /?max-buckets=1",
        "GET /?continuation-token=x",
        "GET /?list-type=2",
        "GET /?versions",
        "GET /?acl",
        "POST /?delete",
    ],
)
def test_service_level_request_with_query_lists_no_other_tenants_bucket(
    world: World, request_: str
) -> None:
    """A request naming no bucket but carrying a query (`GET /?prefix=`, `POST /?delete`, ...)
    never answers another tenant's bucket names."""
    w = world
    method, target = request_.split()
    reply = w.b.wire.send(w.b.wire.sign(method, target))
    for name in (w.bucket_a, w.scratch_a, w.unowned):
        assert name.encode() not in reply.body, reply.describe()
    if reply.status == 200:
        _only_own(re.findall(r"<Name>([^<]*)</Name>", reply.body.decode()), w)


# --- CreateBucket and DeleteBucket ------------------------------------------------------------


def _error(call: Callable[..., Any], **params: Any) -> tuple[int, str]:
    """(status, code) of the ClientError `call(**params)` must raise."""
    with pytest.raises(ClientError) as caught:
        call(**params)
    response = caught.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def test_create_bucket_of_other_tenants_name_answers_bucket_already_exists(
    world: World, upstream_s3: Any
) -> None:
    """B's CreateBucket of A's name (with or without a LocationConstraint, or spelt
    `/%XX...`) gets 409 BucketAlreadyExists; A keeps the bucket."""
    w = world
    assert _error(w.b.s3.create_bucket, Bucket=w.bucket_a) == (409, "BucketAlreadyExists")
    elsewhere = {"LocationConstraint": "eu-west-1"}
    assert _error(w.b.s3.create_bucket, Bucket=w.bucket_a, CreateBucketConfiguration=elsewhere) == (
        409,
        "BucketAlreadyExists",
    )
    reply = w.b.wire.send(w.b.wire.sign("PUT", f"/{pct(w.bucket_a)}"))
    expect_error(reply, 409, "BucketAlreadyExists")
    _only_own([b["Name"] for b in w.b.s3.list_buckets()["Buckets"]], w)
    w.a.s3.head_bucket(Bucket=w.bucket_a)
    assert_isolated(w, upstream_s3)


def test_create_bucket_own_name_again_answers_already_owned_by_you(
    world: World, upstream_s3: Any
) -> None:
    """A's CreateBucket of its own bucket gets 409 BucketAlreadyOwnedByYou and changes
    nothing."""
    w = world
    assert _error(w.a.s3.create_bucket, Bucket=w.bucket_a) == (
        409,
        "BucketAlreadyOwnedByYou",
    )
    assert_isolated(w, upstream_s3)


def test_bucket_made_on_upstream_directly_belongs_to_nobody(world: World, upstream_s3: Any) -> None:
    """A bucket made on moto behind BillFlow's back: 403 AccessDenied to both tenants for
    reads, writes and listing, 409 BucketAlreadyExists to either's CreateBucket, in nobody's
    ListBuckets; its object is untouched."""
    w = world
    for s3 in (w.a.s3, w.b.s3):
        calls: list[tuple[str, dict[str, Any]]] = [
            ("get_object", {"Key": "nobodys.txt"}),
            ("put_object", {"Key": "nobodys.txt", "Body": EVIL}),
            ("list_objects_v2", {}),
            ("delete_bucket", {}),
        ]
        for operation, params in calls:
            call = getattr(s3, operation)
            assert _error(call, Bucket=w.unowned, **params) == (403, "AccessDenied"), operation
        created = _error(s3.create_bucket, Bucket=w.unowned)
        assert created == (409, "BucketAlreadyExists")
        assert w.unowned not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    stored = upstream_s3.get_object(Bucket=w.unowned, Key="nobodys.txt")["Body"].read()
    assert stored == b"nobody's"
    assert_isolated(w, upstream_s3)


def test_deleted_bucket_name_can_be_created_by_other_tenant(
    world: World, upstream_s3: Any, bucket_name: str
) -> None:
    """B cannot delete A's empty bucket (403 AccessDenied, it stays upstream and A's); once A
    empties and deletes it through BillFlow, B's CreateBucket of that name succeeds and the
    bucket is B's: A gets AccessDenied and BucketAlreadyExists, ListBuckets follows."""
    w = world
    w.a.s3.create_bucket(Bucket=bucket_name)
    assert _error(w.b.s3.delete_bucket, Bucket=bucket_name) == (403, "AccessDenied")
    upstream_s3.head_bucket(Bucket=bucket_name)
    w.a.s3.put_object(Bucket=bucket_name, Key="a.txt", Body=b"a's")
    assert _error(w.b.s3.delete_bucket, Bucket=bucket_name) == (403, "AccessDenied")
    w.a.s3.delete_object(Bucket=bucket_name, Key="a.txt")
    w.a.s3.delete_bucket(Bucket=bucket_name)
    assert bucket_name not in {b["Name"] for b in upstream_s3.list_buckets()["Buckets"]}

    w.b.s3.create_bucket(Bucket=bucket_name)
    w.b_buckets.add(bucket_name)
    w.b.s3.put_object(Bucket=bucket_name, Key="b.txt", Body=b"b's")
    assert bucket_name in {b["Name"] for b in w.b.s3.list_buckets()["Buckets"]}
    assert bucket_name not in {b["Name"] for b in w.a.s3.list_buckets()["Buckets"]}
    assert _error(w.a.s3.get_object, Bucket=bucket_name, Key="b.txt") == (
        403,
        "AccessDenied",
    )
    assert _error(w.a.s3.create_bucket, Bucket=bucket_name) == (409, "BucketAlreadyExists")
    assert upstream_s3.get_object(Bucket=bucket_name, Key="b.txt")["Body"].read() == b"b's"


def test_delete_bucket_with_extra_query_keeps_ledger_and_upstream_in_step(
    world: World, upstream_s3: Any, bucket_name: str
) -> None:
    """`DELETE /bucket?foo=bar` (S3 ignores unknown query parameters): afterwards the owner's
    ListBuckets shows the bucket exactly when the upstream still has it, and a deleted name is
    free for another tenant."""
    w = world
    w.a.s3.create_bucket(Bucket=bucket_name)
    w.a.wire.send(w.a.wire.sign("DELETE", f"/{bucket_name}?foo=bar"))
    upstream = bucket_name in {b["Name"] for b in upstream_s3.list_buckets()["Buckets"]}
    listed = bucket_name in {b["Name"] for b in w.a.s3.list_buckets()["Buckets"]}
    assert listed == upstream, f"upstream has it: {upstream}; A's ListBuckets shows it: {listed}"
    if not upstream:
        w.b.s3.create_bucket(Bucket=bucket_name)
        w.b_buckets.add(bucket_name)


def test_concurrent_create_of_one_name_by_two_tenants_one_wins(world: World) -> None:
    """A and B creating the same new name at the same instant: exactly one gets 200 and owns
    the bucket; the other gets 409 BucketAlreadyExists (never BucketAlreadyOwnedByYou) and
    AccessDenied on it."""
    w = world
    for round_ in range(4):
        name = f"iso-race-{round_}-{uuid.uuid4().hex[:10]}"
        barrier = threading.Barrier(2)

        def create(party: Party, name: str = name, barrier: threading.Barrier = barrier) -> Any:
            barrier.wait()
            try:
                party.s3.create_bucket(Bucket=name)
            except ClientError as e:
                return e.response["Error"]["Code"]
            return "created"

        with ThreadPoolExecutor(2) as pool:
            outcome = dict(zip("ab", pool.map(create, (w.a, w.b)), strict=True))
        assert sorted(outcome.values()) == ["BucketAlreadyExists", "created"], outcome
        winner, loser = (w.a, w.b) if outcome["a"] == "created" else (w.b, w.a)
        if winner is w.b:
            w.b_buckets.add(name)
        winner.s3.put_object(Bucket=name, Key="k", Body=b"winner's")
        assert _error(loser.s3.get_object, Bucket=name, Key="k") == (403, "AccessDenied")
        assert name not in {b["Name"] for b in loser.s3.list_buckets()["Buckets"]}


# --- aws-cli as tenant B ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def aws_b(tmp_path_factory: pytest.TempPathFactory, gateway: Gateway, world: World) -> Aws:
    """aws-cli with B's key, run as conftest's `aws` runs it for the package tenant."""
    return aws_cli(tmp_path_factory.mktemp("awscli-b"), gateway, world.b.key)


def _parallel(aws: Aws, commands: list[tuple[str, ...]]) -> Iterator[Any]:
    with ThreadPoolExecutor(len(commands)) as pool:
        yield from pool.map(lambda args: aws(*args), commands)


def test_awscli_other_tenants_bucket_every_command_refused(
    world: World, aws_b: Aws, upstream_s3: Any, tmp_path: Path
) -> None:
    """B's `aws s3` and `aws s3api` commands on A's bucket (ls, cp down, cp up, server-side cp,
    rm, rb --force, get-object, put-bucket-policy) fail with 403 (AccessDenied), and leave A's
    bucket untouched."""
    w = world
    upload = tmp_path / "evil.bin"
    upload.write_bytes(EVIL)
    a = f"s3://{w.bucket_a}"
    commands: list[tuple[str, ...]] = [
        ("s3", "ls", f"{a}/"),
        ("s3", "ls", "--recursive", f"{a}/dir/"),
        ("s3", "cp", f"{a}/{SMALL}", str(tmp_path / "down")),
        ("s3", "cp", str(upload), f"{a}/{SMALL}"),
        ("s3", "cp", f"{a}/{SMALL}", f"s3://{w.bucket_b}/stolen-cli"),
        ("s3", "cp", f"s3://{w.bucket_b}/{B_KEY}", f"{a}/{SMALL}"),
        ("s3", "rm", f"{a}/{SMALL}"),
        ("s3", "rb", "--force", a),
        ("s3api", "get-object", "--bucket", w.bucket_a, "--key", SMALL, str(tmp_path / "g")),
        ("s3api", "put-bucket-policy", "--bucket", w.bucket_a, "--policy", "{}"),
        ("s3", "sync", a, str(tmp_path / "sync")),
    ]
    for args, done in zip(commands, _parallel(aws_b, commands), strict=True):
        assert done.returncode != 0, (args, done.stdout)
        assert re.search(r"\((AccessDenied|403)\)", done.stderr), (args, done.stderr)
    assert not (tmp_path / "down").exists() and not (tmp_path / "g").exists()
    assert not (tmp_path / "sync").exists() or not any((tmp_path / "sync").iterdir())
    assert_not_stored(upstream_s3, w.bucket_b, "stolen-cli", settle=0)
    assert_isolated(w, upstream_s3)


def test_awscli_lists_and_presigns_nothing_of_other_tenant(
    world: World, aws_b: Aws, gateway: Gateway, upstream_s3: Any
) -> None:
    """For B, `aws s3 ls` and `aws s3api list-buckets` list no bucket of A or nobody's; `aws s3
    mb` of A's name fails with BucketAlreadyExists; `aws s3 presign` of A's object (SigV4 and,
    at defaults, SigV2) gives URLs answered 403 AccessDenied."""
    w = world
    src = f"s3://{w.bucket_a}/{SMALL}"
    commands: list[tuple[str, ...]] = [
        ("s3", "ls"),
        ("s3api", "list-buckets"),
        ("s3", "mb", f"s3://{w.bucket_a}"),
        ("s3", "presign", src, "--expires-in", "300"),
        ("--profile", "stock", "s3", "presign", src, "--expires-in", "300"),
    ]
    ls, api, mb, v4, v2 = _parallel(aws_b, commands)
    assert ls.returncode == 0, ls.stderr
    _only_own([line.split()[-1] for line in ls.stdout.splitlines() if line.strip()], w)
    assert w.bucket_b in ls.stdout
    assert api.returncode == 0, api.stderr
    _only_own([b["Name"] for b in json.loads(api.stdout)["Buckets"]], w)
    assert mb.returncode != 0 and "BucketAlreadyExists" in mb.stderr, mb.stderr
    for done, marker in ((v4, "X-Amz-Signature="), (v2, "AWSAccessKeyId=")):
        assert done.returncode == 0, done.stderr
        url = done.stdout.strip()
        assert marker in url, url
        reply = _fetch(gateway, "GET", url)
        expect_error(reply, 403, "AccessDenied")
        leaks_nothing(reply, w)
    assert_isolated(w, upstream_s3)


def test_awscli_list_buckets_with_prefix_lists_only_own_buckets(world: World, aws_b: Aws) -> None:
    """`aws s3api list-buckets --prefix iso-` for B lists no bucket of A or nobody's."""
    done = aws_b("s3api", "list-buckets", "--prefix", "iso-")
    assert done.returncode == 0, done.stderr
    _only_own([b["Name"] for b in json.loads(done.stdout)["Buckets"]], world)
