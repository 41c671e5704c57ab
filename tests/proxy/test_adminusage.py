"""Admin usage API: each route's exact JSON against a real ledger fed meter batches, at a fixed
clock in Asia/Kolkata (+05:30: billing days and months start at 18:30 UTC)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from adminkit import ADMIN_PASSWORD, ADMIN_USER, AdminAPI, Client, admin_config
from jsonschema import Draft202012Validator

from billing.periods import hour_start
from proxy import admin, adminauth
from proxy.adminspec import OPENAPI
from proxy.crypto import SecretBox, hash_password
from proxy.ledger import Ledger
from proxy.usage import (
    Batch,
    CallKey,
    Correction,
    Counts,
    ObjectPut,
    ObservedBucket,
    PartPut,
    StorageEvent,
)

KOLKATA = ZoneInfo("Asia/Kolkata")
GB = 2**30
DAY = 86_400
#: 11:30 on 15 March 2026 in Kolkata: the period is 2026-03, today is 2026-03-15.
NOW = datetime(2026, 3, 15, 6, 0, tzinfo=UTC)
MARCH = {"period": "2026-03", "start": "2026-02-28T18:30:00Z", "end": "2026-03-31T18:30:00Z"}
KEY_A, KEY_B = "AKIAAAAAAAAAAAAAAAAA", "AKIABBBBBBBBBBBBBBBB"
STATUS = {"1xx": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0}


def tally(calls: int = 0, billable: int | None = None, in_: int = 0, out: int = 0) -> Any:
    """The four request counters; billable defaults to all calls."""
    billable = calls if billable is None else billable
    return {"calls": calls, "billable_calls": billable, "bytes_in": in_, "bytes_out": out}


def used(byte_seconds: int = 0, gb_days: str = "0.000000") -> Any:
    return {"byte_seconds": byte_seconds, "gb_days": gb_days}


def op(name: str, cls: str, counts: Any, **status: int) -> Any:
    statuses = STATUS | {f"{code[1:]}xx": n for code, n in status.items()}
    return {"operation": name, "billing_class": cls, **counts, "status_classes": statuses}


def stored(objects: int, object_bytes: int, parts: int = 0, part_bytes: int = 0) -> Any:
    return {
        "bytes": object_bytes + part_bytes,
        "objects": objects,
        "object_bytes": object_bytes,
        "parts": parts,
        "part_bytes": part_bytes,
    }


def fixed(correction_id: int, at_: str, bucket: str, tenant_id: int, *counts: int) -> Any:
    """A correction's JSON; `counts`: objects and bytes before, then objects and bytes after."""
    names = ("objects_before", "bytes_before", "objects_after", "bytes_after")
    return {"id": correction_id, "at": at_, "bucket": bucket, "tenant_id": tenant_id} | dict(
        zip(names, counts, strict=True)
    )


class FakeReconciler:
    def __init__(self, corrections: Sequence[Correction] = ()) -> None:
        self.corrections = list(corrections)
        self.runs = 0

    async def __call__(self) -> Sequence[Correction]:
        self.runs += 1
        return self.corrections


@pytest.fixture
def reconciler() -> FakeReconciler:
    return FakeReconciler()


@pytest.fixture
async def uapi(
    tmp_path: Path,
    master_key: str,
    reconciler: FakeReconciler,
    aiohttp_client: Callable[..., Awaitable[Client]],
) -> AsyncIterator[AdminAPI]:
    """An admin app at the fixed clock `NOW`, with `reconciler` as its reconciliation."""
    cfg = admin_config(tmp_path, master_key)
    ledger = await Ledger.open(
        cfg.ledger_path, SecretBox.from_text(master_key), billing_tz=cfg.billing_timezone
    )
    await ledger.create_admin(ADMIN_USER, hash_password(ADMIN_PASSWORD, log2_n=10), now=NOW)
    app = admin.create_app(cfg, ledger, clock=lambda: NOW, reconcile=reconciler)
    client = await aiohttp_client(app)
    token, _ = adminauth.mint(cfg.admin_tokens, ADMIN_USER, now=datetime.now(UTC))
    yield AdminAPI(client, ledger, cfg, token)
    await ledger.close()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def feed(
    api: AdminAPI,
    calls: Sequence[tuple[CallKey, Counts]] = (),
    storage: Sequence[StorageEvent] = (),
) -> None:
    batch = Batch(storage=list(storage))
    for key, counts in calls:
        batch.calls.setdefault(key, Counts()).add(counts)
    await api.ledger.usage.apply(batch)


