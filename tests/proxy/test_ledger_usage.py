"""The ledger's metering half against a real SQLite file: request counters, stored objects and
parts, byte-seconds by billing-clock hour, reconciliation and the reads behind usage reports."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from billing.periods import Period, period_bounds
from proxy.database import Database, to_text
from proxy.ledger import _MIGRATIONS, Ledger
from proxy.records import TenantOwnsBuckets
from proxy.usage import (
    Batch,
    BucketStorage,
    CallKey,
    CallTotals,
    Correction,
    Counts,
    ObjectDeleted,
    ObjectPut,
    ObservedBucket,
    PartPut,
    StorageEvent,
    UploadEnded,
)

KOLKATA = ZoneInfo("Asia/Kolkata")
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)
#: Kolkata hours start at :30 UTC; T0 is 16:00 IST.
T0 = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
H1, H2, H3 = T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    led = await Ledger.open(tmp_path / "l.sqlite3", billing_tz=KOLKATA)
    yield led
    await led.close()


@pytest.fixture
async def acme(ledger: Ledger) -> int:
    """A tenant owning the bucket "photos", metered from T0."""
    tenant = await ledger.create_tenant("acme", now=T0)
    await ledger.register_bucket("photos", tenant.id, now=T0)
    return tenant.id


async def _apply(ledger: Ledger, *events: StorageEvent) -> None:
    await ledger.usage.apply(Batch(storage=list(events)))


async def _storage(ledger: Ledger, bucket: str = "photos") -> BucketStorage:
    (found,) = [b for b in await ledger.usage.metered_buckets() if b.bucket == bucket]
    return found


def _counters(st: BucketStorage) -> tuple[int, int, int, int]:
    return (st.objects, st.object_bytes, st.parts, st.part_bytes)


def _hours(
    rows: Sequence[tuple[datetime, int, str, int]],
) -> list[tuple[datetime, int]]:
    """(hour, byte-seconds) of storage_hours rows for one bucket."""
    return [(hour, byte_seconds) for hour, _, _, byte_seconds in rows]


# -- request counters ----------------------------------------------------------------------


def _key(hour: datetime, tenant_id: int, access_key_id: str, bucket: str, op: str) -> CallKey:
    billing_class = "write" if op.startswith("Put") else "read"
    return CallKey(hour, tenant_id, access_key_id, bucket, op, billing_class, "2xx")


#: Counters of two tenants over three hours; [T0, H2) leaves out the last row.
CALLS: dict[CallKey, Counts] = {
    _key(T0, 1, "AK1", "b1", "GetObject"): Counts(3, 0, 300),
    _key(T0, 1, "AK1", "b1", "PutObject"): Counts(2, 200, 0),
    CallKey(H1, 1, "AK2", "b2", "GetObject", "read", "4xx"): Counts(1, 0, 10),
    _key(H1, 2, "AK3", "b3", "GetObject"): Counts(5, 0, 500),
    _key(H2, 1, "AK1", "b1", "GetObject"): Counts(7, 0, 700),
}


async def test_usage_apply_same_key_twice_counters_add_up(ledger: Ledger) -> None:
    key = _key(T0, 1, "AK1", "b1", "GetObject")
    await ledger.usage.apply(Batch(calls={key: Counts(1, 10, 100)}))
    await ledger.usage.apply(Batch(calls={key: Counts(2, 20, 200)}))
    assert await ledger.usage.call_totals("operation", T0, H1) == [
        CallTotals("GetObject", "read", "2xx", 3, 30, 300)
    ]


@pytest.mark.parametrize(
    "group_by, totals",
    [
        pytest.param(
            "operation",
            [
                ("GetObject", "read", "2xx", 8, 0, 800),
                ("GetObject", "read", "4xx", 1, 0, 10),
                ("PutObject", "write", "2xx", 2, 200, 0),
            ],
            id="operation",
        ),
        pytest.param(
            "bucket",
            [
                ("b1", "read", "2xx", 3, 0, 300),
                ("b1", "write", "2xx", 2, 200, 0),
                ("b2", "read", "4xx", 1, 0, 10),
                ("b3", "read", "2xx", 5, 0, 500),
            ],
            id="bucket",
        ),
        pytest.param(
            "access_key",
            [
                ("AK1", "read", "2xx", 3, 0, 300),
                ("AK1", "write", "2xx", 2, 200, 0),
                ("AK2", "read", "4xx", 1, 0, 10),
                ("AK3", "read", "2xx", 5, 0, 500),
            ],
            id="access-key",
        ),
        pytest.param(
            "hour",
            [
                (to_text(T0), "read", "2xx", 3, 0, 300),
                (to_text(T0), "write", "2xx", 2, 200, 0),
                (to_text(H1), "read", "2xx", 5, 0, 500),
                (to_text(H1), "read", "4xx", 1, 0, 10),
            ],
            id="hour",
        ),
        pytest.param(
            "tenant",
            [
                ("1", "read", "2xx", 3, 0, 300),
                ("1", "read", "4xx", 1, 0, 10),
                ("1", "write", "2xx", 2, 200, 0),
                ("2", "read", "2xx", 5, 0, 500),
            ],
            id="tenant",
        ),
    ],
)
async def test_usage_call_totals_grouped_over_half_open_interval(
    ledger: Ledger, group_by: str, totals: list[tuple[Any, ...]]
) -> None:
    await ledger.usage.apply(Batch(calls=dict(CALLS)))
    assert await ledger.usage.call_totals(group_by, T0, H2) == [CallTotals(*t) for t in totals]


@pytest.mark.parametrize(
    "start, end, tenant_id, totals",
    [
        pytest.param(T0, H1, None, [("GetObject", 3), ("PutObject", 2)], id="end-exclusive"),
        pytest.param(H1, H3, None, [("GetObject", 5 + 7), ("GetObject", 1)], id="start-inclusive"),
        pytest.param(T0, H3, 2, [("GetObject", 5)], id="tenant"),
        pytest.param(H2, H3, 2, [], id="tenant-nothing-then"),
        pytest.param(T0 - HOUR, T0, None, [], id="before"),
        pytest.param(T0 + MINUTE, H1, None, [], id="mid-hour-start"),
    ],
)
async def test_usage_call_totals_filtered_by_interval_and_tenant(
    ledger: Ledger,
    start: datetime,
    end: datetime,
    tenant_id: int | None,
    totals: list[tuple[str, int]],
) -> None:
    await ledger.usage.apply(Batch(calls=dict(CALLS)))
    got = await ledger.usage.call_totals("operation", start, end, tenant_id=tenant_id)
    assert [(t.group, t.calls) for t in got] == totals


async def test_usage_call_totals_interval_in_another_zone_same_instants(ledger: Ledger) -> None:
    await ledger.usage.apply(Batch(calls=dict(CALLS)))
    ist_start, ist_end = T0.astimezone(KOLKATA), H1.astimezone(KOLKATA)
    assert await ledger.usage.call_totals("operation", ist_start, ist_end) == (
        await ledger.usage.call_totals("operation", T0, H1)
    )


async def test_usage_anonymous_totals_per_error_code_in_interval(ledger: Ledger) -> None:
    await ledger.usage.apply(
        Batch(
            anonymous={
                (T0, "AccessDenied"): Counts(2, 10, 20),
                (H1, "AccessDenied"): Counts(1, 0, 5),
                (H1, "SignatureDoesNotMatch"): Counts(4, 40, 400),
                (H2, "AccessDenied"): Counts(9, 9, 9),
            }
        )
    )
    await ledger.usage.apply(Batch(anonymous={(T0, "AccessDenied"): Counts(1, 1, 1)}))
    assert await ledger.usage.anonymous_totals(T0, H2) == [
        CallTotals("AccessDenied", "", "4xx", 4, 11, 26),
        CallTotals("SignatureDoesNotMatch", "", "4xx", 4, 40, 400),
    ]
    assert await ledger.usage.call_totals("operation", T0, H3) == []


async def test_usage_apply_failure_leaves_nothing_then_retry_counts_once(
    tmp_path: Path, ledger: Ledger, acme: int
) -> None:
    """A batch is one transaction: a failure at its last statement rolls back its counters and
    earlier storage events, so the meter's retry of the same batch counts everything once."""
    batch = Batch(
        calls={_key(T0, acme, "AK1", "photos", "PutObject"): Counts(2, 110, 0)},
        anonymous={(T0, "AccessDenied"): Counts(1, 0, 1)},
        storage=[ObjectPut(_at(1), "photos", "k", 100), PartPut(_at(2), "photos", "u1", 1, 10)],
    )
    with sqlite3.connect(tmp_path / "l.sqlite3") as other:
        other.execute(
            "CREATE TRIGGER boom BEFORE INSERT ON stored_parts"
            " BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
        )
    other.close()
    with pytest.raises(sqlite3.IntegrityError, match="disk on fire"):
        await ledger.usage.apply(batch)
    assert await ledger.usage.call_totals("operation", T0, H1) == []
    assert await ledger.usage.anonymous_totals(T0, H1) == []
    st = await _storage(ledger)
    assert _counters(st) == (0, 0, 0, 0) and st.since == T0
    assert await ledger.usage.object_size("photos", "k") is None

    with sqlite3.connect(tmp_path / "l.sqlite3") as other:
        other.execute("DROP TRIGGER boom")
    other.close()
    await ledger.usage.apply(batch)
    assert await ledger.usage.call_totals("operation", T0, H1) == [
        CallTotals("PutObject", "write", "2xx", 2, 110, 0)
    ]
    assert _counters(await _storage(ledger)) == (1, 100, 1, 10)


