"""Usage reports: the ledger's usage rows summed into what the admin usage API shows.

Owns: summing `CallTotals` rows per operation, billing class, group (bucket, access key, tenant)
and billing-clock day; storage byte-seconds per bucket and per day; byte-seconds to GB-days; the
billing-clock days of a report; and the JSON form of all of these. Pure: no I/O and no aiohttp;
rows come from `ledger.usage`, instants from the caller. Does not own: reading the rows
(ledger_usage), prices or invoice rounding (billing).

Billable calls are calls whose status class is not 5xx (issue 4: a 5xx is recorded, never
billed). GB-days are byte-seconds / (2**30 * 86400), computed in `Decimal` under billing's money
context (floats trap) and shown to 6 decimal places, `ROUND_HALF_UP`: a display figure, 1e-6
GB-day being about 1 KiB kept for a day. `byte_seconds` is the exact quantity beside it; a total
is converted from summed byte-seconds, never summed from rounded GB-days.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from billing.money import GB_BYTES, money_context
from billing.periods import day_start
from proxy.routing import BillingClass
from proxy.usage import BucketStorage, CallTotals

Json = dict[str, Any]
#: (hour start, tenant id, bucket, byte-seconds): a row of `UsageStore.storage_hours`.
StorageHour = tuple[datetime, int, str, int]

DAY_SECONDS = 86_400
GB_DAY_PLACES = Decimal("0.000001")
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
UNBILLED_STATUS = "5xx"
TOP = 10


def gb_days(byte_seconds: int) -> str:
    """Fixed-point text, 6 places: 2**30 bytes kept 24 hours -> "1.000000"."""
    with money_context():
        value = Decimal(byte_seconds) / Decimal(GB_BYTES * DAY_SECONDS)
        return format(value.quantize(GB_DAY_PLACES, rounding=ROUND_HALF_UP), "f")


def storage_used(byte_seconds: int) -> Json:
    return {"byte_seconds": byte_seconds, "gb_days": gb_days(byte_seconds)}


@dataclass(slots=True)
class Tally:
    """Request counters summed over some rows."""

    calls: int = 0
    billable_calls: int = 0
    bytes_in: int = 0
    bytes_out: int = 0

    def add(self, row: CallTotals) -> None:
        self.calls += row.calls
        if row.status_class != UNBILLED_STATUS:
            self.billable_calls += row.calls
        self.bytes_in += row.bytes_in
        self.bytes_out += row.bytes_out

    def json(self) -> Json:
        return {
            "calls": self.calls,
            "billable_calls": self.billable_calls,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
        }


def tally(rows: Iterable[CallTotals]) -> Tally:
    total = Tally()
    for row in rows:
        total.add(row)
    return total


def by_group(rows: Iterable[CallTotals]) -> dict[str, Tally]:
    """Rows summed per group (bucket, access key, tenant), in group order."""
    groups: dict[str, Tally] = {}
    for row in rows:
        groups.setdefault(row.group, Tally()).add(row)
    return dict(sorted(groups.items()))


def operations(rows: Iterable[CallTotals]) -> list[Json]:
    """One entry per (operation, billing class), with calls per status class (all five shown).

    An operation has two entries only if its billing class was overridden mid-period."""
    tallies: dict[tuple[str, str], Tally] = {}
    statuses: dict[tuple[str, str], dict[str, int]] = {}
    for row in rows:
        key = (row.group, row.billing_class)
        tallies.setdefault(key, Tally()).add(row)
        counts = statuses.setdefault(key, dict.fromkeys(STATUS_CLASSES, 0))
        counts[row.status_class] = counts.get(row.status_class, 0) + row.calls
    return [
        {
            "operation": op,
            "billing_class": cls,
            **tallies[op, cls].json(),
            "status_classes": statuses[op, cls],
        }
        for op, cls in sorted(tallies)
    ]


def billing_classes(rows: Iterable[CallTotals]) -> Json:
    """Calls and billable calls per billing class; every class is shown, zero or not."""
    classes = {str(c): Tally() for c in BillingClass}
    for row in rows:
        classes.setdefault(row.billing_class, Tally()).add(row)
    return {c: {"calls": t.calls, "billable_calls": t.billable_calls} for c, t in classes.items()}


def bucket_storage(b: BucketStorage) -> Json:
    return {
        "bytes": b.bytes,
        "objects": b.objects,
        "object_bytes": b.object_bytes,
        "parts": b.parts,
        "part_bytes": b.part_bytes,
    }


def storage_now(buckets: Sequence[BucketStorage]) -> Json:
    """A tenant's storage now, summed over its metered buckets."""
    total = dict.fromkeys(("bytes", "objects", "object_bytes", "parts", "part_bytes"), 0)
    for b in buckets:
        for name, value in bucket_storage(b).items():
            total[name] += value
    return {"buckets": len(buckets), **total}


