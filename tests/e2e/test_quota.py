"""Storage quotas with real clients: a write that would take a tenant past its quota is refused
with 403 QuotaExceeded before any byte goes upstream, whichever operation it is (PutObject,
UploadPart, CopyObject, UploadPartCopy); deleting frees room again; clearing the quota lifts it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .harness import AdminAPI, Gateway, TenantKey, aws_cli

pytestmark = pytest.mark.e2e

KiB = 1024
QUOTA = 1000 * KiB


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = exc.value.response
    return str(response["Error"]["Code"]), int(response["ResponseMetadata"]["HTTPStatusCode"])


def _absent(upstream_s3: Any, bucket: str, key: str) -> bool:
    listed = upstream_s3.list_objects_v2(Bucket=bucket, Prefix=key)
    return all(o["Key"] != key for o in listed.get("Contents", []))


@pytest.fixture
def quota_tenant(
    admin_api: AdminAPI, make_s3: Callable[..., Any]
) -> tuple[dict[str, Any], Any, TenantKey]:
    """A new tenant with a 1000 KiB quota and a boto3 client with its key."""
    name = f"quota-{uuid.uuid4().hex[:8]}"
    status, tenant = admin_api.call(
        "POST", "/admin/tenants", {"name": name, "storage_quota_bytes": QUOTA}
    )
    assert status == 201, tenant
    status, made = admin_api.call("POST", f"/admin/tenants/{tenant['id']}/keys")
    assert status == 201, made
    key = TenantKey(name, made["access_key_id"], made["secret_access_key"])
    return tenant, make_s3(key=key), key


def test_quota_put_past_it_refused_and_never_stored(
    quota_tenant: tuple[dict[str, Any], Any, TenantKey], upstream_s3: Any
) -> None:
    _, s3, _ = quota_tenant
    bucket = f"q-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="first", Body=b"a" * (600 * KiB))
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="second", Body=b"b" * (600 * KiB))
    assert _code(exc) == ("QuotaExceeded", 403)
    assert _absent(upstream_s3, bucket, "second")
    # Up to the quota exactly is allowed.
    s3.put_object(Bucket=bucket, Key="rest", Body=b"c" * (QUOTA - 600 * KiB))


def test_quota_multipart_part_and_copies_refused(
    quota_tenant: tuple[dict[str, Any], Any, TenantKey], upstream_s3: Any
) -> None:
    """UploadPart, CopyObject and UploadPartCopy count what they would add, before sending."""
    _, s3, _ = quota_tenant
    bucket = f"q-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="src", Body=b"s" * (600 * KiB))
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="dup", CopySource={"Bucket": bucket, "Key": "src"})
    assert _code(exc) == ("QuotaExceeded", 403)
    assert _absent(upstream_s3, bucket, "dup")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    with pytest.raises(ClientError) as exc:
        s3.upload_part(
            Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"p" * (500 * KiB)
        )
    assert _code(exc) == ("QuotaExceeded", 403)
    with pytest.raises(ClientError) as exc:
        s3.upload_part_copy(
            Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1,
            CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange="bytes=0-409600",
        )  # fmt: skip
    assert _code(exc) == ("QuotaExceeded", 403)
    assert upstream_s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload).get("Parts", []) == []
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload)


def test_quota_delete_frees_room_and_clearing_lifts_it(
    quota_tenant: tuple[dict[str, Any], Any, TenantKey], admin_api: AdminAPI
) -> None:
    tenant, s3, _ = quota_tenant
    bucket = f"q-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="big", Body=b"a" * (900 * KiB))
    s3.delete_object(Bucket=bucket, Key="big")
    # The delete reaches the ledger with the meter's next flush (1 s by default).
    deadline = time.monotonic() + 10
    while True:
        try:
            s3.put_object(Bucket=bucket, Key="again", Body=b"b" * (900 * KiB))
            break
        except ClientError as e:
            assert e.response["Error"]["Code"] == "QuotaExceeded"
            assert time.monotonic() < deadline, "the delete never freed the quota"
            time.sleep(0.2)
    status, cleared = admin_api.call("DELETE", f"/admin/tenants/{tenant['id']}/quota")
    assert status == 200 and cleared["storage_quota_bytes"] is None, cleared
    deadline = time.monotonic() + 10
    while True:  # credentials (with the quota) are cached for up to 2 s
        try:
            s3.put_object(Bucket=bucket, Key="beyond", Body=b"c" * (900 * KiB))
            break
        except ClientError as e:
            assert e.response["Error"]["Code"] == "QuotaExceeded"
            assert time.monotonic() < deadline, "clearing the quota did not lift it"
            time.sleep(0.2)


def test_quota_aws_cli_sees_quota_exceeded(
    quota_tenant: tuple[dict[str, Any], Any, TenantKey], gateway: Gateway, tmp_path: Path
) -> None:
    """aws-cli reports the code; nothing retries a 403."""
    _, s3, key = quota_tenant
    bucket = f"q-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    big = tmp_path / "big.bin"
    big.write_bytes(b"z" * (QUOTA + 1))
    home = tmp_path / "aws"
    home.mkdir()
    done = aws_cli(home, gateway, key)("s3", "cp", str(big), f"s3://{bucket}/big.bin")
    assert done.returncode != 0
    assert "QuotaExceeded" in done.stderr
