"""Admin API, tenants: each route's happy path and its bad inputs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from adminkit import AdminAPI


async def test_tenants_create_201_with_location_and_fields(api: AdminAPI) -> None:
    resp = await api.call(
        "POST",
        "/admin/tenants",
        {"name": "acme", "billing_email": "ap@acme.example", "storage_quota_bytes": 10**9},
    )
    assert resp.status == 201
    body = await resp.json()
    assert resp.headers["Location"] == f"/admin/tenants/{body['id']}"
    assert {k: body[k] for k in ("name", "billing_email", "status", "storage_quota_bytes")} == {
        "name": "acme",
        "billing_email": "ap@acme.example",
        "status": "active",
        "storage_quota_bytes": 10**9,
    }
    created = datetime.fromisoformat(body["created_at"])
    assert created.tzinfo is not None and body["created_at"].endswith("Z")
    assert body["updated_at"] == body["created_at"]


async def test_tenants_get_returns_what_create_returned(api: AdminAPI) -> None:
    tenant = await api.tenant()
    resp = await api.call("GET", f"/admin/tenants/{tenant['id']}")
    assert resp.status == 200 and await resp.json() == tenant


async def test_tenants_create_duplicate_name_409(api: AdminAPI) -> None:
    await api.tenant("acme")
    resp = await api.call("POST", "/admin/tenants", {"name": "acme"})
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "Conflict"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 422, "MissingField"),
        ({"name": ""}, 422, "InvalidField"),
        ({"name": "x" * 201}, 422, "InvalidField"),
        ({"name": " acme"}, 422, "InvalidField"),
        ({"name": "a\nb"}, 422, "InvalidField"),
        ({"name": 7}, 422, "InvalidField"),
        ({"name": "acme", "billing_email": "not-an-email"}, 422, "InvalidField"),
        ({"name": "acme", "billing_email": "a@b"}, 422, "InvalidField"),
        ({"name": "acme", "storage_quota_bytes": -1}, 422, "InvalidField"),
        ({"name": "acme", "storage_quota_bytes": 1.5}, 422, "InvalidField"),
        ({"name": "acme", "storage_quota_bytes": True}, 422, "InvalidField"),
        ({"name": "acme", "storage_quota_bytes": "10"}, 422, "InvalidField"),
        ({"name": "acme", "storage_quota_bytes": 2**64}, 422, "InvalidField"),
        ({"name": "acme", "status": "suspended"}, 422, "UnknownField"),
        (["acme"], 400, "MalformedJSON"),
    ],
)
async def test_tenants_create_bad_input_refused(
    api: AdminAPI, body: Any, status: int, code: str
) -> None:
    resp = await api.call("POST", "/admin/tenants", body)
    assert resp.status == status
    assert (await resp.json())["error"]["code"] == code
    listed = await (await api.call("GET", "/admin/tenants")).json()
    assert listed["items"] == []  # nothing half-written


async def test_tenants_create_invalid_json_400(api: AdminAPI) -> None:
    resp = await api.client.post(
        "/admin/tenants", data=b'{"name": ', headers=api.headers() | {"Content-Type": "x/y"}
    )
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "MalformedJSON"


async def test_tenants_list_pages_follow_next_until_null(api: AdminAPI) -> None:
    names = [f"t{i}" for i in range(5)]
    for name in names:
        await api.tenant(name)
    seen: list[str] = []
    query = "?limit=2"
    while True:
        page = await (await api.call("GET", f"/admin/tenants{query}")).json()
        seen += [t["name"] for t in page["items"]]
        if page["next"] is None:
            break
        query = f"?limit=2&after={page['next']}"
    assert seen == names


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=x", "after=-1", "after=abc"])
async def test_tenants_list_bad_query_400(api: AdminAPI, query: str) -> None:
    resp = await api.call("GET", f"/admin/tenants?{query}")
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "InvalidQuery"


@pytest.mark.parametrize("path", ["/admin/tenants/999", "/admin/tenants/abc", "/admin/tenants/-1"])
async def test_tenants_get_unknown_404(api: AdminAPI, path: str) -> None:
    resp = await api.call("GET", path)
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "NotFound"


async def test_tenants_patch_name_and_clear_email(api: AdminAPI) -> None:
    tenant = await api.tenant(billing_email="ap@acme.example")
    resp = await api.call(
        "PATCH", f"/admin/tenants/{tenant['id']}", {"name": "acme2", "billing_email": None}
    )
    assert resp.status == 200
    body = await resp.json()
    assert (body["name"], body["billing_email"]) == ("acme2", None)
    assert body["updated_at"] >= tenant["updated_at"]


async def test_tenants_patch_empty_body_changes_nothing(api: AdminAPI) -> None:
    tenant = await api.tenant()
    resp = await api.call("PATCH", f"/admin/tenants/{tenant['id']}", {})
    assert resp.status == 200 and await resp.json() == tenant


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"name": "taken"}, 409, "Conflict"),
        ({"status": "suspended"}, 422, "UnknownField"),
        ({"storage_quota_bytes": 5}, 422, "UnknownField"),
        ({"billing_email": "nope"}, 422, "InvalidField"),
        ({"name": None}, 422, "InvalidField"),
    ],
)
async def test_tenants_patch_bad_input_refused_unchanged(
    api: AdminAPI, body: dict[str, Any], status: int, code: str
) -> None:
    await api.tenant("taken")
    tenant = await api.tenant("acme")
    resp = await api.call("PATCH", f"/admin/tenants/{tenant['id']}", body)
    assert resp.status == status
    assert (await resp.json())["error"]["code"] == code
    assert await (await api.call("GET", f"/admin/tenants/{tenant['id']}")).json() == tenant


async def test_tenants_patch_unknown_tenant_404(api: AdminAPI) -> None:
    resp = await api.call("PATCH", "/admin/tenants/42", {"name": "x"})
    assert resp.status == 404


async def test_tenants_suspend_then_resume_status_and_cache_told(api: AdminAPI) -> None:
    tenant = await api.tenant()
    key = await (await api.call("POST", f"/admin/tenants/{tenant['id']}/keys")).json()
    resp = await api.call("POST", f"/admin/tenants/{tenant['id']}/suspend")
    assert resp.status == 200 and (await resp.json())["status"] == "suspended"
    assert api.forgotten == [key["access_key_id"]]
    creds = await api.ledger.find_credentials(key["access_key_id"])
    assert creds is not None and creds.key.tenant_status == "suspended"
    resp = await api.call("POST", f"/admin/tenants/{tenant['id']}/resume")
    assert resp.status == 200 and (await resp.json())["status"] == "active"
    assert api.forgotten == [key["access_key_id"]] * 2


@pytest.mark.parametrize("action", ["suspend", "resume"])
async def test_tenants_status_change_unknown_tenant_404(api: AdminAPI, action: str) -> None:
    resp = await api.call("POST", f"/admin/tenants/77/{action}")
    assert resp.status == 404


async def test_tenants_suspend_with_body_fields_422(api: AdminAPI) -> None:
    tenant = await api.tenant()
    resp = await api.call("POST", f"/admin/tenants/{tenant['id']}/suspend", {"why": "x"})
    assert resp.status == 422


async def test_tenants_quota_set_then_clear(api: AdminAPI) -> None:
    tenant = await api.tenant()
    path = f"/admin/tenants/{tenant['id']}/quota"
    resp = await api.call("PUT", path, {"storage_quota_bytes": 5 * 2**30})
    assert resp.status == 200 and (await resp.json())["storage_quota_bytes"] == 5 * 2**30
    resp = await api.call("DELETE", path)
    assert resp.status == 200 and (await resp.json())["storage_quota_bytes"] is None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "MissingField"),
        ({"storage_quota_bytes": -5}, "InvalidField"),
        ({"storage_quota_bytes": None}, "InvalidField"),
        ({"storage_quota_bytes": "1GB"}, "InvalidField"),
        ({"storage_quota_bytes": 1, "soft": True}, "UnknownField"),
    ],
)
async def test_tenants_quota_bad_input_422(api: AdminAPI, body: dict[str, Any], code: str) -> None:
    tenant = await api.tenant()
    resp = await api.call("PUT", f"/admin/tenants/{tenant['id']}/quota", body)
    assert resp.status == 422
    assert (await resp.json())["error"]["code"] == code


async def test_tenants_quota_unknown_tenant_404(api: AdminAPI) -> None:
    resp = await api.call("PUT", "/admin/tenants/9/quota", {"storage_quota_bytes": 1})
    assert resp.status == 404


MH_GSTIN, KA_GSTIN = "27AAPFU0939F1ZV", "29AABCT3518Q1ZS"  # Maharashtra, Karnataka
BILLING: dict[str, Any] = {
    "billing_name": "Acme Storage Pvt Ltd",
    "billing_address": "1 MG Road\nMumbai 400001",
    "billing_state": None,
    "gstin": MH_GSTIN,
}


async def test_tenants_create_with_billing_details_state_from_gstin(api: AdminAPI) -> None:
    body = await api.tenant(**BILLING | {"gstin": MH_GSTIN.lower()})
    assert {k: body[k] for k in BILLING} == BILLING | {"billing_state": "27"}
    assert await (await api.call("GET", f"/admin/tenants/{body['id']}")).json() == body


async def test_tenants_created_without_billing_details_show_nulls(api: AdminAPI) -> None:
    body = await api.tenant()
    assert {k: body[k] for k in BILLING} == dict.fromkeys(BILLING)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"gstin": "27AAPFU0939F1ZW"}, "gstin"),
        ({"gstin": MH_GSTIN, "billing_state": "29"}, "billing_state"),
        ({"billing_state": "45"}, "billing_state"),
        ({"billing_name": ""}, "billing_name"),
        ({"billing_address": "a\u0000b"}, "billing_address"),
        ({"gstin": 27}, "gstin"),
    ],
)
async def test_tenants_create_bad_billing_details_422_naming_field(
    api: AdminAPI, fields: dict[str, Any], message: str
) -> None:
    resp = await api.call("POST", "/admin/tenants", {"name": "acme", **fields})
    assert resp.status == 422
    error = (await resp.json())["error"]
    assert error["code"] == "InvalidField" and message in error["message"]


async def test_tenants_patch_gstin_moves_state_and_null_clears(api: AdminAPI) -> None:
    tenant = await api.tenant(**BILLING)
    path = f"/admin/tenants/{tenant['id']}"
    body = await (await api.call("PATCH", path, {"gstin": KA_GSTIN})).json()
    assert (body["billing_state"], body["gstin"]) == ("29", KA_GSTIN)
    body = await (await api.call("PATCH", path, {"gstin": None, "billing_name": None})).json()
    assert (body["billing_state"], body["gstin"], body["billing_name"]) == ("29", None, None)
    body = await (await api.call("PATCH", path, {"billing_state": "07"})).json()
    assert body["billing_state"] == "07"
    assert body["billing_address"] == BILLING["billing_address"]


async def test_tenants_patch_state_disagreeing_with_gstin_422_unchanged(api: AdminAPI) -> None:
    tenant = await api.tenant(**BILLING)
    resp = await api.call("PATCH", f"/admin/tenants/{tenant['id']}", {"billing_state": "29"})
    assert resp.status == 422
    assert (await resp.json())["error"]["code"] == "InvalidField"
    assert await (await api.call("GET", f"/admin/tenants/{tenant['id']}")).json() == tenant


async def test_tenants_delete_without_buckets_204_and_keys_forgotten(api: AdminAPI) -> None:
    tenant = await api.tenant()
    key = await (await api.call("POST", f"/admin/tenants/{tenant['id']}/keys")).json()
    resp = await api.call("DELETE", f"/admin/tenants/{tenant['id']}")
    assert resp.status == 204
    assert (await api.call("GET", f"/admin/tenants/{tenant['id']}")).status == 404
    assert api.forgotten == [key["access_key_id"]]
    assert await api.ledger.find_credentials(key["access_key_id"]) is None


async def test_tenants_delete_owning_buckets_409_nothing_changed(api: AdminAPI) -> None:
    tenant = await api.tenant()
    await api.ledger.register_bucket("photos", tenant["id"], now=datetime.now(UTC))
    resp = await api.call("DELETE", f"/admin/tenants/{tenant['id']}")
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "TenantOwnsBuckets"
    assert (await api.call("GET", f"/admin/tenants/{tenant['id']}")).status == 200
    assert await api.ledger.bucket_owner("photos") == tenant["id"]
    assert api.forgotten == api.forgotten_buckets == []


async def test_tenants_delete_forced_leaves_buckets_unowned(api: AdminAPI) -> None:
    tenant = await api.tenant()
    await api.ledger.register_bucket("photos", tenant["id"], now=datetime.now(UTC))
    resp = await api.call("DELETE", f"/admin/tenants/{tenant['id']}?force=true")
    assert resp.status == 204
    assert await api.ledger.bucket_owner("photos") is None
    assert api.forgotten_buckets == ["photos"]


async def test_tenants_delete_bad_force_value_400(api: AdminAPI) -> None:
    tenant = await api.tenant()
    resp = await api.call("DELETE", f"/admin/tenants/{tenant['id']}?force=yes")
    assert resp.status == 400
    assert (await api.call("GET", f"/admin/tenants/{tenant['id']}")).status == 200


async def test_tenants_delete_unknown_404(api: AdminAPI) -> None:
    resp = await api.call("DELETE", "/admin/tenants/31")
    assert resp.status == 404
