"""Admin API, access keys and buckets: each route's happy path and its bad inputs."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from adminkit import AdminAPI


async def test_keys_create_201_secret_once_and_usable(api: AdminAPI) -> None:
    tenant = await api.tenant()
    resp = await api.call("POST", f"/admin/tenants/{tenant['id']}/keys")
    assert resp.status == 201 and resp.headers["Cache-Control"] == "no-store"
    key = await resp.json()
    assert re.fullmatch(r"[A-Z0-9]{20}", key["access_key_id"])
    assert re.fullmatch(r"[A-Za-z0-9+/]{40}", key["secret_access_key"])
    assert (key["tenant_id"], key["status"], key["revoked_at"]) == (tenant["id"], "active", None)
    creds = await api.ledger.find_credentials(key["access_key_id"])
    assert creds is not None and creds.secret == key["secret_access_key"]


async def test_keys_list_never_shows_a_secret(api: AdminAPI) -> None:
    tenant = await api.tenant()
    key = await (await api.call("POST", f"/admin/tenants/{tenant['id']}/keys")).json()
    resp = await api.call("GET", f"/admin/tenants/{tenant['id']}/keys")
    assert resp.status == 200
    text = await resp.text()
    assert key["secret_access_key"] not in text and "secret" not in text
    page = await resp.json()
    assert [k["access_key_id"] for k in page["items"]] == [key["access_key_id"]]
    assert page["next"] is None


async def test_keys_list_pages_in_id_order(api: AdminAPI) -> None:
    tenant = await api.tenant()
    made = sorted(
        [
            (await (await api.call("POST", f"/admin/tenants/{tenant['id']}/keys")).json())[
                "access_key_id"
            ]
            for _ in range(3)
        ]
    )
    first = await (await api.call("GET", f"/admin/tenants/{tenant['id']}/keys?limit=2")).json()
    assert [k["access_key_id"] for k in first["items"]] == made[:2]
    rest = await (
        await api.call("GET", f"/admin/tenants/{tenant['id']}/keys?limit=2&after={first['next']}")
    ).json()
    assert [k["access_key_id"] for k in rest["items"]] == made[2:] and rest["next"] is None


@pytest.mark.parametrize(("method", "suffix"), [("GET", "keys"), ("POST", "keys")])
async def test_keys_unknown_tenant_404(api: AdminAPI, method: str, suffix: str) -> None:
    resp = await api.call(method, f"/admin/tenants/404/{suffix}")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "NotFound"


async def test_keys_create_with_fields_422(api: AdminAPI) -> None:
    tenant = await api.tenant()
    resp = await api.call("POST", f"/admin/tenants/{tenant['id']}/keys", {"secret": "mine"})
    assert resp.status == 422
    assert await api.ledger.list_access_keys(tenant["id"]) == []


async def test_keys_revoke_200_then_unusable_and_cache_told(api: AdminAPI) -> None:
    tenant = await api.tenant()
    key = await (await api.call("POST", f"/admin/tenants/{tenant['id']}/keys")).json()
    resp = await api.call("POST", f"/admin/keys/{key['access_key_id']}/revoke")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "revoked" and body["revoked_at"] is not None
    assert api.forgotten == [key["access_key_id"]]
    assert await api.ledger.find_credentials(key["access_key_id"]) is None


async def test_keys_revoke_twice_keeps_first_revocation_time(api: AdminAPI) -> None:
    tenant = await api.tenant()
    key = await (await api.call("POST", f"/admin/tenants/{tenant['id']}/keys")).json()
    first = await (await api.call("POST", f"/admin/keys/{key['access_key_id']}/revoke")).json()
    again = await api.call("POST", f"/admin/keys/{key['access_key_id']}/revoke")
    assert again.status == 200 and await again.json() == first


@pytest.mark.parametrize("key_id", ["AKIA0000000000000000", "short", "akia0000000000000000"])
async def test_keys_revoke_unknown_or_malformed_404(api: AdminAPI, key_id: str) -> None:
    resp = await api.call("POST", f"/admin/keys/{key_id}/revoke")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "NotFound"


async def test_buckets_list_sorted_and_paged(api: AdminAPI) -> None:
    tenant = await api.tenant()
    other = await api.tenant("other")
    for name in ("zeta", "alpha", "mid"):
        await api.ledger.register_bucket(name, tenant["id"], now=datetime.now(UTC))
    await api.ledger.register_bucket("theirs", other["id"], now=datetime.now(UTC))
    first = await (await api.call("GET", f"/admin/tenants/{tenant['id']}/buckets?limit=2")).json()
    assert [b["name"] for b in first["items"]] == ["alpha", "mid"]
    rest = await (
        await api.call("GET", f"/admin/tenants/{tenant['id']}/buckets?after={first['next']}")
    ).json()
    assert [b["name"] for b in rest["items"]] == ["zeta"] and rest["next"] is None
    assert rest["items"][0]["tenant_id"] == tenant["id"]


async def test_buckets_list_unknown_tenant_404(api: AdminAPI) -> None:
    assert (await api.call("GET", "/admin/tenants/5/buckets")).status == 404


async def test_buckets_assign_unowned_201_then_same_owner_200(api: AdminAPI) -> None:
    tenant = await api.tenant()
    resp = await api.call("PUT", "/admin/buckets/legacy-data/owner", {"tenant_id": tenant["id"]})
    assert resp.status == 201
    body = await resp.json()
    assert (body["name"], body["tenant_id"]) == ("legacy-data", tenant["id"])
    again = await api.call("PUT", "/admin/buckets/legacy-data/owner", {"tenant_id": tenant["id"]})
    assert again.status == 200 and await again.json() == body
    assert await api.ledger.bucket_owner("legacy-data") == tenant["id"]
    assert api.forgotten_buckets == ["legacy-data"]  # a cached "nobody owns it" goes


async def test_buckets_assign_owned_by_another_409_owner_kept(api: AdminAPI) -> None:
    owner = await api.tenant("owner")
    thief = await api.tenant("thief")
    await api.call("PUT", "/admin/buckets/photos/owner", {"tenant_id": owner["id"]})
    resp = await api.call("PUT", "/admin/buckets/photos/owner", {"tenant_id": thief["id"]})
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "BucketOwned"
    assert await api.ledger.bucket_owner("photos") == owner["id"]


@pytest.mark.parametrize(
    ("name", "body", "status"),
    [
        ("photos", {}, 422),
        ("photos", {"tenant_id": "1"}, 422),
        ("photos", {"tenant_id": 1, "force": True}, 422),
        ("photos", {"tenant_id": 999}, 404),
        ("Photos", {"tenant_id": 1}, 422),
        ("a..b", {"tenant_id": 1}, 422),
        ("ab", {"tenant_id": 1}, 422),
        ("-photos", {"tenant_id": 1}, 422),
    ],
)
async def test_buckets_assign_bad_input_refused(
    api: AdminAPI, name: str, body: dict[str, Any], status: int
) -> None:
    await api.tenant()
    resp = await api.call("PUT", f"/admin/buckets/{name}/owner", body)
    assert resp.status == status
    assert await api.ledger.bucket_owner(name) is None