# -- stored objects and parts --------------------------------------------------------------


async def test_usage_register_bucket_metered_from_zero(ledger: Ledger, acme: int) -> None:
    assert await ledger.usage.metered_buckets() == [BucketStorage("photos", acme, 0, 0, 0, 0, T0)]
    assert await ledger.usage.stored_bytes(acme) == 0


def _at(minutes: int) -> datetime:
    return T0 + minutes * MINUTE


@pytest.mark.parametrize(
    "events, counters, objects",
    [
        pytest.param([ObjectPut(_at(1), "photos", "k", 100)], (1, 100, 0, 0), {"k": 100}, id="new"),
        pytest.param(
            [ObjectPut(_at(1), "photos", "k", 100), ObjectPut(_at(2), "photos", "k", 30)],
            (1, 30, 0, 0),
            {"k": 30},
            id="overwrite-smaller",
        ),
        pytest.param(
            [ObjectPut(_at(1), "photos", "k", 10), ObjectPut(_at(2), "photos", "k", 70)],
            (1, 70, 0, 0),
            {"k": 70},
            id="overwrite-larger",
        ),
        pytest.param(
            [ObjectPut(_at(1), "photos", "a", 100), ObjectPut(_at(2), "photos", "b", 50)],
            (2, 150, 0, 0),
            {"a": 100, "b": 50},
            id="two-keys",
        ),
        pytest.param(
            [ObjectPut(_at(1), "photos", "k", 0)], (1, 0, 0, 0), {"k": 0}, id="empty-object"
        ),
        pytest.param(
            [ObjectPut(_at(1), "photos", "k", 100), ObjectDeleted(_at(2), "photos", "k")],
            (0, 0, 0, 0),
            {"k": None},
            id="delete",
        ),
        pytest.param(
            [ObjectPut(_at(1), "photos", "k", 100), ObjectDeleted(_at(2), "photos", "other")],
            (1, 100, 0, 0),
            {"k": 100, "other": None},
            id="delete-absent",
        ),
        pytest.param(
            [
                ObjectPut(_at(1), "photos", "k", 100),
                ObjectDeleted(_at(2), "photos", "k"),
                ObjectDeleted(_at(3), "photos", "k"),
            ],
            (0, 0, 0, 0),
            {"k": None},
            id="delete-twice",
        ),
        pytest.param(
            [ObjectDeleted(_at(1), "photos", "k"), ObjectPut(_at(2), "photos", "k", 5)],
            (1, 5, 0, 0),
            {"k": 5},
            id="delete-then-put",
        ),
        pytest.param([PartPut(_at(1), "photos", "u1", 1, 10)], (0, 0, 1, 10), {}, id="part"),
        pytest.param(
            [PartPut(_at(1), "photos", "u1", 1, 10), PartPut(_at(2), "photos", "u1", 1, 4)],
            (0, 0, 1, 4),
            {},
            id="part-reupload",
        ),
        pytest.param(
            [PartPut(_at(1), "photos", "u1", 1, 10), PartPut(_at(2), "photos", "u2", 1, 4)],
            (0, 0, 2, 14),
            {},
            id="same-part-number-other-upload",
        ),
        pytest.param(
            [
                PartPut(_at(1), "photos", "u1", 1, 10),
                PartPut(_at(2), "photos", "u1", 2, 20),
                PartPut(_at(3), "photos", "u2", 1, 5),
                UploadEnded(_at(4), "photos", "u1"),
            ],
            (0, 0, 1, 5),
            {},
            id="upload-ended-only-its-parts",
        ),
        pytest.param(
            [PartPut(_at(1), "photos", "u1", 1, 10), UploadEnded(_at(2), "photos", "u9")],
            (0, 0, 1, 10),
            {},
            id="unknown-upload-ended",
        ),
        pytest.param(
            [
                PartPut(_at(1), "photos", "u1", 1, 10),
                PartPut(_at(2), "photos", "u1", 2, 20),
                UploadEnded(_at(3), "photos", "u1"),
                ObjectPut(_at(3), "photos", "big", 30),
            ],
            (1, 30, 0, 0),
            {"big": 30},
            id="multipart-completed",
        ),
    ],
)
async def test_usage_storage_events_change_counters_exactly(
    ledger: Ledger,
    acme: int,
    events: list[StorageEvent],
    counters: tuple[int, int, int, int],
    objects: dict[str, int | None],
) -> None:
    await _apply(ledger, *events)
    st = await _storage(ledger)
    assert _counters(st) == counters
    assert await ledger.usage.stored_bytes(acme) == counters[1] + counters[3]
    for key, size in objects.items():
        assert await ledger.usage.object_size("photos", key) == size


