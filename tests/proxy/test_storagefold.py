"""storagefold: a batch of storage events folded in memory equals the event-by-event rules,
and the hour fast path integrates exactly what billing.periods.split_by_hour gives."""

from __future__ import annotations

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
