"""Two BillFlows in a chain: clients -> BillFlow A -> BillFlow B -> moto, over real sockets.

moto checks no signatures, so a wrong upstream signature from BillFlow's own signer (upsign.py)
would pass every other e2e test. Here A's upstream is B, and A's upstream credentials are a tenant
key B issued: every request A forwards must pass B's SigV4 check, as it must pass MinIO's or S3's
in production. A mistake in A's re-signing (path or query encoding, a header signed differently
from how it is sent, the payload hash) comes back as 403 SignatureDoesNotMatch from B, passed
through A to the client, and shows in B's log.

What is proven: object calls with awkward keys, metadata, Content-MD5, ranges, listings, copies,
batch deletes and tagging; an aws-cli multipart upload and download; flexible checksums on a
6 MiB body; a presigned GET; all through both gateways, with what moto holds read from moto
itself. A runs once on plain HTTP and once on HTTPS: from HTTP clients the 6 MiB body is signed
(both gateways hash it in worker threads), from HTTPS clients checksums come as aws-chunked
trailers, which A re-frames for B. A recording relay between A and B (tap.py) shows what A sent.
A sanity test shows B really rejects a bad signature, so the chain passing means something; after
each test neither gateway has logged a SignatureDoesNotMatch, another authentication failure or
a 403 the test didn't mean.

Not covered: CreateBucket through A succeeding. A asks its upstream whether a name is free
(HeadBucket; anything but 404 means taken) and B answers 403 for every bucket its tenant doesn't
own, so a BillFlow can't create buckets through another; buckets here are made at B and given to
A's tenant by A's admin API, and the refused CreateBucket is checked for B authenticating A's
probe.
"""

from __future__ import annotations

import base64
import filecmp
import hashlib
import json
import re
import signal
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from awscrt import checksums as crt
from botocore.config import Config
from botocore.exceptions import ClientError

from .harness import (
    ODD_KEYS,
    REGION,
    SCHEMES,
    AdminAPI,
    Aws,
    Gateway,
    MiB,
    Served,
    TenantKey,
    TestCA,
    Upstream,
    admin_api_for,
    aws_cli,
    tenant_s3,
    write_config,
)
from .s3wire import STREAMING_UNSIGNED_TRAILER, Wire, expect_error, key_path
from .tap import Tap, WireRequest, decode_aws_chunked

pytestmark = pytest.mark.e2e

#: B's tenant whose key is A's upstream credentials; A's own tenant.
A_AT_B = "gatewayA"
A_TENANT = "tenant"


#: User metadata with runs of spaces (SigV4 collapses them when signing, not when sending) and
#: non-ASCII text as a client must send it in a header (RFC 2047; botocore refuses raw UTF-8).
METADATA = {
    "spaced": "two  spaces   and three",
    "unicode": "=?UTF-8?B?" + base64.b64encode("grüße, 東京".encode()).decode() + "?=",
    "plain": "blue",
}

#: Signed payloads (x-amz-content-sha256 = the body's hex SHA-256), as the 6 MiB test needs.
SIGNED_PAYLOAD = Config(signature_version="s3v4", s3={"payload_signing_enabled": True})
PATH_STYLE = Config(signature_version="s3v4", s3={"addressing_style": "path"})


# -- the chain ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chain_b(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[Served]:
    """BillFlow B in front of moto, with tenant A_AT_B and its key: A's upstream credentials."""
    gw = write_config(tmp_path_factory.mktemp("billflow-b"), upstream.url)
    made = gw.cli_json("tenant", "create", A_AT_B)
    assert made["name"] == A_AT_B, made
    key = gw.create_key(A_AT_B)
    gw.start()
    yield Served(gw, key)
    gw.stop(signal.SIGTERM)


@dataclass(frozen=True)
class Front:
    """BillFlow A: the gateway, its tenant's id and key, and an admin of it."""

    gateway: Gateway
    tenant_id: int
    key: TenantKey
    admin: AdminAPI


@pytest.fixture(scope="module")
def tap_b(chain_b: Served) -> Iterator[Tap]:
    """A recording relay in front of B: A's upstream endpoint, so the tests can see what A put on
    the wire for B. It changes nothing (B checks A's signature over the Host A signed, the
    relay's address)."""
    with Tap(chain_b.gateway) as tap:
        yield tap


