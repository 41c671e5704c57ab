"""Admin routes for metered usage (issue 4, "Reading it") and storage reconciliation.

Owns: these handlers, their query parameters (`period=YYYY-MM`, `days=1..366`, `tenant_id`)
and the `RECONCILE` hook `admin.create_app` is given. Thin: they read `ledger.usage` and hand
the rows to `usagereport`, which does every sum. Does not own: the sums and GB-days
(usagereport), the reconciler (given as a callable), error rendering or authentication
(admin.py).

Billing periods and days are the billing timezone's (`cfg.billing_timezone`); instants go out
as ISO-8601 UTC. "Now" is the app clock, reported as `as_of`. Usage outlives a deleted tenant
in the ledger, but these routes 404 on a tenant id that no longer exists.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from billing.periods import Period, parse_period, period_bounds, period_of
from proxy import usagereport as report
from proxy.adminhttp import (
    CLOCK,
    CONFIG,
    LEDGER,
    AdminError,
    iso,
    page,
    page_after_int,
    page_limit,
    read_body,
    tenant_or_404,
)
from proxy.admintenants import TENANT
from proxy.ledger import Ledger, Tenant
from proxy.usage import Correction

routes = web.RouteTableDef()

Reconcile = Callable[[], Awaitable[Sequence[Correction]]]
#: Runs one reconciliation now and returns the corrections it made (see admin.create_app).
RECONCILE: web.AppKey[Reconcile] = web.AppKey("reconcile")
DEFAULT_DAYS, MAX_DAYS = 30, 366
_ID = re.compile(r"[0-9]{1,18}")


@dataclass(frozen=True, slots=True)
class _Window:
    """A billing period's UTC bounds [start, end), seen at `now`."""

    period: Period
    start: datetime
    end: datetime
    now: datetime

    @property
    def until(self) -> datetime:
        """How far the period has run: its end once past, its start while still ahead."""
        return min(max(self.now, self.start), self.end)

    def json(self) -> dict[str, Any]:
        return {
            "period": self.period.label,
            "start": iso(self.start),
            "end": iso(self.end),
            "as_of": iso(self.now),
        }


def _now(request: web.Request) -> datetime:
    return request.app[CLOCK]().astimezone(UTC)


def _tz(request: web.Request) -> ZoneInfo:
    return request.app[CONFIG].billing_timezone


def _window(request: web.Request, *, current: bool = False) -> _Window:
    """`?period=YYYY-MM` (ignored when `current`); by default the period `now` falls in."""
    now, tz = _now(request), _tz(request)
    text = None if current else request.query.get("period")
    try:
        period = period_of(now, tz) if text is None else parse_period(text)
        start, end = period_bounds(period, tz)
    except (ValueError, OverflowError) as e:  # e.g. 9999-12: its end is past datetime's range
        raise AdminError(400, "InvalidQuery", f"bad period: {e}") from None
    return _Window(period, start, end, now)


def _query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query.get(name, str(default))
    if not _ID.fullmatch(text) or not low <= int(text) <= high:
        raise AdminError(400, "InvalidQuery", f"{name} must be {low} to {high}, got {text!r}")
    return int(text)


async def _tenant_window(request: web.Request) -> tuple[Ledger, Tenant, _Window]:
    window = _window(request)
    return request.app[LEDGER], await tenant_or_404(request), window


@routes.get(TENANT + "/usage")
async def tenant_usage(request: web.Request) -> web.Response:
    """The tenant's usage in `?period` (default: the current one): calls per operation with
    counts per status class, calls per billing class, totals, storage now, and storage kept
    from the period's start until `as_of` (the whole period once it has ended).

    `billable_calls` leaves out 5xx answers. `storage_used.gb_days` is byte-seconds /
    (2**30 * 86400) as a decimal string rounded to 6 places, ROUND_HALF_UP (see usagereport);
    `byte_seconds` is the exact figure."""
    ledger, tenant, w = await _tenant_window(request)
    rows = await ledger.usage.call_totals("operation", w.start, w.end, tenant_id=tenant.id)
    hours = await ledger.usage.storage_hours(tenant.id, w.start, w.end, now=w.now)
    now = await ledger.usage.metered_buckets(tenant.id)
    used = sum(byte_seconds for *_, byte_seconds in hours)
    body = w.json() | {
        "tenant_id": tenant.id,
        "operations": report.operations(rows),
        "billing_classes": report.billing_classes(rows),
        "totals": report.tally(rows).json(),
        "storage_now": report.storage_now(now),
        "storage_used": {"until": iso(w.until), **report.storage_used(used)},
    }
    return web.json_response(body)


@routes.get(TENANT + "/usage/daily")
async def tenant_usage_daily(request: web.Request) -> web.Response:
    """`?days=N` (1 to 366, default 30) billing-timezone days ending today, oldest first; a day
    without usage is listed with zeros. Today's storage runs until `as_of`."""
    count = _query_int(request, "days", DEFAULT_DAYS, 1, MAX_DAYS)
    ledger, tenant = request.app[LEDGER], await tenant_or_404(request)
    now, tz = _now(request), _tz(request)
    days, start, end = report.last_days(now, count, tz)
    hourly = await ledger.usage.call_totals("hour", start, end, tenant_id=tenant.id)
    hours = await ledger.usage.storage_hours(tenant.id, start, end, now=now)
    body = {
        "tenant_id": tenant.id,
        "timezone": tz.key,
        "as_of": iso(now),
        "days": report.daily(days, hourly, hours, tz),
    }
    return web.json_response(body)