def call(
    when: datetime,
    tenant: int,
    operation: str = "GetObject",
    billing_class: str = "read",
    status: str = "2xx",
    *,
    calls: int = 1,
    bytes_in: int = 0,
    bytes_out: int = 0,
    key: str = KEY_A,
    bucket: str = "photos",
) -> tuple[CallKey, Counts]:
    hour = hour_start(when, KOLKATA)
    return (
        CallKey(hour, tenant, key, bucket, operation, billing_class, status),
        Counts(calls, bytes_in, bytes_out),
    )


async def tenant(api: AdminAPI, name: str = "acme") -> int:
    return (await api.ledger.create_tenant(name, now=at("2026-01-01T00:00:00"))).id


async def bucket(api: AdminAPI, name: str, tenant_id: int, when: datetime, size: int) -> None:
    """A bucket metered from `when`, holding one object of `size` bytes from then on."""
    await api.ledger.register_bucket(name, tenant_id, now=when)
    await feed(api, storage=[ObjectPut(when, name, "object", size)])


def conforms(body: Any, schema: str) -> None:
    """`body` matches its schema in the OpenAPI document (refs resolve against the document)."""
    Draft202012Validator({**OPENAPI, "$ref": f"#/components/schemas/{schema}"}).validate(body)


async def get(api: AdminAPI, path: str, status: int = 200, schema: str | None = None) -> Any:
    """The JSON body, checked against `schema` (errors: always against Error)."""
    resp = await api.call("GET", path)
    assert resp.status == status, await resp.text()
    body = await resp.json()
    if status != 200 or schema is not None:
        conforms(body, "Error" if status != 200 else str(schema))
    return body


async def test_usage_current_period_exact_json(uapi: AdminAPI) -> None:
    """Per operation, per class and in total; 5xx never billable; February's call left out."""
    t = await tenant(uapi)
    await bucket(uapi, "photos", t, NOW - timedelta(days=1), GB)
    march = at("2026-03-10T10:00:00")
    await feed(
        uapi,
        [
            call(march, t, calls=3, bytes_out=300),
            call(march, t, status="5xx"),
            call(march, t, status="4xx", bytes_out=20),
            call(march, t, "PutObject", "write", calls=2, bytes_in=GB),
            call(march, t, "DeleteObject", "free"),
            call(march, t, "ListBuckets", "write", bucket=""),
            call(at("2026-02-28T18:29:00"), t, calls=5, bytes_out=5),  # 23:59 on 28 Feb
        ],
    )
    body = await get(uapi, f"/admin/tenants/{t}/usage", schema="TenantUsage")
    assert body == MARCH | {
        "as_of": "2026-03-15T06:00:00Z",
        "tenant_id": t,
        "operations": [
            op("DeleteObject", "free", tally(1), s2=1),
            op("GetObject", "read", tally(5, 4, out=320), s2=3, s4=1, s5=1),
            op("ListBuckets", "write", tally(1), s2=1),
            op("PutObject", "write", tally(2, in_=GB), s2=2),
        ],
        "billing_classes": {
            "write": {"calls": 3, "billable_calls": 3},
            "read": {"calls": 5, "billable_calls": 4},
            "free": {"calls": 1, "billable_calls": 1},
        },
        "totals": tally(9, 8, in_=GB, out=320),
        "storage_now": {"buckets": 1, **stored(1, GB)},
        "storage_used": {"until": "2026-03-15T06:00:00Z", **used(GB * DAY, "1.000000")},
    }


