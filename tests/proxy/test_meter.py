"""The meter: counters aggregated per billing-clock hour, storage events in order, and a flush that
hands a batch to the ledger exactly once (kept and retried when the ledger fails)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from proxy.meter import FlushResult, Meter
from proxy.usage import (
    Batch,
    CallKey,
    Counts,
    ObjectDeleted,
    ObjectPut,
    PartPut,
    StorageEvent,
    UploadEnded,
)

KOLKATA = ZoneInfo("Asia/Kolkata")
UTC_ZONE = ZoneInfo("UTC")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")  # DST is +30 minutes: offsets change mid-hour
AT = datetime(2026, 11, 25, 10, 40, tzinfo=UTC)  # 16:10 in Kolkata
HOUR = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)  # its Kolkata hour: 16:00 IST
MINUTE = timedelta(minutes=1)
#: How long a test waits for something the meter's loop should do within milliseconds.
PATIENCE = 2.0


def _call(meter: Meter, **changes: Any) -> None:
    fields: dict[str, Any] = {
        "at": AT,
        "tenant_id": 1,
        "access_key_id": "AKIAONE",
        "bucket": "photos",
        "operation": "GetObject",
        "status": 200,
        "bytes_in": 0,
        "bytes_out": 0,
    }
    fields.update(changes)
    meter.call(**fields)


def _key(**changes: Any) -> CallKey:
    fields: dict[str, Any] = {
        "hour": HOUR,
        "tenant_id": 1,
        "access_key_id": "AKIAONE",
        "bucket": "photos",
        "operation": "GetObject",
        "billing_class": "read",
        "status_class": "2xx",
    }
    fields.update(changes)
    return CallKey(**fields)


class Sink:
    """Collects every batch the meter hands over; optionally fails the first `failures` times."""

    def __init__(self, failures: int = 0) -> None:
        self.batches: list[Batch] = []
        self.failures = failures
        self.called = asyncio.Event()
        self.delivered = asyncio.Event()  # set once a batch was taken

    async def __call__(self, batch: Batch) -> None:
        self.called.set()
        if self.failures:
            self.failures -= 1
            raise ConnectionError("ledger unavailable")
        self.batches.append(batch)
        self.delivered.set()

    def merged(self) -> Batch:
        total = Batch()
        for batch in self.batches:
            total.merge_before(batch)
        return total


async def _taken(meter: Meter) -> Batch:
    """Everything the meter holds, by flushing it into a collecting sink."""
    sink = Sink()
    await meter.flush(sink)
    return sink.merged()


# -- aggregation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "second, keys",
    [
        pytest.param({}, 1, id="identical"),
        pytest.param({"at": AT + 19 * MINUTE}, 1, id="same-hour-later"),
        pytest.param({"status": 204}, 1, id="same-status-class"),
        pytest.param({"at": AT + 50 * MINUTE}, 2, id="next-hour"),
        pytest.param({"at": AT - 11 * MINUTE}, 2, id="previous-hour"),
        pytest.param({"tenant_id": 2}, 2, id="tenant"),
        pytest.param({"access_key_id": "AKIATWO"}, 2, id="access-key"),
        pytest.param({"bucket": "other"}, 2, id="bucket"),
        pytest.param({"operation": "HeadObject"}, 2, id="operation"),
        pytest.param({"status": 404}, 2, id="status-class"),
    ],
)
async def test_meter_call_second_request_aggregates_by_key(
    second: dict[str, Any], keys: int
) -> None:
    meter = Meter(KOLKATA)
    _call(meter, bytes_in=1, bytes_out=10)
    _call(meter, bytes_in=2, bytes_out=20, **second)
    batch = await _taken(meter)
    assert len(batch.calls) == keys
    assert sum(c.calls for c in batch.calls.values()) == 2
    assert sum(c.bytes_in for c in batch.calls.values()) == 3
    assert sum(c.bytes_out for c in batch.calls.values()) == 30
    if keys == 1:
        assert batch.calls == {_key(): Counts(2, 3, 30)}


@pytest.mark.parametrize(
    "tz, at, hour",
    [
        pytest.param(KOLKATA, AT, HOUR, id="kolkata-after-half-past"),
        pytest.param(
            KOLKATA,
            datetime(2026, 11, 25, 10, 29, 59, 999999, tzinfo=UTC),
            datetime(2026, 11, 25, 9, 30, tzinfo=UTC),
            id="kolkata-just-before-half-past",
        ),
        pytest.param(
            KOLKATA,
            datetime(2026, 11, 30, 18, 30, tzinfo=UTC),
            datetime(2026, 11, 30, 18, 30, tzinfo=UTC),
            id="kolkata-month-start",
        ),
        pytest.param(UTC_ZONE, AT, datetime(2026, 11, 25, 10, tzinfo=UTC), id="utc"),
        pytest.param(
            ZoneInfo("Asia/Kathmandu"),  # +05:45
            AT,
            datetime(2026, 11, 25, 10, 15, tzinfo=UTC),
            id="kathmandu",
        ),
    ],
)
async def test_meter_call_hour_is_billing_clock_hour(
    tz: ZoneInfo, at: datetime, hour: datetime
) -> None:
    meter = Meter(tz)
    _call(meter, at=at)
    batch = await _taken(meter)
    assert [k.hour for k in batch.calls] == [hour]


async def test_meter_call_hours_in_any_order_each_get_their_own() -> None:
    """The hour cache must not leak: going back to an earlier hour finds that hour again."""
    meter = Meter(KOLKATA)
    for at in (AT, AT + timedelta(hours=1), AT, AT - timedelta(hours=1)):
        _call(meter, at=at)
    batch = await _taken(meter)
    assert {k.hour: c.calls for k, c in batch.calls.items()} == {
        HOUR - timedelta(hours=1): 1,
        HOUR: 2,
        HOUR + timedelta(hours=1): 1,
    }


@pytest.mark.parametrize(
    "first, second, second_hour",
    [
        # 2026-10-04 02:00 LHST -> 02:30 LHDT at 15:30 UTC: buckets [15:30, 16:00), [16:00, 17:00)
        pytest.param(
            datetime(2026, 10, 3, 15, 45, tzinfo=UTC),
            datetime(2026, 10, 3, 16, 10, tzinfo=UTC),
            datetime(2026, 10, 3, 16, 0, tzinfo=UTC),
            id="dst-start",
        ),
        # 2026-04-05 02:00 LHDT -> 01:30 LHST at 15:00 UTC: buckets [15:00, 15:30), [15:30, 16:30)
        pytest.param(
            datetime(2026, 4, 4, 15, 10, tzinfo=UTC),
            datetime(2026, 4, 4, 15, 40, tzinfo=UTC),
            datetime(2026, 4, 4, 15, 30, tzinfo=UTC),
            id="dst-end",
        ),
    ],
)
async def test_meter_call_short_hour_at_offset_change_next_hour_separate(
    first: datetime, second: datetime, second_hour: datetime
) -> None:
    meter = Meter(LORD_HOWE)
    _call(meter, at=first)
    _call(meter, at=second)
    batch = await _taken(meter)
    assert len(batch.calls) == 2
    assert max(k.hour for k in batch.calls) == second_hour


@pytest.mark.parametrize(
    "operation, overrides, billing_class",
    [
        pytest.param("GetObject", {}, "read", id="get-default"),
        pytest.param("PutObject", {}, "write", id="put-default"),
        pytest.param("DeleteObject", {}, "free", id="delete-default"),
        pytest.param("GetObject", {"GetObject": "write"}, "write", id="get-overridden"),
        pytest.param("PutObject", {"GetObject": "free"}, "write", id="other-overridden"),
        pytest.param("HeadObject", {"HeadObject": "free"}, "free", id="head-free"),
    ],
)
async def test_meter_call_billing_class_from_overrides(
    operation: str, overrides: dict[str, str], billing_class: str
) -> None:
    meter = Meter(KOLKATA, overrides)
    _call(meter, operation=operation)
    batch = await _taken(meter)
    assert [k.billing_class for k in batch.calls] == [billing_class]


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"GetObjekt": "read"}, id="unknown-operation"),
        pytest.param({"GetObject": "cheap"}, id="unknown-class"),
    ],
)
def test_meter_unknown_override_refused(overrides: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="billing override"):
        Meter(KOLKATA, overrides)


@pytest.mark.parametrize(
    "status, status_class",
    [(100, "1xx"), (200, "2xx"), (206, "2xx"), (304, "3xx"), (403, "4xx"), (503, "5xx")],
)
async def test_meter_call_status_class_from_status(status: int, status_class: str) -> None:
    meter = Meter(KOLKATA)
    _call(meter, status=status)
    batch = await _taken(meter)
    assert [k.status_class for k in batch.calls] == [status_class]


async def test_meter_anonymous_counted_per_hour_and_error_code() -> None:
    meter = Meter(KOLKATA)
    meter.anonymous(at=AT, error_code="AccessDenied", bytes_in=1, bytes_out=100)
    meter.anonymous(at=AT + 5 * MINUTE, error_code="AccessDenied", bytes_in=2, bytes_out=200)
    meter.anonymous(at=AT, error_code="InvalidAccessKeyId", bytes_in=0, bytes_out=50)
    meter.anonymous(at=AT + timedelta(hours=1), error_code="AccessDenied", bytes_in=0, bytes_out=1)
    batch = await _taken(meter)
    assert batch.anonymous == {
        (HOUR, "AccessDenied"): Counts(2, 3, 300),
        (HOUR, "InvalidAccessKeyId"): Counts(1, 0, 50),
        (HOUR + timedelta(hours=1), "AccessDenied"): Counts(1, 0, 1),
    }
    assert batch.calls == {}


async def test_meter_storage_events_keep_their_order() -> None:
    events: list[StorageEvent] = [
        PartPut(AT, "b", "u1", 1, 5),
        ObjectPut(AT, "b", "k", 10),
        UploadEnded(AT, "b", "u1"),
        ObjectDeleted(AT, "b", "k"),
        ObjectPut(AT, "b", "k", 3),
    ]
    meter = Meter(KOLKATA)
    for event in events:
        meter.storage(1, event)
    assert meter.pending() == len(events)
    batch = await _taken(meter)
    assert batch.storage == events


# -- unflushed bytes -----------------------------------------------------------------------


async def test_meter_storage_event_times_never_go_back() -> None:
    """A wall clock stepped back must not make a later write look older than an earlier one
    (the ledger keeps the last event by time)."""
    meter, sink = Meter(KOLKATA), Sink()
    meter.storage(1, ObjectPut(AT + timedelta(seconds=2), "b", "k", 1))
    meter.storage(1, ObjectPut(AT, "b", "k", 2))  # after the step back
    meter.storage(1, ObjectDeleted(AT + timedelta(seconds=3), "b", "k"))
    await meter.flush(sink)
    assert [e.at - AT for e in sink.batches[0].storage] == [
        timedelta(seconds=2), timedelta(seconds=2), timedelta(seconds=3),
    ]  # fmt: skip


def test_meter_unflushed_bytes_counts_puts_and_parts_per_tenant() -> None:
    meter = Meter(KOLKATA)
    meter.storage(1, ObjectPut(AT, "b", "k", 100))
    meter.storage(1, PartPut(AT, "b", "u1", 1, 20))
    meter.storage(1, ObjectDeleted(AT, "b", "k"))  # deletes never lower the bound
    meter.storage(1, UploadEnded(AT, "b", "u1"))
    meter.storage(2, ObjectPut(AT, "c", "k", 7))
    assert (meter.unflushed_bytes(1), meter.unflushed_bytes(2), meter.unflushed_bytes(3)) == (
        120,
        7,
        0,
    )


async def test_meter_unflushed_bytes_held_during_flush_and_cleared_after_commit() -> None:
    meter = Meter(KOLKATA)
    meter.storage(1, ObjectPut(AT, "b", "k", 100))
    seen: list[int] = []

    async def sink(batch: Batch) -> None:
        # The ledger has not committed yet: the quota check must still count these bytes,
        # plus anything written meanwhile.
        meter.storage(1, ObjectPut(AT, "b", "k2", 5))
        seen.append(meter.unflushed_bytes(1))

    await meter.flush(sink)
    assert seen == [105]
    assert meter.unflushed_bytes(1) == 5  # only what arrived during the flush is left
    await meter.flush(Sink())
    assert meter.unflushed_bytes(1) == 0


async def test_meter_unflushed_bytes_survive_failed_flush() -> None:
    meter = Meter(KOLKATA)
    meter.storage(1, ObjectPut(AT, "b", "k", 100))

    async def failing(batch: Batch) -> None:
        meter.storage(1, PartPut(AT, "b", "u1", 1, 5))
        raise ConnectionError("ledger unavailable")

    with pytest.raises(ConnectionError):
        await meter.flush(failing)
    assert meter.unflushed_bytes(1) == 105
    await meter.flush(Sink())
    assert meter.unflushed_bytes(1) == 0


# -- flush ---------------------------------------------------------------------------------


async def test_meter_flush_nothing_pending_returns_none_without_calling_sink() -> None:
    meter = Meter(KOLKATA)
    sink = Sink()
    assert await meter.flush(sink) is None
    assert sink.batches == [] and not sink.called.is_set()


async def test_meter_flush_hands_everything_over_once() -> None:
    meter = Meter(KOLKATA)
    _call(meter, bytes_out=10)
    meter.anonymous(at=AT, error_code="AccessDenied", bytes_in=0, bytes_out=1)
    meter.storage(1, ObjectPut(AT, "b", "k", 3))
    sink = Sink()
    result = await meter.flush(sink)
    assert isinstance(result, FlushResult)
    assert result.size == 3 and result.lag_seconds >= 0 and result.duration_seconds >= 0
    assert len(sink.batches) == 1
    assert sink.batches[0].calls == {_key(): Counts(1, 0, 10)}
    assert sink.batches[0].storage == [ObjectPut(AT, "b", "k", 3)]
    assert meter.pending() == 0
    assert await meter.flush(sink) is None
    assert len(sink.batches) == 1


async def test_meter_flush_failure_keeps_batch_in_front_of_newer_entries() -> None:
    meter = Meter(KOLKATA)
    _call(meter, bytes_out=10)
    meter.anonymous(at=AT, error_code="AccessDenied", bytes_in=0, bytes_out=1)
    meter.storage(1, ObjectPut(AT, "b", "first", 1))
    meter.storage(1, ObjectDeleted(AT, "b", "first"))

    async def failing(batch: Batch) -> None:
        # Requests keep ending while the ledger transaction is under way.
        _call(meter, bytes_out=20)
        _call(meter, operation="PutObject", bytes_in=7)
        meter.anonymous(at=AT, error_code="AccessDenied", bytes_in=0, bytes_out=2)
        meter.storage(1, ObjectPut(AT, "b", "first", 2))
        raise ConnectionError("ledger unavailable")

    with pytest.raises(ConnectionError, match="ledger unavailable"):
        await meter.flush(failing)
    assert meter.pending() == 2 + 1 + 3

    sink = Sink()
    result = await meter.flush(sink)
    assert result is not None and result.size == 6
    assert len(sink.batches) == 1
    batch = sink.batches[0]
    assert batch.calls == {
        _key(): Counts(2, 0, 30),
        _key(operation="PutObject", billing_class="write"): Counts(1, 7, 0),
    }
    assert batch.anonymous == {(HOUR, "AccessDenied"): Counts(2, 0, 3)}
    assert batch.storage == [
        ObjectPut(AT, "b", "first", 1),
        ObjectDeleted(AT, "b", "first"),
        ObjectPut(AT, "b", "first", 2),
    ]
    assert await meter.flush(sink) is None
    assert len(sink.batches) == 1


async def test_meter_flush_failing_twice_then_delivers_exactly_once() -> None:
    meter = Meter(KOLKATA)
    _call(meter)
    sink = Sink(failures=2)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            await meter.flush(sink)
        _call(meter)
    await meter.flush(sink)
    assert [b.calls for b in sink.batches] == [{_key(): Counts(3, 0, 0)}]
    assert await meter.flush(sink) is None


async def test_meter_flush_failure_calls_before_during_and_after_all_counted() -> None:
    """The same grain metered before a failed flush, during it and after it: one counter."""
    meter = Meter(KOLKATA)
    _call(meter, bytes_out=1)

    async def failing(batch: Batch) -> None:
        _call(meter, bytes_out=2)
        raise ConnectionError("ledger unavailable")

    with pytest.raises(ConnectionError):
        await meter.flush(failing)
    _call(meter, bytes_out=4)
    _call(meter, bytes_out=8)
    sink = Sink()
    await meter.flush(sink)
    assert sink.batches[0].calls == {_key(): Counts(4, 0, 15)}
    _call(meter, bytes_out=16)  # a fresh batch after a successful flush
    await meter.flush(sink)
    assert sink.batches[1].calls == {_key(): Counts(1, 0, 16)}


# -- running -------------------------------------------------------------------------------


async def test_meter_running_flushes_on_interval_and_on_exit() -> None:
    meter = Meter(KOLKATA)
    sink = Sink()
    results: list[FlushResult] = []
    async with meter.running(sink, 0.01, results.append):
        _call(meter)
        await asyncio.wait_for(sink.delivered.wait(), PATIENCE)  # the interval, not the exit
        _call(meter, bytes_out=5)
        meter.storage(1, ObjectPut(AT, "b", "k", 1))
    assert meter.pending() == 0
    total = sink.merged()
    assert total.calls == {_key(): Counts(2, 0, 5)}
    assert total.storage == [ObjectPut(AT, "b", "k", 1)]
    assert sum(r.size for r in results) == sum(b.size() for b in sink.batches)
    assert len(results) == len(sink.batches)


async def test_meter_running_exit_flushes_what_the_interval_did_not() -> None:
    meter = Meter(KOLKATA)
    sink = Sink()
    async with meter.running(sink, 3600):
        _call(meter)
        await asyncio.sleep(0)
        assert sink.batches == []
    assert [b.calls for b in sink.batches] == [{_key(): Counts(1, 0, 0)}]


async def test_meter_running_failed_flush_retried_next_interval() -> None:
    meter = Meter(KOLKATA)
    sink = Sink(failures=1)
    async with meter.running(sink, 0.01):
        _call(meter)
        await asyncio.wait_for(sink.delivered.wait(), PATIENCE)
    assert [b.calls for b in sink.batches] == [{_key(): Counts(1, 0, 0)}]


async def test_meter_running_slow_sink_at_exit_awaited_not_cancelled() -> None:
    meter = Meter(KOLKATA)
    entered = asyncio.Event()
    finished: list[Batch] = []
    cancelled: list[bool] = []

    async def slow(batch: Batch) -> None:
        entered.set()
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        finished.append(batch)

    _call(meter)
    async with meter.running(slow, 0.01):
        await asyncio.wait_for(entered.wait(), PATIENCE)
    assert cancelled == []
    assert [b.calls for b in finished] == [{_key(): Counts(1, 0, 0)}]
    assert meter.pending() == 0


async def test_meter_running_entries_during_last_flush_flushed_at_exit() -> None:
    meter = Meter(KOLKATA)
    entered = asyncio.Event()
    delivered: list[Batch] = []

    async def slow(batch: Batch) -> None:
        entered.set()
        await asyncio.sleep(0.05)
        delivered.append(batch)

    _call(meter)
    async with meter.running(slow, 0.01):
        await asyncio.wait_for(entered.wait(), PATIENCE)
        _call(meter, operation="PutObject")  # a request ends while the flush is in flight
    assert meter.pending() == 0
    calls: dict[CallKey, Counts] = {}
    for batch in delivered:
        calls.update(batch.calls)
    assert calls == {
        _key(): Counts(1, 0, 0),
        _key(operation="PutObject", billing_class="write"): Counts(1, 0, 0),
    }


async def test_meter_running_block_error_still_flushes_and_propagates() -> None:
    meter = Meter(KOLKATA)
    sink = Sink()
    with pytest.raises(RuntimeError, match="boom"):
        async with meter.running(sink, 3600):
            _call(meter)
            await asyncio.sleep(0)
            raise RuntimeError("boom")
    assert [b.calls for b in sink.batches] == [{_key(): Counts(1, 0, 0)}]


async def test_meter_running_block_without_await_still_flushed_at_exit() -> None:
    meter = Meter(KOLKATA)
    sink = Sink()
    async with meter.running(sink, 3600):
        _call(meter)
    assert [b.calls for b in sink.batches] == [{_key(): Counts(1, 0, 0)}]


async def test_meter_flush_concurrent_flushes_take_turns_and_keep_quota_bytes() -> None:
    """An on-demand flush while the loop's flush is in flight waits for it: the bytes of both
    stay counted for the quota until each batch is committed."""
    meter = Meter(KOLKATA)
    meter.storage(1, ObjectPut(AT, "b", "k", 100))
    release = asyncio.Event()
    delivered: list[list[StorageEvent]] = []

    async def gated(batch: Batch) -> None:
        await release.wait()
        delivered.append(batch.storage)

    first = asyncio.get_running_loop().create_task(meter.flush(gated))
    await asyncio.sleep(0)
    meter.storage(1, ObjectPut(AT, "b", "k2", 5))
    second = asyncio.get_running_loop().create_task(meter.flush(gated))
    await asyncio.sleep(0.01)
    assert meter.unflushed_bytes(1) == 105
    release.set()
    await asyncio.gather(first, second)
    assert delivered == [[ObjectPut(AT, "b", "k", 100)], [ObjectPut(AT, "b", "k2", 5)]]
    assert meter.unflushed_bytes(1) == 0
