"""storagefold: a batch of storage events folded in memory equals the event-by-event rules,
and the hour fast path integrates exactly what billing.periods.split_by_hour gives."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from billing.periods import split_by_hour
from proxy import storagefold
from proxy.usage import MICROS, BucketStorage, ObjectDeleted, ObjectPut, PartPut, UploadEnded

T0 = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)


def _state(since: datetime = T0, **buckets: int) -> storagefold.StorageState:
    return storagefold.StorageState(
        {b: BucketStorage(b, t, 0, 0, 0, 0, since) for b, t in buckets.items()}, {}, {}
    )


def test_storagefold_overwrite_delete_and_parts_follow_the_rules() -> None:
    state = _state(b=1)
    at = T0 + timedelta(seconds=1)
    storagefold.fold(
        state,
        [
            ObjectPut(at, "b", "k", 100),
            ObjectPut(at, "b", "k", 40),  # overwrite: the size is replaced
            ObjectDeleted(at, "b", "missing"),  # untracked: nothing changes
            PartPut(at, "b", "u", 1, 10),
            PartPut(at, "b", "u", 1, 12),  # re-upload of part 1 replaces it
            PartPut(at, "b", "u", 2, 5),
            PartPut(at, "b", "v", 1, 7),
            UploadEnded(at, "b", "u"),  # only upload u's parts end
        ],
        ZoneInfo("UTC"),
    )
    st = state.buckets["b"]
    assert (st.objects, st.object_bytes, st.parts, st.part_bytes) == (1, 40, 1, 7)
    assert state.objects == {("b", "k"): 40}
    assert state.parts == {("b", "u", 1): None, ("b", "u", 2): None, ("b", "v", 1): 7}


def test_storagefold_events_for_unmetered_bucket_ignored() -> None:
    state = _state(b=1)
    storagefold.fold(state, [ObjectPut(T0, "gone", "k", 5)], ZoneInfo("UTC"))
    assert state.objects == {} and set(state.buckets) == {"b"}


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "UTC", "Australia/Lord_Howe", "Europe/Berlin"])
def test_storagefold_integration_matches_split_by_hour(zone: str) -> None:
    """Random event times across hour (and Kolkata month) boundaries: the byte-seconds per
    hour equal a reference integration of the same steps with split_by_hour."""
    tz = ZoneInfo(zone)
    rng = random.Random(zone)
    start = datetime(2026, 10, 3, 14, 0, tzinfo=UTC) if "Lord" in zone else T0
    state = _state(start, b=1)
    at, size, events = start, 0, []
    reference: dict[datetime, int] = {}
    for _ in range(300):
        step = timedelta(microseconds=rng.randrange(1, 40 * 60 * MICROS))
        for hour, micros in split_by_hour(at, at + step, tz):
            if size:
                reference[hour] = reference.get(hour, 0) + size * micros // MICROS
        at += step
        size = rng.randrange(0, 10**9)
        events.append(ObjectPut(at, "b", "k", size))
    storagefold.fold(state, events, tz)
    assert {h: bs for (h, _, _), bs in state.hourly.items() if bs} == {
        h: bs for h, bs in reference.items() if bs
    }
    assert state.buckets["b"].since == at


def _reference_fold(
    state: storagefold.StorageState, events: list[storagefold.StorageEvent], tz: ZoneInfo
) -> None:
    """The rules written out plainly, one BucketStorage per step (the oracle for `fold`)."""
    for e in events:
        st = state.buckets.get(e.bucket)
        if st is None:
            continue
        if e.at > st.since:
            for hour, micros in split_by_hour(st.since, e.at, tz):
                k = (hour, st.tenant_id, st.bucket)
                state.hourly[k] = state.hourly.get(k, 0) + st.bytes * micros // MICROS
            st = dataclasses.replace(st, since=e.at)
        objects, object_bytes, parts, part_bytes = (
            st.objects, st.object_bytes, st.parts, st.part_bytes,
        )  # fmt: skip
        if isinstance(e, ObjectPut):
            old = state.objects.get((e.bucket, e.key))
            state.objects[(e.bucket, e.key)] = e.size
            objects += old is None
            object_bytes += e.size - (old or 0)
        elif isinstance(e, ObjectDeleted):
            old = state.objects.get((e.bucket, e.key))
            if old is not None:
                state.objects[(e.bucket, e.key)] = None
                objects, object_bytes = objects - 1, object_bytes - old
        elif isinstance(e, PartPut):
            key = (e.bucket, e.upload_id, e.part_number)
            old = state.parts.get(key)
            state.parts[key] = e.size
            parts += old is None
            part_bytes += e.size - (old or 0)
        else:
            for part, size in list(state.parts.items()):
                if part[:2] == (e.bucket, e.upload_id) and size is not None:
                    state.parts[part] = None
                    parts, part_bytes = parts - 1, part_bytes - size
        state.buckets[e.bucket] = dataclasses.replace(
            st, objects=objects, object_bytes=object_bytes, parts=parts, part_bytes=part_bytes
        )


@pytest.mark.parametrize("seed", range(8))
def test_storagefold_random_batches_equal_the_plain_rules(seed: int) -> None:
    """Several buckets (one not metered), overwrites, deletes of present and absent keys,
    parts, ended uploads, and event times that sometimes go back (another gateway's late
    flush): `fold` leaves exactly what the plain rules do."""
    rng = random.Random(seed)
    tz = ZoneInfo("Asia/Kolkata")
    events: list[storagefold.StorageEvent] = []
    at = T0
    for _ in range(500):
        at += timedelta(microseconds=rng.randrange(-5 * MICROS, 20 * 60 * MICROS))
        b = rng.choice(["a", "b", "c", "unmetered"])
        kind = rng.randrange(4)
        if kind == 0:
            events.append(ObjectPut(at, b, f"k{rng.randrange(6)}", rng.randrange(0, 10**7)))
        elif kind == 1:
            events.append(ObjectDeleted(at, b, f"k{rng.randrange(8)}"))
        elif kind == 2:
            upload, part = f"u{rng.randrange(3)}", rng.randrange(1, 4)
            events.append(PartPut(at, b, upload, part, rng.randrange(1, 10**6)))
        else:
            events.append(UploadEnded(at, b, f"u{rng.randrange(3)}"))

    def fresh() -> storagefold.StorageState:
        state = _state(T0 - timedelta(minutes=7), a=1, b=2, c=1)
        state.buckets["c"] = dataclasses.replace(state.buckets["c"], objects=1, object_bytes=9)
        state.objects[("c", "k0")] = 9
        return state

    folded, expected = fresh(), fresh()
    storagefold.fold(folded, events, tz)
    _reference_fold(expected, events, tz)
    assert folded.buckets == expected.buckets
    assert folded.objects == expected.objects
    assert folded.parts == expected.parts
    # Zero byte-seconds are never written (ledger_usage._write_storage), so only others count.
    assert {k: v for k, v in folded.hourly.items() if v} == {
        k: v for k, v in expected.hourly.items() if v
    }