@pytest.fixture(scope="module", params=SCHEMES)
def chain_a(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    chain_b: Served,
    tap_b: Tap,
    test_ca: TestCA,
) -> Iterator[Front]:
    """BillFlow A (plain HTTP or HTTPS to its clients) whose upstream is B (through `tap_b`),
    signing for B with B's key for A_AT_B; its tenant A_TENANT has a key of A's. Stopped before
    B."""
    tls = test_ca if request.param == "https" else None
    gw = write_config(tmp_path_factory.mktemp(f"billflow-a-{request.param}"), tap_b.url, tls=tls)
    gw.env["BILLFLOW_UPSTREAM_ACCESS_KEY_ID"] = chain_b.key.access_key_id
    gw.env["BILLFLOW_UPSTREAM_SECRET_ACCESS_KEY"] = chain_b.key.secret_access_key
    made = gw.cli_json("tenant", "create", A_TENANT)
    assert made["name"] == A_TENANT and isinstance(made["id"], int), made
    key = gw.create_key(A_TENANT)
    gw.start()
    yield Front(gw, made["id"], key, admin_api_for(gw))
    gw.stop(signal.SIGTERM)


@pytest.fixture(scope="module")
def s3_a(chain_a: Front) -> Iterator[Any]:
    """boto3 (s3v4, path-style) to A as A's tenant."""
    client = tenant_s3(chain_a.gateway, chain_a.key, PATH_STYLE)
    yield client
    client.close()


@pytest.fixture(scope="module")
def s3_a_signed(chain_a: Front) -> Iterator[Any]:
    """The same with payload signing forced on."""
    client = tenant_s3(chain_a.gateway, chain_a.key, PATH_STYLE.merge(SIGNED_PAYLOAD))
    yield client
    client.close()


@pytest.fixture(scope="module")
def aws_a(tmp_path_factory: pytest.TempPathFactory, chain_a: Front) -> Aws:
    """aws-cli to A as A's tenant."""
    return aws_cli(tmp_path_factory.mktemp("awscli-a"), chain_a.gateway, chain_a.key)


@pytest.fixture(scope="module")
def moto(upstream_s3: Any) -> Any:
    """boto3 straight to moto: what really got stored (conftest's upstream_s3)."""
    return upstream_s3


@pytest.fixture(scope="module")
def s3_b(chain_b: Served) -> Iterator[Any]:
    """boto3 straight to B as A_AT_B (A's upstream identity)."""
    client = tenant_s3(chain_b.gateway, chain_b.key, PATH_STYLE)
    yield client
    client.close()


@pytest.fixture
def bucket(s3_b: Any, chain_a: Front, moto: Any) -> str:
    """A fresh bucket: created at B as A_AT_B, then given to A's tenant by A's admin API.

    Not through A: A's CreateBucket first asks its upstream whether the name is free (HeadBucket,
    anything but 404 means taken), and B, hiding which names exist, answers 403 for a bucket its
    tenant doesn't own, existing or not; see test_create_bucket_through_a_is_authenticated_by_b.
    """
    name = f"chained-{uuid.uuid4().hex[:12]}"
    s3_b.create_bucket(Bucket=name)
    moto.head_bucket(Bucket=name)
    status, body = chain_a.admin.call(
        "PUT", f"/admin/buckets/{name}/owner", {"tenant_id": chain_a.tenant_id}
    )
    assert status == 201, body
    return name


# -- logs --------------------------------------------------------------------------------------

#: Request ids of B's log lines that are refusals a test meant (the sanity test's bad signature,
#: B's AccessDenied for A's probe of a bucket name); the log check leaves them out.
EXPECTED_REFUSALS: set[str] = set()


def _log_size(gateway: Gateway) -> int:
    return gateway.log.stat().st_size


def _log_lines(gateway: Gateway, start: int = 0) -> list[dict[str, Any]]:
    """The JSON log lines from byte `start` on (a line that is not JSON fails the test)."""
    with gateway.log.open("rb") as f:
        f.seek(start)
        text = f.read().decode("utf-8", "replace")
    lines = []
    for line in text.splitlines():
        if line.strip():
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                pytest.fail(f"{gateway.log}: not a JSON line: {line!r}", pytrace=False)
    return lines


