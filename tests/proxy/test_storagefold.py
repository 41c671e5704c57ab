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
    """The rules written out plainly, one BucketStorage per step (the oracle for `fold`): time
    is integrated for every event of a metered bucket; then an event changes state only if it
    is not older than the bucket's settled time, than the row it would change, or than the
    tombstone of what it would change (the last event wins)."""
    never = storagefold.NEVER
    for e in events:
        st = state.buckets.get(e.bucket)
        if st is None:
            continue
        if e.at > st.since:
            for hour, micros in split_by_hour(st.since, e.at, tz):
                k = (hour, st.tenant_id, st.bucket)
                state.hourly[k] = state.hourly.get(k, 0) + st.bytes * micros // MICROS
            st = dataclasses.replace(st, since=e.at)
            state.buckets[e.bucket] = st
        if e.at < state.settled.get(e.bucket, never):
            continue
        objects, object_bytes, parts, part_bytes = (
            st.objects, st.object_bytes, st.parts, st.part_bytes,
        )  # fmt: skip
        if isinstance(e, ObjectPut):
            key, gone = (e.bucket, e.key), (e.bucket, "object", e.key)
            newest = max(state.changed.get(key, never), state.tombstones.get(gone) or never)
            if e.at < newest:
                continue
            old = state.objects.get(key)
            state.objects[key], state.changed[key] = e.size, e.at
            if gone in state.tombstones:
                state.tombstones[gone] = None
            objects += old is None
            object_bytes += e.size - (old or 0)
        elif isinstance(e, ObjectDeleted):
            key, gone = (e.bucket, e.key), (e.bucket, "object", e.key)
            if e.at < state.changed.get(key, never):
                continue
            old = state.objects.get(key)
            if old is not None:
                state.objects[key] = None
                objects, object_bytes = objects - 1, object_bytes - old
            state.changed.pop(key, None)
            state.tombstones[gone] = max(e.at, state.tombstones.get(gone) or never)
        elif isinstance(e, PartPut):
            key = (e.bucket, e.upload_id, e.part_number)
            ended = state.tombstones.get((e.bucket, "upload", e.upload_id)) or never
            if e.at < max(state.part_changed.get(key, never), ended):
                continue
            old = state.parts.get(key)
            state.parts[key], state.part_changed[key] = e.size, e.at
            parts += old is None
            part_bytes += e.size - (old or 0)
        else:
            for part, size in list(state.parts.items()):
                if part[:2] == (e.bucket, e.upload_id) and size is not None:
                    state.parts[part] = None
                    state.part_changed.pop(part, None)
                    parts, part_bytes = parts - 1, part_bytes - size
            gone = (e.bucket, "upload", e.upload_id)
            state.tombstones[gone] = max(e.at, state.tombstones.get(gone) or never)
        state.buckets[e.bucket] = dataclasses.replace(
            st, objects=objects, object_bytes=object_bytes, parts=parts, part_bytes=part_bytes
        )


@pytest.mark.parametrize("seed", range(8))
def test_storagefold_random_batches_equal_the_plain_rules(seed: int) -> None:
    """Several buckets (one not metered, one settled by reconciliation), overwrites, deletes of
    present and absent keys, parts, ended uploads, rows and tombstones from earlier flushes,
    and event times that often go back (other gateways' late flushes): `fold` leaves exactly
    what the plain rules do."""
    rng = random.Random(seed)
    tz = ZoneInfo("Asia/Kolkata")
    events: list[storagefold.StorageEvent] = []
    at = T0
    for _ in range(500):
        at += timedelta(microseconds=rng.randrange(-10 * 60 * MICROS, 20 * 60 * MICROS))
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
        state.changed[("c", "k0")] = T0 + timedelta(hours=1)
        state.tombstones[("a", "object", "k1")] = T0 + timedelta(hours=2)
        state.tombstones[("b", "upload", "u1")] = T0 + timedelta(hours=1)
        state.settled["b"] = T0 + timedelta(minutes=30)
        return state

    folded, expected = fresh(), fresh()
    storagefold.fold(folded, events, tz)
    _reference_fold(expected, events, tz)
    assert folded.buckets == expected.buckets
    assert folded.objects == expected.objects
    assert folded.parts == expected.parts
    assert folded.changed == expected.changed
    assert folded.part_changed == expected.part_changed
    assert folded.tombstones == expected.tombstones
    # Zero byte-seconds are never written (ledger_usage._write_storage), so only others count.
    assert {k: v for k, v in folded.hourly.items() if v} == {
        k: v for k, v in expected.hourly.items() if v
    }


def _later(*events: storagefold.StorageEvent) -> storagefold.StorageState:
    state = _state(b=1)
    storagefold.fold(state, list(events), ZoneInfo("UTC"))
    return state


T1, T2 = T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)


def test_storagefold_older_put_after_newer_put_changes_nothing() -> None:
    state = _later(ObjectPut(T2, "b", "k", 20), ObjectPut(T1, "b", "k", 10))
    assert state.objects == {("b", "k"): 20} and state.changed == {("b", "k"): T2}
    assert state.buckets["b"].object_bytes == 20


def test_storagefold_older_put_after_delete_does_not_resurrect() -> None:
    state = _later(ObjectDeleted(T2, "b", "k"), ObjectPut(T1, "b", "k", 10))
    assert state.objects.get(("b", "k")) is None
    assert state.tombstones == {("b", "object", "k"): T2}
    assert state.buckets["b"].objects == 0


def test_storagefold_older_delete_after_newer_put_changes_nothing() -> None:
    state = _later(ObjectPut(T2, "b", "k", 20), ObjectDeleted(T1, "b", "k"))
    assert state.objects == {("b", "k"): 20} and state.buckets["b"].objects == 1


def test_storagefold_newer_put_after_delete_lifts_the_tombstone() -> None:
    state = _later(ObjectDeleted(T1, "b", "k"), ObjectPut(T2, "b", "k", 5))
    assert state.objects == {("b", "k"): 5} and state.tombstones == {("b", "object", "k"): None}


def test_storagefold_part_older_than_its_uploads_end_changes_nothing() -> None:
    state = _later(UploadEnded(T2, "b", "u"), PartPut(T1, "b", "u", 1, 7))
    assert state.parts == {} and state.buckets["b"].parts == 0
    assert state.tombstones == {("b", "upload", "u"): T2}


def test_storagefold_events_before_the_buckets_settled_time_change_nothing() -> None:
    state = _state(b=1)
    state.settled["b"] = T1
    storagefold.fold(
        state, [ObjectPut(T0, "b", "old", 1), ObjectPut(T2, "b", "new", 2)], ZoneInfo("UTC")
    )
    assert state.objects == {("b", "new"): 2}