def byte_seconds_by_bucket(hours: Iterable[StorageHour]) -> dict[str, int]:
    out: dict[str, int] = {}
    for _, _, bucket, byte_seconds in hours:
        out[bucket] = out.get(bucket, 0) + byte_seconds
    return out


def buckets(
    rows: Iterable[CallTotals], hours: Iterable[StorageHour], now: Sequence[BucketStorage]
) -> list[Json]:
    """Per bucket, by name: calls in the period, storage in the period, and storage now (null
    for a bucket no longer metered). Bucket "" holds service-level requests (ListBuckets)."""
    calls = by_group(rows)
    stored = byte_seconds_by_bucket(hours)
    metered = {b.bucket: b for b in now}
    return [
        {
            "bucket": name,
            **calls.get(name, Tally()).json(),
            **storage_used(stored.get(name, 0)),
            "storage_now": bucket_storage(metered[name]) if name in metered else None,
        }
        for name in sorted(calls.keys() | stored.keys() | metered.keys())
    ]


def local_day_start(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant the local `day` begins (found from its local noon, clear of DST jumps)."""
    return day_start(datetime.combine(day, time(12), tzinfo=tz), tz)


def last_days(now: datetime, count: int, tz: ZoneInfo) -> tuple[list[date], datetime, datetime]:
    """The `count` local days ending with today, oldest first, and their UTC [start, end)."""
    today = now.astimezone(tz).date()
    days = [today - timedelta(days=back) for back in range(count - 1, -1, -1)]
    return days, local_day_start(days[0], tz), local_day_start(today + timedelta(days=1), tz)


def daily(
    days: Sequence[date], hourly: Iterable[CallTotals], hours: Iterable[StorageHour], tz: ZoneInfo
) -> list[Json]:
    """One entry per day of `days` (zeros included) from rows grouped by billing-clock hour
    (`call_totals("hour", ...)`: the group is the hour's ISO text) and storage hours. A
    billing-clock hour never straddles a local midnight, so each hour is wholly in one day."""
    calls = {d: Tally() for d in days}
    stored = dict.fromkeys(days, 0)
    for row in hourly:
        day = datetime.fromisoformat(row.group).astimezone(tz).date()
        if day in calls:
            calls[day].add(row)
    for hour, _, _, byte_seconds in hours:
        day = hour.astimezone(tz).date()
        if day in stored:
            stored[day] += byte_seconds
    return [{"date": d.isoformat(), **calls[d].json(), **storage_used(stored[d])} for d in days]


def unauthenticated(rows: Iterable[CallTotals]) -> Json:
    """Requests that never authenticated (`anonymous_totals`): totals and calls per error code."""
    seen = sorted(rows, key=lambda r: r.group)
    total = tally(seen)
    return {
        "calls": total.calls,
        "bytes_in": total.bytes_in,
        "bytes_out": total.bytes_out,
        "by_error_code": {r.group: r.calls for r in seen},
    }


def top_by_calls(per_tenant: Mapping[str, Tally], names: Mapping[int, str]) -> list[Json]:
    """Up to `TOP` tenants with calls, most first (ties: lower id). A deleted tenant's usage
    remains, with name null."""
    busy = [(int(t), c) for t, c in per_tenant.items() if c.calls]
    busy.sort(key=lambda tc: (-tc[1].calls, tc[0]))
    return [
        {"tenant_id": t, "name": names.get(t), "calls": c.calls, "billable_calls": c.billable_calls}
        for t, c in busy[:TOP]
    ]


def top_by_storage(now: Iterable[BucketStorage], names: Mapping[int, str]) -> list[Json]:
    """Up to `TOP` tenants storing anything now, most bytes first (ties: lower id)."""
    stored: dict[int, int] = {}
    for b in now:
        stored[b.tenant_id] = stored.get(b.tenant_id, 0) + b.bytes
    ranked = sorted(((t, n) for t, n in stored.items() if n), key=lambda tn: (-tn[1], tn[0]))
    return [{"tenant_id": t, "name": names.get(t), "bytes": n} for t, n in ranked[:TOP]]