#: Error codes that mean a request's signature, payload hash or checksum did not hold up.
AUTH_ERRORS = frozenset(
    {
        "SignatureDoesNotMatch",
        "XAmzContentSHA256Mismatch",
        "AuthorizationHeaderMalformed",
        "AuthorizationQueryParametersError",
        "InvalidAccessKeyId",
        "RequestTimeTooSkewed",
        "AccessDenied",
        "IncompleteBody",
        "BadDigest",
        "InvalidDigest",
    }
)


def _failures(gateway: Gateway, start: int) -> list[dict[str, Any]]:
    """Lines from byte `start` on that mention SignatureDoesNotMatch anywhere, carry another
    AUTH_ERRORS code or a 403, less EXPECTED_REFUSALS."""
    return [
        line
        for line in _log_lines(gateway, start)
        if line.get("request_id") not in EXPECTED_REFUSALS
        and (
            "SignatureDoesNotMatch" in json.dumps(line, ensure_ascii=False)
            or line.get("error") in AUTH_ERRORS
            or line.get("status") == 403
        )
    ]


@pytest.fixture(autouse=True)
def _no_signature_mismatch_logged(chain_a: Front, chain_b: Served) -> Iterator[None]:
    """After each test, neither gateway logged SignatureDoesNotMatch, another authentication or
    integrity failure, or a 403 during it, beyond the refusals the test meant."""
    gateways = {"A": chain_a.gateway, "B": chain_b.gateway}
    starts = {name: _log_size(gw) for name, gw in gateways.items()}
    yield
    time.sleep(0.05)  # a response can reach the client just before its access line is written
    for name, gw in gateways.items():
        found = _failures(gw, starts[name])
        assert not found, f"BillFlow {name} logged:\n" + "\n".join(map(str, found))


def _b_access(chain_b: Served, bucket: str, start: int) -> list[dict[str, Any]]:
    """B's access lines from byte `start` on, for requests signed with A's upstream key (B's
    key for A_AT_B) that name `bucket`."""
    return [
        line
        for line in _log_lines(chain_b.gateway, start)
        if line.get("logger") == "billflow.access"
        and line.get("key_id") == chain_b.key.access_key_id
        and bucket in str(line.get("target"))
    ]


def _wait_b_access(chain_b: Served, bucket: str, start: int, count: int) -> list[dict[str, Any]]:
    """_b_access once it has at least `count` lines (5 s at most)."""
    deadline = time.monotonic() + 5
    while len(found := _b_access(chain_b, bucket, start)) < count:
        assert time.monotonic() < deadline, f"B logged only {found}"
        time.sleep(0.05)
    return found


# -- helpers -----------------------------------------------------------------------------------


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = exc.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def _md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def _moto_keys(moto: Any, bucket: str) -> list[str]:
    return [o["Key"] for o in moto.list_objects_v2(Bucket=bucket).get("Contents", [])]


def _sent_to_b(tap_b: Tap, chain_b: Served, method: str, path: str) -> list[WireRequest]:
    """What A sent B for `method` on `path` (encoded, query left off), each checked to be signed
    with B's key for A_AT_B."""
    found = [r for r in tap_b.requests() if r.method == method and r.target.split("?")[0] == path]
    for sent in found:
        credential = f"Credential={chain_b.key.access_key_id}/"
        assert credential in (sent.header("Authorization") or ""), sent.describe()
    return found


def ok(done: subprocess.CompletedProcess[str]) -> str:
    """stdout of a command that must have succeeded."""
    assert done.returncode == 0, f"{done.args}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done.stdout


# -- B really checks ---------------------------------------------------------------------------


def test_b_refuses_a_wrong_signature_and_accepts_a_right_one(chain_b: Served) -> None:
    """B answers a request signed with A's upstream key id but a wrong secret with 403
    SignatureDoesNotMatch, and the same request signed with the right secret with 200: B checks
    signatures, so requests A forwards pass only if A signs them right."""
    gw, key = chain_b.gateway, chain_b.key
    wire = Wire(gw.host, gw.port, key.access_key_id, key.secret_access_key, REGION)
    wrong = wire.send(wire.sign("GET", "/", secret_key="x" * 40))
    error = expect_error(wrong, 403, "SignatureDoesNotMatch")
    EXPECTED_REFUSALS.add(error["RequestId"])
    right = wire.send(wire.sign("GET", "/"))
    assert right.status == 200, right.describe()
    deadline = time.monotonic() + 5
    while not (logged := [x for x in _log_lines(gw) if x.get("request_id") == error["RequestId"]]):
        assert time.monotonic() < deadline, f"{error['RequestId']} not in {gw.log}"
        time.sleep(0.05)
    assert logged[0]["error"] == "SignatureDoesNotMatch", logged