@routes.get(TENANT + "/usage/buckets")
async def tenant_usage_buckets(request: web.Request) -> web.Response:
    """Per bucket in `?period`: calls, storage kept in the period, and storage now (null once
    the bucket is no longer metered). Bucket "" is service-level requests (ListBuckets)."""
    ledger, tenant, w = await _tenant_window(request)
    rows = await ledger.usage.call_totals("bucket", w.start, w.end, tenant_id=tenant.id)
    hours = await ledger.usage.storage_hours(tenant.id, w.start, w.end, now=w.now)
    now = await ledger.usage.metered_buckets(tenant.id)
    body = w.json() | {"tenant_id": tenant.id, "buckets": report.buckets(rows, hours, now)}
    return web.json_response(body)


@routes.get(TENANT + "/usage/keys")
async def tenant_usage_keys(request: web.Request) -> web.Response:
    """Per access key with calls in `?period` (revoked keys included), by key id."""
    ledger, tenant, w = await _tenant_window(request)
    rows = await ledger.usage.call_totals("access_key", w.start, w.end, tenant_id=tenant.id)
    keys = [{"access_key_id": k, **t.json()} for k, t in report.by_group(rows).items()]
    return web.json_response(w.json() | {"tenant_id": tenant.id, "keys": keys})


async def _all_tenants(ledger: Ledger) -> list[Tenant]:
    tenants: list[Tenant] = []
    while batch := await ledger.list_tenants(after=tenants[-1].id if tenants else 0, limit=1000):
        tenants += batch
    return tenants


async def _span(
    ledger: Ledger, start: datetime, end: datetime
) -> tuple[dict[str, Any], dict[str, report.Tally]]:
    """Every tenant's calls in [start, end) and the unauthenticated requests; and per tenant."""
    rows = await ledger.usage.call_totals("tenant", start, end)
    anonymous = await ledger.usage.anonymous_totals(start, end)
    body = {"start": iso(start), "end": iso(end), **report.tally(rows).json()}
    return body | {"unauthenticated": report.unauthenticated(anonymous)}, report.by_group(rows)


@routes.get("/admin/usage/overview")
async def usage_overview(request: web.Request) -> web.Response:
    """The platform today (billing-timezone day) and this billing period: tenants by status,
    stored bytes now, every tenant's calls, unauthenticated requests by error code, and the
    top 10 tenants by calls this period and by storage now."""
    ledger, tz, w = request.app[LEDGER], _tz(request), _window(request, current=True)
    (today,), day_start, day_end = report.last_days(w.now, 1, tz)
    day, _ = await _span(ledger, day_start, day_end)
    period, per_tenant = await _span(ledger, w.start, w.end)
    tenants = await _all_tenants(ledger)
    stored = await ledger.usage.metered_buckets()
    names = {t.id: t.name for t in tenants}
    body = {
        "as_of": iso(w.now),
        "tenants": {
            "total": len(tenants),
            "active": sum(t.status == "active" for t in tenants),
            "suspended": sum(t.status == "suspended" for t in tenants),
        },
        "storage_now": {"bytes": sum(b.bytes for b in stored), "buckets": len(stored)},
        "today": {"date": today.isoformat()} | day,
        "period": {"period": w.period.label} | period,
        "top_tenants_by_calls": report.top_by_calls(per_tenant, names),
        "top_tenants_by_storage": report.top_by_storage(stored, names),
    }
    return web.json_response(body)


def correction_json(c: Correction) -> dict[str, Any]:
    return {
        "id": c.id,
        "at": iso(c.at),
        "bucket": c.bucket,
        "tenant_id": c.tenant_id,
        "objects_before": c.objects_before,
        "bytes_before": c.bytes_before,
        "objects_after": c.objects_after,
        "bytes_after": c.bytes_after,
    }


@routes.get("/admin/reconciliations")
async def list_reconciliations(request: web.Request) -> web.Response:
    """Corrections reconciliation made, oldest first, paged by id; `?tenant_id` filters (a
    deleted tenant's corrections stay listed, so an unknown id is an empty page, not 404)."""
    limit, after = page_limit(request), page_after_int(request)
    text = request.query.get("tenant_id")
    if text is not None and not _ID.fullmatch(text):
        raise AdminError(400, "InvalidQuery", f"tenant_id must be a tenant id, got {text!r}")
    corrections = await request.app[LEDGER].usage.corrections(
        tenant_id=None if text is None else int(text), after=after, limit=limit + 1
    )
    return page(corrections, limit, correction_json, lambda c: c.id)


@routes.post("/admin/reconciliations")
async def run_reconciliation(request: web.Request) -> web.Response:
    """Reconcile every metered bucket with the upstream now, in this request; 200 with the
    corrections made (often none). 503 ReconciliationUnavailable when the app was given no
    reconciler. Overlapping runs are the reconciler's to serialise."""
    await read_body(request, {})
    reconcile = request.app.get(RECONCILE)
    if reconcile is None:
        raise AdminError(
            503, "ReconciliationUnavailable", "this gateway runs no storage reconciliation"
        )
    corrections = await reconcile()
    return web.json_response({"corrections": [correction_json(c) for c in corrections]})