async def test_usage_past_period_counts_the_whole_period(uapi: AdminAPI) -> None:
    t = await tenant(uapi)
    # Held from local midnight on 28 Feb: one GB-day in February, the rest in March.
    await bucket(uapi, "photos", t, at("2026-02-27T18:30:00"), GB)
    await feed(uapi, [call(at("2026-02-28T18:29:00"), t, calls=5, bytes_out=5)])
    body = await get(uapi, f"/admin/tenants/{t}/usage?period=2026-02", schema="TenantUsage")
    feb = {"period": "2026-02", "start": "2026-01-31T18:30:00Z", "end": "2026-02-28T18:30:00Z"}
    assert body.items() >= feb.items()
    assert body["totals"] == tally(5, out=5)
    assert body["storage_used"] == {"until": feb["end"], **used(GB * DAY, "1.000000")}
    march = await get(uapi, f"/admin/tenants/{t}/usage?period=2026-03", schema="TenantUsage")
    assert march["totals"] == tally()
    held = NOW - at("2026-02-28T18:30:00")  # 14 days 11.5 hours
    assert march["storage_used"]["byte_seconds"] == GB * int(held.total_seconds())
    assert march["storage_used"]["gb_days"] == "14.479167"


async def test_usage_future_period_is_empty(uapi: AdminAPI) -> None:
    t = await tenant(uapi)
    await bucket(uapi, "photos", t, NOW - timedelta(days=1), GB)
    body = await get(uapi, f"/admin/tenants/{t}/usage?period=2026-04", schema="TenantUsage")
    assert body["storage_used"] == {"until": "2026-03-31T18:30:00Z", **used()}
    assert body["operations"] == [] and body["totals"] == tally()
    assert body["storage_now"]["bytes"] == GB


async def test_usage_daily_kolkata_midnight_splits_days(uapi: AdminAPI) -> None:
    """18:29 UTC is 23:59 in Kolkata and 18:31 UTC is 00:01 the next day."""
    t = await tenant(uapi)
    await feed(
        uapi,
        [
            call(at("2026-03-13T18:29:00"), t, bytes_out=7),
            call(at("2026-03-13T18:31:00"), t, status="5xx"),
            call(at("2026-03-13T18:31:00"), t, "PutObject", "write", bytes_in=9),
        ],
    )
    # From local midnight today until NOW (11:30 local): 11.5 hours of 1 GB.
    await bucket(uapi, "photos", t, at("2026-03-14T18:30:00"), GB)
    body = await get(uapi, f"/admin/tenants/{t}/usage/daily?days=3", schema="DailyUsage")
    assert body == {
        "tenant_id": t,
        "timezone": "Asia/Kolkata",
        "as_of": "2026-03-15T06:00:00Z",
        "days": [
            {"date": "2026-03-13", **tally(1, out=7), **used()},
            {"date": "2026-03-14", **tally(2, 1, in_=9), **used()},
            {"date": "2026-03-15", **tally(), **used(GB * 41_400, "0.479167")},
        ],
    }


async def test_usage_daily_default_30_days_of_zeros(uapi: AdminAPI) -> None:
    t = await tenant(uapi)
    days = (await get(uapi, f"/admin/tenants/{t}/usage/daily", schema="DailyUsage"))["days"]
    assert [d["date"] for d in days[:2]] == ["2026-02-14", "2026-02-15"]
    assert len(days) == 30 and days[-1]["date"] == "2026-03-15"
    assert all(d == {"date": d["date"], **tally(), **used()} for d in days)