# -- buckets and objects -----------------------------------------------------------------------


def test_create_bucket_through_a_is_authenticated_by_b(
    s3_a: Any, moto: Any, chain_b: Served
) -> None:
    """CreateBucket through A: A first asks its upstream whether the name is free, a HeadBucket
    made by A itself (no tenant headers, empty payload), and B authenticates that probe as
    A_AT_B. B answers it 403 AccessDenied, as it answers any bucket its tenant doesn't own
    (existing or not, so names can't be probed), so A takes the name as taken and refuses it:
    one BillFlow cannot create buckets through another, and nothing reaches moto."""
    name = f"chained-{uuid.uuid4().hex[:12]}"
    start = _log_size(chain_b.gateway)
    with pytest.raises(ClientError) as exc:
        s3_a.create_bucket(Bucket=name)
    assert _error(exc) == (409, "BucketAlreadyExists")
    probes = _wait_b_access(chain_b, name, start, 1)
    EXPECTED_REFUSALS.update(p["request_id"] for p in probes)
    assert [(p["method"], p["tenant"], p["status"], p["error"]) for p in probes] == [
        ("HEAD", A_AT_B, 403, "AccessDenied")
    ]
    with pytest.raises(ClientError) as missing:
        moto.head_bucket(Bucket=name)
    assert _error(missing)[0] == 404


def test_bucket_head_list_delete_through_a(
    s3_a: Any, moto: Any, chain_b: Served, bucket: str
) -> None:
    """HeadBucket, GetBucketLocation and ListObjectsV2 of an empty bucket pass both gateways;
    ListBuckets through A lists it; DeleteBucket through A deletes it in moto (B logged the
    DELETE as A's upstream key, 204)."""
    start = _log_size(chain_b.gateway)
    assert s3_a.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    s3_a.get_bucket_location(Bucket=bucket)
    assert s3_a.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert bucket in [b["Name"] for b in s3_a.list_buckets()["Buckets"]]
    deleted = s3_a.delete_bucket(Bucket=bucket)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        moto.head_bucket(Bucket=bucket)
    assert _error(exc)[0] == 404
    seen = _wait_b_access(chain_b, bucket, start, 4)
    calls = [(line["method"], line["status"]) for line in seen]
    for call in [("HEAD", 200), ("GET", 200), ("DELETE", 204)]:
        assert call in calls, seen