async def test_usage_storage_events_applied_one_by_one_same_result(
    ledger: Ledger, acme: int
) -> None:
    """Across batches as within one: each event changes what the previous one left."""
    await _apply(ledger, ObjectPut(_at(1), "photos", "k", 100))
    await _apply(ledger, PartPut(_at(2), "photos", "u1", 1, 10))
    await _apply(ledger, ObjectPut(_at(3), "photos", "k", 40))
    await _apply(ledger, ObjectPut(_at(4), "photos", "j", 1))
    assert _counters(await _storage(ledger)) == (2, 41, 1, 10)


async def test_usage_storage_event_unregistered_bucket_ignored(ledger: Ledger, acme: int) -> None:
    await _apply(
        ledger,
        ObjectPut(_at(1), "nobodys", "k", 100),
        PartPut(_at(1), "nobodys", "u1", 1, 10),
        ObjectPut(_at(1), "photos", "k", 7),
    )
    assert [b.bucket for b in await ledger.usage.metered_buckets()] == ["photos"]
    assert await ledger.usage.object_size("nobodys", "k") is None
    assert await ledger.usage.object_size("photos", "k") == 7
    assert await ledger.usage.stored_bytes(acme) == 7


async def test_usage_object_size_per_bucket(ledger: Ledger, acme: int) -> None:
    await ledger.register_bucket("videos", acme, now=T0)
    await _apply(
        ledger, ObjectPut(_at(1), "photos", "k", 3), ObjectPut(_at(1), "videos", "k", 4000)
    )
    assert await ledger.usage.object_size("photos", "k") == 3
    assert await ledger.usage.object_size("videos", "k") == 4000
    assert await ledger.usage.object_size("photos", "missing") is None


