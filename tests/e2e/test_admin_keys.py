"""An operator's day through the admin API, with a tenant's real client on the other side.

Key lifecycle (create, use, rotate with two live keys, revoke: the next request fails), suspension
and resumption, and the bucket listing, all over HTTP against the running `billflow serve`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .harness import AdminAPI, Gateway, TenantKey

pytestmark = pytest.mark.e2e


def _client(make_s3: Any, tenant: str, created: dict[str, Any]) -> Any:
    key = TenantKey(tenant, created["access_key_id"], created["secret_access_key"])
    return make_s3(key=key)


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_admin_key_rotation_and_revocation_take_effect_on_next_request(
    admin_api: AdminAPI, make_s3: Any, bucket_name: str
) -> None:
    """Two live keys work side by side; a revoked key fails on the very next request."""
    status, tenant = admin_api.call(
        "POST", "/admin/tenants", {"name": f"rot-{bucket_name}", "billing_email": "f@x.example"}
    )
    assert status == 201, tenant
    status, first = admin_api.call("POST", f"/admin/tenants/{tenant['id']}/keys")
    assert status == 201, first
    old = _client(make_s3, tenant["name"], first)
    old.create_bucket(Bucket=bucket_name)
    old.put_object(Bucket=bucket_name, Key="k", Body=b"v1")

    status, second = admin_api.call("POST", f"/admin/tenants/{tenant['id']}/keys")
    assert status == 201, second
    new = _client(make_s3, tenant["name"], second)
    assert new.get_object(Bucket=bucket_name, Key="k")["Body"].read() == b"v1"
    assert old.get_object(Bucket=bucket_name, Key="k")["Body"].read() == b"v1"

    status, listed = admin_api.call("GET", f"/admin/tenants/{tenant['id']}/keys")
    assert status == 200
    assert {k["access_key_id"] for k in listed["items"]} >= {
        first["access_key_id"],
        second["access_key_id"],
    }
    assert all("secret_access_key" not in k for k in listed["items"])

    status, _ = admin_api.call("POST", f"/admin/keys/{first['access_key_id']}/revoke")
    assert status == 200
    with pytest.raises(ClientError) as exc:
        old.get_object(Bucket=bucket_name, Key="k")
    assert _code(exc) == "InvalidAccessKeyId"
    assert new.get_object(Bucket=bucket_name, Key="k")["Body"].read() == b"v1"


def test_admin_suspend_refuses_every_request_and_resume_restores(
    admin_api: AdminAPI, make_s3: Any, upstream_s3: Any, bucket_name: str
) -> None:
    """A suspended tenant gets AccessDenied on every S3 request; its data stays untouched."""
    status, tenant = admin_api.call("POST", "/admin/tenants", {"name": f"sus-{bucket_name}"})
    assert status == 201, tenant
    _, created = admin_api.call("POST", f"/admin/tenants/{tenant['id']}/keys")
    s3 = _client(make_s3, tenant["name"], created)
    s3.create_bucket(Bucket=bucket_name)
    s3.put_object(Bucket=bucket_name, Key="k", Body=b"kept")

    status, _ = admin_api.call("POST", f"/admin/tenants/{tenant['id']}/suspend")
    assert status == 200
    for attempt in (
        lambda: s3.get_object(Bucket=bucket_name, Key="k"),
        lambda: s3.list_buckets(),
        lambda: s3.delete_object(Bucket=bucket_name, Key="k"),
    ):
        with pytest.raises(ClientError) as exc:
            attempt()
        assert _code(exc) == "AccessDenied"
    assert upstream_s3.get_object(Bucket=bucket_name, Key="k")["Body"].read() == b"kept"

    status, _ = admin_api.call("POST", f"/admin/tenants/{tenant['id']}/resume")
    assert status == 200
    assert s3.get_object(Bucket=bucket_name, Key="k")["Body"].read() == b"kept"

    status, buckets = admin_api.call("GET", f"/admin/tenants/{tenant['id']}/buckets")
    assert status == 200
    assert [b["name"] for b in buckets["items"]] == [bucket_name]
    status, refused = admin_api.call("DELETE", f"/admin/tenants/{tenant['id']}")
    assert status == 409, refused  # it still owns a bucket


def test_admin_without_token_is_refused_with_json_401(gateway: Gateway) -> None:
    request = urllib.request.Request(f"http://{gateway.host}:{gateway.admin_port}/admin/tenants")
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(request, timeout=30)
    assert exc.value.code == 401
    assert "error" in json.loads(exc.value.read())