@pytest.mark.parametrize("key", list(ODD_KEYS.values()), ids=list(ODD_KEYS))
def test_tricky_key_put_get_head_list_delete(s3_a: Any, moto: Any, bucket: str, key: str) -> None:
    """An object under an awkward key, with spaced and RFC 2047 metadata, a Content-Type and a
    Content-MD5, is stored in moto under exactly that key with exactly that metadata; GET, HEAD
    and a listing by prefix through A return it; DELETE through A removes it from moto."""
    data = key.encode() * 50
    put = s3_a.put_object(
        Bucket=bucket,
        Key=key,
        Body=data,
        ContentType="text/plain; charset=utf-8",
        ContentMD5=_md5_b64(data),
        Metadata=METADATA,
    )
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'

    stored = moto.get_object(Bucket=bucket, Key=key)
    assert stored["Body"].read() == data
    assert stored["Metadata"] == METADATA
    assert stored["ContentType"] == "text/plain; charset=utf-8"
    assert _moto_keys(moto, bucket) == [key]

    got = s3_a.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == data
    assert got["Metadata"] == METADATA
    assert got["ContentType"] == "text/plain; charset=utf-8"
    head = s3_a.head_object(Bucket=bucket, Key=key)
    assert (head["ContentLength"], head["ETag"]) == (len(data), put["ETag"])

    prefix = key[: max(1, len(key) // 2)]
    listed = s3_a.list_objects_v2(Bucket=bucket, Prefix=prefix)
    assert [o["Key"] for o in listed["Contents"]] == [key]
    v1 = s3_a.list_objects(Bucket=bucket, Prefix=prefix)
    assert [o["Key"] for o in v1["Contents"]] == [key]

    assert s3_a.delete_object(Bucket=bucket, Key=key)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert _moto_keys(moto, bucket) == []


def test_listing_with_delimiter_and_continuation(s3_a: Any, moto: Any, bucket: str) -> None:
    """Listings whose query carries a unicode prefix, a delimiter, max-keys and continuation
    tokens or markers (all re-signed by A) page through exactly what moto holds."""
    keys = sorted(f"ключ dir/{i:02d}+{name}" for i, name in enumerate(ODD_KEYS))
    keys += ["ключ dir/sub/inner.txt", "other/outside.txt"]
    for key in keys:
        s3_a.put_object(Bucket=bucket, Key=key, Body=b"x")
    assert sorted(_moto_keys(moto, bucket)) == sorted(keys)

    seen: list[str] = []
    prefixes: list[str] = []
    token: dict[str, str] = {}
    while True:
        page = s3_a.list_objects_v2(
            Bucket=bucket, Prefix="ключ dir/", Delimiter="/", MaxKeys=3, **token
        )
        seen += [o["Key"] for o in page.get("Contents", [])]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        if not page["IsTruncated"]:
            break
        token = {"ContinuationToken": page["NextContinuationToken"]}
    direct = [k for k in keys if k.startswith("ключ dir/") and "/" not in k[len("ключ dir/") :]]
    assert sorted(seen) == sorted(direct)
    assert prefixes == ["ключ dir/sub/"]

    marker_seen: list[str] = []
    marker = ""
    while True:
        v1 = s3_a.list_objects(Bucket=bucket, Prefix="ключ dir/", MaxKeys=4, Marker=marker)
        marker_seen += [o["Key"] for o in v1.get("Contents", [])]
        if not v1["IsTruncated"]:
            break
        marker = marker_seen[-1]
    assert marker_seen == sorted(k for k in keys if k.startswith("ключ dir/"))


def test_range_get(s3_a: Any, bucket: str) -> None:
    """Range GETs (a middle slice, a suffix, an open end) through both gateways return exactly
    those bytes with their Content-Range."""
    data = bytes(range(256)) * 8
    s3_a.put_object(Bucket=bucket, Key="ranged file+1", Body=data)
    cases = {
        "bytes=100-199": (data[100:200], "bytes 100-199/2048"),
        "bytes=-10": (data[-10:], "bytes 2038-2047/2048"),
        "bytes=2000-": (data[2000:], "bytes 2000-2047/2048"),
    }
    for header, (expected, content_range) in cases.items():
        got = s3_a.get_object(Bucket=bucket, Key="ranged file+1", Range=header)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206, header
        assert got["ContentRange"] == content_range, header
        assert got["Body"].read() == expected, header


def test_copy_object(s3_a: Any, moto: Any, bucket: str) -> None:
    """CopyObject between awkward keys (x-amz-copy-source percent-encoded, re-signed by A)
    copies the bytes in moto; with MetadataDirective REPLACE the copy has the new metadata."""
    source = ODD_KEYS["unicode"]
    data = b"copy me " * 100
    s3_a.put_object(Bucket=bucket, Key=source, Body=data, Metadata=METADATA)
    s3_a.copy_object(
        Bucket=bucket, Key=ODD_KEYS["plus"], CopySource={"Bucket": bucket, "Key": source}
    )
    copied = moto.get_object(Bucket=bucket, Key=ODD_KEYS["plus"])
    assert copied["Body"].read() == data
    assert copied["Metadata"] == METADATA

    s3_a.copy_object(
        Bucket=bucket,
        Key=ODD_KEYS["space"],
        CopySource={"Bucket": bucket, "Key": ODD_KEYS["plus"]},
        MetadataDirective="REPLACE",
        Metadata={"replaced": "yes  indeed"},
        ContentType="application/x-copied",
    )
    replaced = moto.get_object(Bucket=bucket, Key=ODD_KEYS["space"])
    assert replaced["Body"].read() == data
    assert replaced["Metadata"] == {"replaced": "yes  indeed"}
    assert replaced["ContentType"] == "application/x-copied"
    head = s3_a.head_object(Bucket=bucket, Key=ODD_KEYS["space"])
    assert head["Metadata"] == {"replaced": "yes  indeed"}


def test_multi_delete(s3_a: Any, moto: Any, bucket: str) -> None:
    """DeleteObjects (a POST ?delete with a Content-MD5 or checksum over its XML body) of awkward
    keys through A deletes them in moto and reports each; so does a Quiet one (moto ignores
    Quiet, so what it reports is not checked)."""
    keys = list(ODD_KEYS.values())
    for key in keys:
        s3_a.put_object(Bucket=bucket, Key=key, Body=b"doomed")
    first, rest = keys[:4], keys[4:]
    done = s3_a.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in first]})
    assert sorted(d["Key"] for d in done["Deleted"]) == sorted(first)
    assert not done.get("Errors")
    assert sorted(_moto_keys(moto, bucket)) == sorted(rest)
    quiet = s3_a.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": k} for k in rest], "Quiet": True}
    )
    assert not quiet.get("Errors"), quiet
    assert _moto_keys(moto, bucket) == []