# -- byte-seconds --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "put_at, deleted_at, hours",
    [
        pytest.param(_at(10), _at(40), [(T0, 30 * 60)], id="inside-one-hour"),
        pytest.param(
            _at(10),
            H2 + 20 * MINUTE,
            [(T0, 50 * 60), (H1, 3600), (H2, 20 * 60)],
            id="across-hours",
        ),
        pytest.param(T0, H1, [(T0, 3600)], id="whole-hour"),
        pytest.param(_at(59), _at(61), [(T0, 60), (H1, 60)], id="across-a-boundary"),
    ],
)
async def test_usage_storage_hours_n_bytes_held_for_t_is_n_times_t(
    ledger: Ledger,
    acme: int,
    put_at: datetime,
    deleted_at: datetime,
    hours: list[tuple[datetime, int]],
) -> None:
    size = 1_000_003
    await _apply(
        ledger, ObjectPut(put_at, "photos", "k", size), ObjectDeleted(deleted_at, "photos", "k")
    )
    rows = await ledger.usage.storage_hours(acme, T0 - HOUR, H3 + HOUR, now=H3 + HOUR)
    assert _hours(rows) == [(h, size * s) for h, s in hours]
    assert sum(bs for *_, bs in rows) == size * ((deleted_at - put_at) // SECOND)
    assert {(t, b) for _, t, b, _ in rows} == {(acme, "photos")}


async def test_usage_storage_hours_open_interval_counted_up_to_now(
    ledger: Ledger, acme: int
) -> None:
    """What a bucket holds from its last change until `now` is not stored yet, but counts."""
    await _apply(ledger, ObjectPut(_at(10), "photos", "a", 100))
    await _apply(ledger, ObjectPut(H1 + 15 * MINUTE, "photos", "b", 10))
    now = H2 + 30 * MINUTE
    rows = await ledger.usage.storage_hours(None, T0, H3, now=now)
    assert _hours(rows) == [
        (T0, 100 * 50 * 60),
        (H1, 100 * 3600 + 10 * 45 * 60),  # stored up to 11:45, open from there
        (H2, 110 * 30 * 60),
    ]
    # Later, more of the open interval counts; the stored part does not change.
    later = await ledger.usage.storage_hours(None, T0, H3, now=H3)
    assert _hours(later)[-1] == (H2, 110 * 3600)
    assert _hours(later)[:2] == _hours(rows)[:2]


@pytest.mark.parametrize(
    "start, end, hours",
    [
        pytest.param(T0, H1, [(T0, 50 * 60)], id="up-to-end"),
        pytest.param(H1, H3, [(H1, 3600), (H2, 30 * 60)], id="from-start"),
        pytest.param(H3, H3 + HOUR, [], id="after-now"),
    ],
)
async def test_usage_storage_hours_open_interval_clipped_to_query(
    ledger: Ledger,
    acme: int,
    start: datetime,
    end: datetime,
    hours: list[tuple[datetime, int]],
) -> None:
    await _apply(ledger, ObjectPut(_at(10), "photos", "a", 1))
    rows = await ledger.usage.storage_hours(acme, start, end, now=H2 + 30 * MINUTE)
    assert _hours(rows) == hours


@pytest.mark.parametrize("closed", [True, False], ids=["stored", "open-interval"])
async def test_usage_storage_hours_kolkata_month_end_split_at_1830_utc(
    ledger: Ledger, closed: bool
) -> None:
    """Billing months in Asia/Kolkata start at 18:30 UTC on the last day of the month before:
    storage held across that instant is split there, into each month's last and first hour."""
    tenant = await ledger.create_tenant("acme", now=T0)
    december_starts = datetime(2026, 11, 30, 18, 30, tzinfo=UTC)
    await ledger.register_bucket("photos", tenant.id, now=december_starts - 2 * HOUR)
    size = 7
    await _apply(ledger, ObjectPut(december_starts - 30 * MINUTE, "photos", "k", size))
    end = december_starts + 45 * MINUTE
    if closed:
        await _apply(ledger, ObjectDeleted(end, "photos", "k"))
    now = end + 2 * HOUR if closed else end
    november = await ledger.usage.storage_hours(
        tenant.id, *period_bounds(Period(2026, 11), KOLKATA), now=now
    )
    december = await ledger.usage.storage_hours(
        tenant.id, *period_bounds(Period(2026, 12), KOLKATA), now=now
    )
    assert _hours(november) == [(december_starts - HOUR, size * 30 * 60)]
    assert _hours(december) == [(december_starts, size * 45 * 60)]


async def test_usage_late_event_changes_bytes_from_since_not_backwards(
    ledger: Ledger, acme: int
) -> None:
    """An event older than the bucket's `since` (another gateway's late flush) counts from
    `since` on: the hours already integrated are not rewritten."""
    await _apply(ledger, ObjectPut(H2, "photos", "a", 100))
    await _apply(ledger, ObjectPut(H1, "photos", "late", 5))
    st = await _storage(ledger)
    assert st.since == H2 and _counters(st) == (2, 105, 0, 0)
    rows = await ledger.usage.storage_hours(acme, T0, H3 + HOUR, now=H3)
    assert _hours(rows) == [(H2, 105 * 3600)]


async def test_usage_unregister_bucket_integrates_to_now_and_stops(
    ledger: Ledger, acme: int
) -> None:
    await _apply(ledger, ObjectPut(_at(10), "photos", "k", 100))
    await ledger.unregister_bucket("photos", acme, now=H1 + 30 * MINUTE)
    assert await ledger.usage.metered_buckets() == []
    assert await ledger.usage.object_size("photos", "k") is None
    assert await ledger.usage.stored_bytes(acme) == 0
    await _apply(ledger, ObjectPut(H2, "photos", "k", 1))  # a late flush: nobody's bucket now
    rows = await ledger.usage.storage_hours(acme, T0, H3 + HOUR, now=H3 + HOUR)
    assert _hours(rows) == [(T0, 100 * 50 * 60), (H1, 100 * 30 * 60)]


async def test_usage_unregister_bucket_by_other_tenant_keeps_metering(
    ledger: Ledger, acme: int
) -> None:
    other = await ledger.create_tenant("other", now=T0)
    await _apply(ledger, ObjectPut(_at(10), "photos", "k", 100))
    await ledger.unregister_bucket("photos", other.id, now=H1)
    assert _counters(await _storage(ledger)) == (1, 100, 0, 0)


async def test_usage_bucket_registered_again_metered_afresh(ledger: Ledger, acme: int) -> None:
    await _apply(ledger, ObjectPut(_at(10), "photos", "k", 100))
    await ledger.unregister_bucket("photos", acme, now=H1)
    other = await ledger.create_tenant("other", now=T0)
    await ledger.register_bucket("photos", other.id, now=H2)
    assert await ledger.usage.metered_buckets() == [
        BucketStorage("photos", other.id, 0, 0, 0, 0, H2)
    ]
    assert await ledger.usage.storage_hours(other.id, T0, H3, now=H3) == []
    assert _hours(await ledger.usage.storage_hours(acme, T0, H3, now=H3)) == [(T0, 100 * 50 * 60)]


async def test_usage_delete_tenant_forced_ends_its_buckets(ledger: Ledger, acme: int) -> None:
    await ledger.register_bucket("videos", acme, now=T0)
    other = await ledger.create_tenant("other", now=T0)
    await ledger.register_bucket("others", other.id, now=T0)
    await _apply(
        ledger,
        ObjectPut(_at(10), "photos", "k", 100),
        PartPut(_at(10), "videos", "u1", 1, 10),
        ObjectPut(_at(10), "others", "k", 1),
    )
    await ledger.delete_tenant(acme, now=H1, force=True)
    assert [b.bucket for b in await ledger.usage.metered_buckets()] == ["others"]
    rows = await ledger.usage.storage_hours(acme, T0, H3, now=H3)
    assert rows == [(T0, acme, "photos", 100 * 50 * 60), (T0, acme, "videos", 10 * 50 * 60)]


async def test_usage_delete_tenant_refused_keeps_metering(ledger: Ledger, acme: int) -> None:
    await _apply(ledger, ObjectPut(_at(10), "photos", "k", 100))
    with pytest.raises(TenantOwnsBuckets):
        await ledger.delete_tenant(acme, now=H1)
    st = await _storage(ledger)
    assert _counters(st) == (1, 100, 0, 0) and st.since == _at(10)


# -- reconciliation ------------------------------------------------------------------------


async def _fill(ledger: Ledger) -> None:
    """photos: objects a (100) and b (50), part 1 of upload u1 (10 bytes)."""
    await _apply(
        ledger,
        ObjectPut(_at(1), "photos", "a", 100),
        ObjectPut(_at(1), "photos", "b", 50),
        PartPut(_at(1), "photos", "u1", 1, 10),
    )


async def test_usage_reconcile_no_difference_records_nothing(ledger: Ledger, acme: int) -> None:
    await _fill(ledger)
    observed = ObservedBucket({"a": 100, "b": 50}, {("u1", 1): 10})
    assert await ledger.usage.reconcile("photos", observed, now=H1) is None
    assert await ledger.usage.corrections() == []
    st = await _storage(ledger)
    assert _counters(st) == (2, 150, 1, 10) and st.since == _at(1)


@pytest.mark.parametrize(
    "observed, counters",
    [
        pytest.param(
            ObservedBucket({"a": 100, "c": 7}, {}), (2, 107, 0, 0), id="objects-and-parts"
        ),
        pytest.param(
            ObservedBucket({"a": 100, "b": 50}, {("u1", 1): 10, ("u1", 2): 3}),
            (2, 150, 2, 13),
            id="parts-only",
        ),
        pytest.param(
            ObservedBucket({"a": 100, "b": 51}, {("u1", 1): 10}), (2, 151, 1, 10), id="size"
        ),
        pytest.param(ObservedBucket({}, {}), (0, 0, 0, 0), id="empty"),
    ],
)
async def test_usage_reconcile_difference_sets_observed_and_records_correction(
    ledger: Ledger, acme: int, observed: ObservedBucket, counters: tuple[int, int, int, int]
) -> None:
    await _fill(ledger)
    correction = await ledger.usage.reconcile("photos", observed, now=H1)
    after_bytes = counters[1] + counters[3]
    assert correction == Correction(1, H1, "photos", acme, 2, 160, counters[0], after_bytes)
    st = await _storage(ledger)
    assert _counters(st) == counters and st.since == H1
    for key in ("a", "b", "c"):
        assert await ledger.usage.object_size("photos", key) == observed.objects.get(key)
    assert await ledger.usage.corrections() == [correction]
    # Now the ledger agrees with the upstream: the same listing changes nothing.
    assert await ledger.usage.reconcile("photos", observed, now=H2) is None
    # Parts were replaced too: ending the upload removes exactly the observed parts.
    await _apply(ledger, UploadEnded(H2, "photos", "u1"))
    assert _counters(await _storage(ledger)) == (counters[0], counters[1], 0, 0)


async def test_usage_count_corrections_in_half_open_interval(ledger: Ledger, acme: int) -> None:
    await _fill(ledger)
    await ledger.usage.reconcile("photos", ObservedBucket({"a": 1}, {}), now=H1)
    await ledger.usage.reconcile("photos", ObservedBucket({"a": 2}, {}), now=H2)
    assert await ledger.usage.count_corrections(H1, H2) == 1
    assert await ledger.usage.count_corrections(H1, H2 + SECOND) == 2
    assert await ledger.usage.count_corrections(T0, H1) == 0


async def test_usage_reconcile_byte_seconds_old_bytes_before_new_after(
    ledger: Ledger, acme: int
) -> None:
    await _apply(ledger, ObjectPut(T0, "photos", "a", 100))
    await ledger.usage.reconcile("photos", ObservedBucket({"a": 100, "x": 900}, {}), now=_at(30))
    rows = await ledger.usage.storage_hours(acme, T0, H1, now=H1)
    assert _hours(rows) == [(T0, 100 * 30 * 60 + 1000 * 30 * 60)]


async def test_usage_reconcile_unmetered_bucket_returns_none(ledger: Ledger, acme: int) -> None:
    observed = ObservedBucket({"a": 1}, {})
    assert await ledger.usage.reconcile("nobodys", observed, now=H1) is None
    assert await ledger.usage.corrections() == []


async def test_usage_corrections_filter_by_tenant_and_page(ledger: Ledger, acme: int) -> None:
    other = await ledger.create_tenant("other", now=T0)
    await ledger.register_bucket("others", other.id, now=T0)
    made: list[Correction] = []
    for i, bucket in enumerate(["photos", "others", "photos", "others", "photos"]):
        found = await ledger.usage.reconcile(
            bucket, ObservedBucket({"k": i + 1}, {}), now=_at(i + 1)
        )
        assert found is not None
        made.append(found)
    assert [c.id for c in made] == [1, 2, 3, 4, 5]
    assert await ledger.usage.corrections() == made
    assert await ledger.usage.corrections(tenant_id=acme) == [made[0], made[2], made[4]]
    assert await ledger.usage.corrections(tenant_id=other.id) == [made[1], made[3]]
    assert await ledger.usage.corrections(limit=2) == made[:2]
    assert await ledger.usage.corrections(after=2, limit=2) == made[2:4]
    assert await ledger.usage.corrections(tenant_id=acme, after=1, limit=1) == [made[2]]
    assert await ledger.usage.corrections(after=5) == []
    # Each correction's "before" is what the previous one set for that bucket.
    assert (made[2].objects_before, made[2].bytes_before) == (1, 1)
    assert (made[2].objects_after, made[2].bytes_after) == (1, 3)


# -- reads ---------------------------------------------------------------------------------


async def test_usage_stored_bytes_sums_objects_and_parts_of_tenant_buckets(
    ledger: Ledger, acme: int
) -> None:
    other = await ledger.create_tenant("other", now=T0)
    await ledger.register_bucket("videos", acme, now=T0)
    await ledger.register_bucket("others", other.id, now=T0)
    await _apply(
        ledger,
        ObjectPut(_at(1), "photos", "k", 100),
        PartPut(_at(1), "videos", "u1", 1, 10),
        ObjectPut(_at(1), "others", "k", 1),
    )
    assert await ledger.usage.stored_bytes(acme) == 110
    assert await ledger.usage.stored_bytes(other.id) == 1
    assert await ledger.usage.stored_bytes(999) == 0


async def test_usage_stored_bytes_by_tenant_includes_tenants_without_buckets(
    ledger: Ledger, acme: int
) -> None:
    await ledger.create_tenant("zeta", now=T0)
    await ledger.create_tenant("beta", now=T0)
    await ledger.register_bucket("videos", acme, now=T0)
    await _apply(
        ledger, ObjectPut(_at(1), "photos", "k", 100), PartPut(_at(1), "videos", "u1", 1, 10)
    )
    assert await ledger.usage.stored_bytes_by_tenant() == [("acme", 110), ("beta", 0), ("zeta", 0)]


async def test_usage_metered_buckets_sorted_and_filtered_by_tenant(
    ledger: Ledger, acme: int
) -> None:
    other = await ledger.create_tenant("other", now=T0)
    await ledger.register_bucket("alpha", other.id, now=H1)
    await ledger.register_bucket("zulu", acme, now=H2)
    await _apply(ledger, ObjectPut(H2, "photos", "k", 5))
    assert await ledger.usage.metered_buckets() == [
        BucketStorage("alpha", other.id, 0, 0, 0, 0, H1),
        BucketStorage("photos", acme, 1, 5, 0, 0, H2),
        BucketStorage("zulu", acme, 0, 0, 0, 0, H2),
    ]
    assert [b.bucket for b in await ledger.usage.metered_buckets(acme)] == ["photos", "zulu"]
    assert await ledger.usage.metered_buckets(999) == []


# -- migration -----------------------------------------------------------------------------


async def test_usage_migration_from_schema_2_meters_existing_buckets_from_creation(
    tmp_path: Path,
) -> None:
    path = tmp_path / "l.sqlite3"
    created_at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    db = await Database.open(path)
    try:
        await db.migrate(_MIGRATIONS[:2], {})
        assert await db.schema_version() == 2
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO tenants (id, name, created_at, updated_at) VALUES (1, 'acme', ?, ?)",
                (to_text(created_at), to_text(created_at)),
            )
            await conn.execute(
                "INSERT INTO buckets (name, tenant_id, created_at) VALUES ('old', 1, ?)",
                (to_text(created_at),),
            )
    finally:
        await db.close()

    led = await Ledger.open(path, billing_tz=KOLKATA)
    try:
        assert await led.schema_version() == len(_MIGRATIONS)
        assert await led.usage.metered_buckets() == [
            BucketStorage("old", 1, 0, 0, 0, 0, created_at)
        ]
        # Metering works on the migrated bucket: integration runs from its creation on.
        put_at = created_at + HOUR
        await led.usage.apply(Batch(storage=[ObjectPut(put_at, "old", "k", 3)]))
        rows = await led.usage.storage_hours(1, created_at, put_at + 2 * HOUR, now=put_at + HOUR)
        assert sum(bs for *_, bs in rows) == 3 * 3600
    finally:
        await led.close()


