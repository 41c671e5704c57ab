"""usagereport by itself: the sums behind the admin usage API, fed rows directly."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from proxy import usagereport as report
from proxy.usage import BucketStorage, CallTotals

KOLKATA = ZoneInfo("Asia/Kolkata")
SINCE = datetime(2026, 3, 1, tzinfo=UTC)


def row(group: str, cls: str = "read", status: str = "2xx", calls: int = 1) -> CallTotals:
    return CallTotals(group, cls, status, calls, 10 * calls, 100 * calls)


def storage(bucket: str, tenant_id: int, object_bytes: int, part_bytes: int = 0) -> BucketStorage:
    return BucketStorage(
        bucket, tenant_id, 1, object_bytes, 1 if part_bytes else 0, part_bytes, SINCE
    )


@pytest.mark.parametrize(
    ("byte_seconds", "gb_days"),
    [
        (0, "0.000000"),
        (1, "0.000000"),
        (2**30 * 86_400, "1.000000"),
        (2**30 * 86_400 // 3, "0.333333"),
        (2**30 * 41_400, "0.479167"),  # 0.4791666..., rounded up
        (46_385_646, "0.000000"),  # just under half of 1e-6 GB-day
        (46_385_647, "0.000001"),  # just over: half up
        (10**25, "107791964654.569273"),  # fixed point, never an exponent
    ],
)
def test_gb_days_six_places_half_up(byte_seconds: int, gb_days: str) -> None:
    assert report.gb_days(byte_seconds) == gb_days


def test_tally_billable_leaves_out_5xx_only() -> None:
    rows = [row("a", status=s) for s in ("1xx", "2xx", "3xx", "4xx", "5xx")]
    assert report.tally(rows).json() == {
        "calls": 5,
        "billable_calls": 4,
        "bytes_in": 50,
        "bytes_out": 500,
    }


def test_operations_split_by_class_and_zero_fill_status_classes() -> None:
    """An override mid-period gives the operation one entry per class it was billed in."""
    rows = [row("GetObject", status="5xx"), row("GetObject", "write", calls=2), row("Head")]
    ops = report.operations(rows)
    assert [(o["operation"], o["billing_class"], o["calls"]) for o in ops] == [
        ("GetObject", "read", 1),
        ("GetObject", "write", 2),
        ("Head", "read", 1),
    ]
    assert ops[0]["status_classes"] == {"1xx": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 1}
    assert ops[0]["billable_calls"] == 0


def test_billing_classes_every_class_shown_and_unknown_kept() -> None:
    classes = report.billing_classes([row("x", "read", "5xx"), row("y", "legacy")])
    assert classes == {
        "write": {"calls": 0, "billable_calls": 0},
        "read": {"calls": 1, "billable_calls": 0},
        "free": {"calls": 0, "billable_calls": 0},
        "legacy": {"calls": 1, "billable_calls": 1},
    }


def test_by_group_sums_and_sorts() -> None:
    groups = report.by_group([row("b"), row("a", status="5xx"), row("b", calls=2)])
    assert {g: t.json()["calls"] for g, t in groups.items()} == {"a": 1, "b": 3}
    assert list(groups) == ["a", "b"]


def test_storage_now_sums_buckets() -> None:
    assert report.storage_now([storage("a", 1, 5), storage("b", 1, 7, 3)]) == {
        "buckets": 2,
        "bytes": 15,
        "objects": 2,
        "object_bytes": 12,
        "parts": 1,
        "part_bytes": 3,
    }


def test_buckets_union_of_calls_storage_and_metered() -> None:
    hours = [(SINCE, 1, "old", 5), (SINCE, 1, "old", 6), (SINCE, 1, "live", 2)]
    out = report.buckets([row("calls-only")], hours, [storage("live", 1, 9)])
    assert [(b["bucket"], b["calls"], b["byte_seconds"]) for b in out] == [
        ("calls-only", 1, 0),
        ("live", 0, 2),
        ("old", 0, 11),
    ]
    assert [b["storage_now"] is None for b in out] == [True, False, True]


def test_local_day_start_follows_dst() -> None:
    """New York springs forward on 8 March 2026: that day starts at 05:00 UTC, the next at 04:00."""
    ny = ZoneInfo("America/New_York")
    assert report.local_day_start(date(2026, 3, 8), ny) == datetime(2026, 3, 8, 5, tzinfo=UTC)
    assert report.local_day_start(date(2026, 3, 9), ny) == datetime(2026, 3, 9, 4, tzinfo=UTC)


def test_last_days_end_today_in_the_billing_timezone() -> None:
    # 19:00 UTC on 14 March is 00:30 on 15 March in Kolkata.
    days, start, end = report.last_days(datetime(2026, 3, 14, 19, tzinfo=UTC), 2, KOLKATA)
    assert days == [date(2026, 3, 14), date(2026, 3, 15)]
    assert (start, end) == (
        datetime(2026, 3, 13, 18, 30, tzinfo=UTC),
        datetime(2026, 3, 15, 18, 30, tzinfo=UTC),
    )


def test_daily_places_hours_on_local_days_and_ignores_others() -> None:
    late = datetime(2026, 3, 13, 17, 30, tzinfo=UTC)  # 23:00-24:00 on the 13th in Kolkata
    early = datetime(2026, 3, 13, 18, 30, tzinfo=UTC)  # 00:00-01:00 on the 14th
    hourly = [row(late.isoformat()), row(early.isoformat(), calls=2), row("2026-01-01T00:00:00")]
    days = report.daily(
        [date(2026, 3, 13), date(2026, 3, 14)], hourly, [(early, 1, "b", 7)], KOLKATA
    )
    assert [(d["date"], d["calls"], d["byte_seconds"]) for d in days] == [
        ("2026-03-13", 1, 0),
        ("2026-03-14", 2, 7),
    ]


def test_unauthenticated_by_error_code() -> None:
    out = report.unauthenticated([row("SignatureDoesNotMatch", "", "4xx"), row("AccessDenied")])
    assert out == {
        "calls": 2,
        "bytes_in": 20,
        "bytes_out": 200,
        "by_error_code": {"AccessDenied": 1, "SignatureDoesNotMatch": 1},
    }


def test_top_by_calls_ties_to_lower_id_deleted_tenant_unnamed() -> None:
    per_tenant = report.by_group(
        [row("2", calls=3), row("1", calls=3), row("9"), row("4", calls=0)]
    )
    assert report.top_by_calls(per_tenant, {1: "a", 2: "b"}) == [
        {"tenant_id": 1, "name": "a", "calls": 3, "billable_calls": 3},
        {"tenant_id": 2, "name": "b", "calls": 3, "billable_calls": 3},
        {"tenant_id": 9, "name": None, "calls": 1, "billable_calls": 1},
    ]


def test_top_by_storage_sums_buckets_skips_empty_stops_at_ten() -> None:
    now = [storage(f"b{t}", t, t) for t in range(12)] + [storage("x", 3, 100)]
    top = report.top_by_storage(now, {3: "three"})
    assert top[0] == {"tenant_id": 3, "name": "three", "bytes": 103}
    assert [e["tenant_id"] for e in top] == [3, 11, 10, 9, 8, 7, 6, 5, 4, 2]