#: Tags as x-amz-tagging carries them: a URL query, so a space is "+" and a "+" is "%2B".
TAGS = {"team": "a b", "cost": "1+2", "ключ": "東京/x=y"}


def test_tagging(s3_a: Any, moto: Any, bucket: str) -> None:
    """Tags given on PutObject (x-amz-tagging, URL-encoded) and by PutObjectTagging (?tagging)
    reach moto; GetObjectTagging through A returns them; DeleteObjectTagging clears them."""
    key = ODD_KEYS["unicode"]
    s3_a.put_object(Bucket=bucket, Key=key, Body=b"tagged", Tagging=urlencode(TAGS))
    in_moto = moto.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    assert sorted(in_moto, key=str) == sorted(
        [{"Key": k, "Value": v} for k, v in TAGS.items()], key=str
    )
    tags = [{"Key": "project", "Value": "billflow/東京"}, {"Key": "with space", "Value": "x+y"}]
    s3_a.put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": tags})
    in_moto = moto.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    assert sorted(in_moto, key=str) == sorted(tags, key=str)
    through = s3_a.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    assert sorted(through, key=str) == sorted(tags, key=str)
    s3_a.delete_object_tagging(Bucket=bucket, Key=key)
    assert moto.get_object_tagging(Bucket=bucket, Key=key)["TagSet"] == []