async def test_usage_buckets_breakdown(uapi: AdminAPI) -> None:
    """A bucket no longer metered keeps its period storage, with storage_now null."""
    t = await tenant(uapi)
    await bucket(uapi, "gone", t, at("2026-03-10T00:00:00"), GB)
    await uapi.ledger.unregister_bucket("gone", t, now=at("2026-03-11T00:00:00"))
    await bucket(uapi, "photos", t, NOW - timedelta(days=1), GB // 2)
    await feed(
        uapi,
        [
            call(at("2026-03-14T07:00:00"), t, calls=2, bytes_out=40),
            call(at("2026-03-14T07:00:00"), t, "PutObject", "write", "5xx", bytes_in=3),
            call(at("2026-03-14T07:00:00"), t, "ListBuckets", "write", bucket=""),
        ],
        [PartPut(NOW, "photos", "upload-1", 1, 1000)],
    )
    body = await get(uapi, f"/admin/tenants/{t}/usage/buckets", schema="BucketUsage")
    assert body == MARCH | {
        "as_of": "2026-03-15T06:00:00Z",
        "tenant_id": t,
        "buckets": [
            {"bucket": "", **tally(1), **used(), "storage_now": None},
            {"bucket": "gone", **tally(), **used(GB * DAY, "1.000000"), "storage_now": None},
            {
                "bucket": "photos",
                **tally(3, 2, in_=3, out=40),
                **used(GB // 2 * DAY, "0.500000"),
                "storage_now": stored(1, GB // 2, 1, 1000),
            },
        ],
    }


async def test_usage_keys_breakdown(uapi: AdminAPI) -> None:
    t = await tenant(uapi)
    other = await tenant(uapi, "beta")
    when = at("2026-03-14T07:00:00")
    await feed(
        uapi,
        [
            call(when, t, calls=2, bytes_out=10),
            call(when, t, status="5xx", key=KEY_B),
            call(when, t, "PutObject", "write", bytes_in=5, key=KEY_B),
            call(when, other, calls=9, key="AKIACCCCCCCCCCCCCCCC"),
            call(at("2026-02-10T00:00:00"), t, calls=4),
        ],
    )
    body = await get(uapi, f"/admin/tenants/{t}/usage/keys", schema="KeyUsage")
    assert body == MARCH | {
        "as_of": "2026-03-15T06:00:00Z",
        "tenant_id": t,
        "keys": [
            {"access_key_id": KEY_A, **tally(2, out=10)},
            {"access_key_id": KEY_B, **tally(2, 1, in_=5)},
        ],
    }
    feb = await get(uapi, f"/admin/tenants/{t}/usage/keys?period=2026-02", schema="KeyUsage")
    assert feb["keys"] == [{"access_key_id": KEY_A, **tally(4)}]


async def test_usage_overview_totals_and_top_tenants(uapi: AdminAPI) -> None:
    acme, beta = await tenant(uapi, "acme"), await tenant(uapi, "beta")
    gamma = await tenant(uapi, "gamma")
    await uapi.ledger.set_tenant_status(beta, "suspended", now=NOW)
    await bucket(uapi, "acme-data", acme, NOW - timedelta(days=1), GB)
    await bucket(uapi, "beta-data", beta, NOW - timedelta(days=1), 2 * GB)
    await bucket(uapi, "gamma-empty", gamma, NOW - timedelta(days=1), 0)
    today, earlier = at("2026-03-15T01:00:00"), at("2026-03-02T00:00:00")
    await feed(
        uapi,
        [
            call(today, acme, calls=2, bytes_out=100),
            call(today, beta, status="5xx"),
            call(earlier, beta, calls=5, bytes_in=50),
            call(at("2026-02-20T00:00:00"), gamma, calls=100),
        ],
    )
    anonymous = Batch()
    for when, code, n in [
        (today, "InvalidAccessKeyId", 2),
        (today, "SignatureDoesNotMatch", 1),
        (earlier, "InvalidAccessKeyId", 4),
    ]:
        anonymous.anonymous[hour_start(when, KOLKATA), code] = Counts(n, n * 10, n * 100)
    await uapi.ledger.usage.apply(anonymous)
    body = await get(uapi, "/admin/usage/overview", schema="UsageOverview")
    assert body == {
        "as_of": "2026-03-15T06:00:00Z",
        "tenants": {"total": 3, "active": 2, "suspended": 1},
        "storage_now": {"bytes": 3 * GB, "buckets": 3},
        "today": {
            "date": "2026-03-15",
            "start": "2026-03-14T18:30:00Z",
            "end": "2026-03-15T18:30:00Z",
            **tally(3, 2, out=100),
            "unauthenticated": {
                "calls": 3,
                "bytes_in": 30,
                "bytes_out": 300,
                "by_error_code": {"InvalidAccessKeyId": 2, "SignatureDoesNotMatch": 1},
            },
        },
        "period": MARCH
        | tally(8, 7, in_=50, out=100)
        | {
            "unauthenticated": {
                "calls": 7,
                "bytes_in": 70,
                "bytes_out": 700,
                "by_error_code": {"InvalidAccessKeyId": 6, "SignatureDoesNotMatch": 1},
            },
        },
        "top_tenants_by_calls": [
            {"tenant_id": beta, "name": "beta", "calls": 6, "billable_calls": 5},
            {"tenant_id": acme, "name": "acme", "calls": 2, "billable_calls": 2},
        ],
        "top_tenants_by_storage": [
            {"tenant_id": beta, "name": "beta", "bytes": 2 * GB},
            {"tenant_id": acme, "name": "acme", "bytes": GB},
        ],
    }


async def test_usage_overview_top_tenants_stop_at_ten(uapi: AdminAPI) -> None:
    ids = [await tenant(uapi, f"t{n:02d}") for n in range(12)]
    await feed(uapi, [call(NOW, t, calls=n + 1) for n, t in enumerate(ids)])
    top = (await get(uapi, "/admin/usage/overview", schema="UsageOverview"))["top_tenants_by_calls"]
    assert [(e["name"], e["calls"]) for e in top] == [
        (f"t{n:02d}", n + 1) for n in range(11, 1, -1)
    ]


async def _corrections(api: AdminAPI) -> tuple[int, int]:
    """Three corrections: two for acme's bucket, one for beta's."""
    acme, beta = await tenant(api, "acme"), await tenant(api, "beta")
    await bucket(api, "acme-data", acme, at("2026-03-01T00:00:00"), 10)
    await bucket(api, "beta-data", beta, at("2026-03-01T00:00:00"), 20)
    usage = api.ledger.usage
    await usage.reconcile("acme-data", ObservedBucket({"a": 5, "b": 6}, {}), now=at("2026-03-02"))
    await usage.reconcile("beta-data", ObservedBucket({}, {}), now=at("2026-03-03T00:00:00"))
    await usage.reconcile("acme-data", ObservedBucket({}, {("u", 1): 7}), now=at("2026-03-04"))
    return acme, beta


async def test_reconciliations_list_pages_oldest_first(uapi: AdminAPI) -> None:
    acme, beta = await _corrections(uapi)
    first = await get(uapi, "/admin/reconciliations?limit=2", schema="CorrectionPage")
    assert first == {
        "items": [
            fixed(1, "2026-03-02T00:00:00Z", "acme-data", acme, 1, 10, 2, 11),
            fixed(2, "2026-03-03T00:00:00Z", "beta-data", beta, 1, 20, 0, 0),
        ],
        "next": "2",
    }
    rest = await get(uapi, f"/admin/reconciliations?limit=2&after={first['next']}")
    assert [c["id"] for c in rest["items"]] == [3] and rest["next"] is None
    assert rest["items"][0]["bytes_after"] == 7


async def test_reconciliations_list_filters_by_tenant(uapi: AdminAPI) -> None:
    acme, _ = await _corrections(uapi)
    page = await get(uapi, f"/admin/reconciliations?tenant_id={acme}")
    assert [c["id"] for c in page["items"]] == [1, 3]
    page = await get(uapi, "/admin/reconciliations?tenant_id=999")
    assert page == {"items": [], "next": None}


async def test_reconciliations_post_runs_the_reconciler(
    uapi: AdminAPI, reconciler: FakeReconciler
) -> None:
    reconciler.corrections = [Correction(7, NOW, "photos", 3, 2, 200, 1, 100)]
    resp = await uapi.call("POST", "/admin/reconciliations")
    assert resp.status == 200 and reconciler.runs == 1
    conforms(await resp.json(), "Reconciliation")
    assert await resp.json() == {
        "corrections": [fixed(7, "2026-03-15T06:00:00Z", "photos", 3, 2, 200, 1, 100)]
    }


async def test_reconciliations_post_nothing_to_correct_200_empty(
    uapi: AdminAPI, reconciler: FakeReconciler
) -> None:
    resp = await uapi.call("POST", "/admin/reconciliations")
    assert resp.status == 200 and await resp.json() == {"corrections": []}


async def test_reconciliations_post_with_a_body_422_not_run(
    uapi: AdminAPI, reconciler: FakeReconciler
) -> None:
    resp = await uapi.call("POST", "/admin/reconciliations", {"bucket": "photos"})
    assert resp.status == 422 and reconciler.runs == 0


async def test_reconciliations_post_without_reconciler_503(api: AdminAPI) -> None:
    resp = await api.call("POST", "/admin/reconciliations")
    assert resp.status == 503
    assert (await resp.json())["error"]["code"] == "ReconciliationUnavailable"


ROUTES = [
    ("GET", "/admin/tenants/1/usage"),
    ("GET", "/admin/tenants/1/usage/daily"),
    ("GET", "/admin/tenants/1/usage/buckets"),
    ("GET", "/admin/tenants/1/usage/keys"),
    ("GET", "/admin/usage/overview"),
    ("GET", "/admin/reconciliations"),
    ("POST", "/admin/reconciliations"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_usage_routes_without_token_401(
    uapi: AdminAPI, reconciler: FakeReconciler, method: str, path: str
) -> None:
    await tenant(uapi)
    resp = await uapi.client.request(method, path)
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "MissingToken"
    assert reconciler.runs == 0


@pytest.mark.parametrize(
    "query",
    [
        "usage?period=2026-13",
        "usage?period=2026-00",
        "usage?period=26-03",
        "usage?period=2026-3",
        "usage?period=0000-01",
        "usage?period=0001-01",  # starts before datetime's first instant in UTC
        "usage?period=9999-12",  # ends after its last
        "usage/buckets?period=",
        "usage/keys?period=march",
        "usage/daily?days=0",
        "usage/daily?days=367",
        "usage/daily?days=-1",
        "usage/daily?days=ten",
        "usage/daily?days=%C2%B2",  # "²": a digit to str.isdigit, not to int()
    ],
)
async def test_usage_bad_query_400(uapi: AdminAPI, query: str) -> None:
    t = await tenant(uapi)
    body = await get(uapi, f"/admin/tenants/{t}/{query}", 400)
    assert body["error"]["code"] == "InvalidQuery"


@pytest.mark.parametrize(
    "query",
    [
        *("tenant_id=x", "tenant_id=", "tenant_id=-1"),
        *("limit=0", "limit=1001", "limit=%C2%B2"),  # "²": a digit to str.isdigit, not to int()
        *("after=x", "after=%C2%B2"),
    ],
)
async def test_reconciliations_bad_query_400(uapi: AdminAPI, query: str) -> None:
    body = await get(uapi, f"/admin/reconciliations?{query}", 400)
    assert body["error"]["code"] == "InvalidQuery"


async def test_usage_days_366_allowed(uapi: AdminAPI) -> None:
    t = await tenant(uapi)
    days = (await get(uapi, f"/admin/tenants/{t}/usage/daily?days=366"))["days"]
    assert len(days) == 366 and days[0]["date"] == "2025-03-15"


@pytest.mark.parametrize("suffix", ["usage", "usage/daily", "usage/buckets", "usage/keys"])
async def test_usage_unknown_tenant_404(uapi: AdminAPI, suffix: str) -> None:
    body = await get(uapi, f"/admin/tenants/404/{suffix}", 404)
    assert body["error"]["code"] == "NotFound"