# -- several gateways: the last event wins, not the last flush ----------------------------------


async def test_usage_two_gateways_flushing_out_of_order_last_event_wins(
    ledger: Ledger, acme: int
) -> None:
    """Gateway 2's newer events flush before gateway 1's older ones: an overwrite is not undone
    and a deleted object is not brought back."""
    await _apply(ledger, ObjectPut(_at(1), "photos", "j", 5))
    await _apply(ledger, ObjectPut(_at(3), "photos", "k", 20), ObjectDeleted(_at(3), "photos", "j"))
    await _apply(ledger, ObjectPut(_at(2), "photos", "k", 10), ObjectPut(_at(2), "photos", "j", 7))
    assert await ledger.usage.object_size("photos", "k") == 20
    assert await ledger.usage.object_size("photos", "j") is None
    assert _counters(await _storage(ledger)) == (1, 20, 0, 0)
    # A newer change still applies.
    await _apply(ledger, ObjectPut(_at(4), "photos", "j", 1), ObjectDeleted(_at(4), "photos", "k"))
    assert _counters(await _storage(ledger)) == (1, 1, 0, 0)


async def test_usage_part_flushed_after_its_upload_ended_not_counted(
    ledger: Ledger, acme: int
) -> None:
    await _apply(ledger, PartPut(_at(1), "photos", "u", 1, 10))
    await _apply(ledger, UploadEnded(_at(3), "photos", "u"))
    await _apply(ledger, PartPut(_at(2), "photos", "u", 2, 10))  # another gateway, late
    assert _counters(await _storage(ledger)) == (0, 0, 0, 0)


async def test_usage_reconcile_settles_the_bucket_and_clears_its_tombstones(
    ledger: Ledger, acme: int, tmp_path: Path
) -> None:
    await _apply(ledger, ObjectPut(_at(1), "photos", "k", 5), ObjectDeleted(_at(2), "photos", "k"))
    listed = ObservedBucket({"x": 3}, {})
    await ledger.usage.reconcile("photos", listed, now=_at(6), listed_from=_at(5))
    with sqlite3.connect(tmp_path / "l.sqlite3") as db:  # the tombstone went with the listing
        assert db.execute("SELECT COUNT(*) FROM storage_tombstones").fetchone() == (0,)
    # Late events from before the listing are in it already; later ones apply.
    await _apply(ledger, ObjectPut(_at(4), "photos", "k", 9), ObjectDeleted(_at(4), "photos", "x"))
    assert _counters(await _storage(ledger)) == (1, 3, 0, 0)
    await _apply(ledger, ObjectPut(_at(7), "photos", "k", 9))
    assert _counters(await _storage(ledger)) == (2, 12, 0, 0)