# -- aws-cli -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def file_20mib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("chained-payload") / "20 mib+file.bin"
    path.write_bytes(bytes(range(256)) * (20 * MiB // 256 - 1) + b"tail" * 64)
    return path


def test_awscli_cp_multipart_roundtrip_ls_rm(
    aws_a: Aws,
    moto: Any,
    chain_a: Front,
    chain_b: Served,
    tap_b: Tap,
    bucket: str,
    file_20mib: Path,
    tmp_path: Path,
) -> None:
    """`aws s3 cp` of ~20 MiB uploads 3 parts through both gateways, each part with its CRC32: A
    sends it on to B as a header (from a client on HTTP) or re-framed as an aws-chunked trailer
    (from a client on HTTPS). moto holds the exact bytes as a 3-part object; `s3 cp` back gives
    the same bytes; `s3 ls` lists it with its size; `s3 rm` deletes it."""
    key = "big dir/20 mib+ü.bin"
    target = f"s3://{bucket}/{key}"
    ok(aws_a("s3", "cp", str(file_20mib), target))
    data = file_20mib.read_bytes()
    head = moto.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == len(data)
    assert head["ETag"].endswith('-3"'), head["ETag"]
    assert moto.get_object(Bucket=bucket, Key=key)["Body"].read() == data

    parts = _sent_to_b(tap_b, chain_b, "PUT", key_path(bucket, key))
    assert len(parts) == 3, [p.describe() for p in parts]
    for part in parts:
        if chain_a.gateway.tls:
            assert part.header("x-amz-content-sha256") == STREAMING_UNSIGNED_TRAILER
            assert part.header("x-amz-trailer") == "x-amz-checksum-crc32", part.describe()
            _, trailers = decode_aws_chunked(part.body)
            assert "x-amz-checksum-crc32" in trailers, part.describe()
        else:
            assert part.header("x-amz-checksum-crc32"), part.describe()
            assert part.header("x-amz-content-sha256") == hashlib.sha256(part.body).hexdigest()

    down = tmp_path / "down.bin"
    ok(aws_a("s3", "cp", target, str(down)))
    assert filecmp.cmp(down, file_20mib, shallow=False)

    listing = ok(aws_a("s3", "ls", f"s3://{bucket}/big dir/"))
    assert re.search(rf"^\S+ \S+ +{len(data)} 20 mib\+ü\.bin$", listing, re.MULTILINE), listing

    assert "delete:" in ok(aws_a("s3", "rm", target))
    assert _moto_keys(moto, bucket) == []


# -- checksums on a large signed body ----------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["CRC32C", "SHA256"])
def test_checksum_on_6mib_signed_payload(
    s3_a_signed: Any,
    moto: Any,
    chain_a: Front,
    chain_b: Served,
    tap_b: Tap,
    bucket: str,
    algorithm: str,
) -> None:
    """PutObject of 6 MiB with payload signing on and a flexible checksum passes both gateways
    and is stored exactly; the checksum comes back from moto and through A. From a client on
    HTTP the body is signed (hex SHA-256) with the checksum in a header, and A sends B the same:
    both gateways hash the body in worker threads (over 4 MiB). Over HTTPS boto3 sends an
    unsigned body with the checksum in a trailer whatever the config, and A re-frames it for B."""
    data = (uuid.uuid4().bytes * (6 * MiB // 16))[: 6 * MiB - 7]
    if algorithm == "CRC32C":
        expected = base64.b64encode(crt.crc32c(data).to_bytes(4, "big")).decode()
    else:
        expected = base64.b64encode(hashlib.sha256(data).digest()).decode()
    key = f"six mib/{algorithm}+ü.bin"
    header = f"x-amz-checksum-{algorithm.lower()}"
    put = s3_a_signed.put_object(Bucket=bucket, Key=key, Body=data, ChecksumAlgorithm=algorithm)
    assert put[f"Checksum{algorithm}"] == expected
    stored = moto.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert stored["Body"].read() == data
    assert stored[f"Checksum{algorithm}"] == expected
    got = s3_a_signed.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got[f"Checksum{algorithm}"] == expected

    [sent] = _sent_to_b(tap_b, chain_b, "PUT", key_path(bucket, key))
    if chain_a.gateway.tls:
        assert sent.header("x-amz-content-sha256") == STREAMING_UNSIGNED_TRAILER, sent.describe()
        assert sent.header("x-amz-trailer") == header, sent.describe()
        assert decode_aws_chunked(sent.body) == (data, {header: expected})
    else:
        assert sent.header("x-amz-content-sha256") == hashlib.sha256(data).hexdigest()
        assert sent.header(header) == expected, sent.describe()
        assert sent.body == data


# -- presigned ---------------------------------------------------------------------------------


def test_presigned_get_fetched_with_urllib(s3_a: Any, chain_a: Front, bucket: str) -> None:
    """A presigned (query-string SigV4) GET made for A, with an awkward key and response-*
    overrides in its query, fetched with urllib: A verifies it and re-signs the request for B
    with header auth; the bytes and the overridden headers come back."""
    key = ODD_KEYS["unicode"]
    data = b"shared by url " * 10
    s3_a.put_object(Bucket=bucket, Key=key, Body=data)
    url = s3_a.generate_presigned_url(
        "get_object",
        Params={
            "Bucket": bucket,
            "Key": key,
            "ResponseContentDisposition": 'attachment; filename="a b+c.txt"',
            "ResponseContentType": "text/x-shared",
        },
        ExpiresIn=300,
    )
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url, url
    assert url.startswith(chain_a.gateway.url), url
    context = chain_a.gateway.ssl_context
    with urllib.request.urlopen(url, timeout=30, context=context) as response:
        body = response.read()
        assert response.status == 200
        assert response.headers["Content-Disposition"] == 'attachment; filename="a b+c.txt"'
        assert response.headers["Content-Type"] == "text/x-shared"
    assert body == data


def test_object_calls_reach_b(chain_b: Served, s3_a: Any, bucket: str) -> None:
    """(The chain is real.) Object calls through A show up in B's access log as A's upstream
    key, with the statuses A's client saw."""
    start = _log_size(chain_b.gateway)
    s3_a.put_object(Bucket=bucket, Key="seen by b", Body=b"b")
    assert s3_a.get_object(Bucket=bucket, Key="seen by b")["Body"].read() == b"b"
    with pytest.raises(ClientError) as exc:
        s3_a.head_object(Bucket=bucket, Key="never stored")
    assert _error(exc)[0] == 404
    seen = _wait_b_access(chain_b, bucket, start, 3)
    calls = [(line["method"], line["status"]) for line in seen]
    for call in [("PUT", 200), ("GET", 200), ("HEAD", 404)]:
        assert call in calls, seen
