"""Storage events folded into the ledger's storage state, in memory: pure, no SQL.

Owns: the rules of how each event changes a bucket (an overwrite replaces the old size, a delete
of an untracked key changes nothing, a re-uploaded part replaces the old one, an ended upload
drops all of its parts) and the integration of each bucket's bytes over time into per-hour
byte-seconds. `ledger_usage` reads the rows a batch touches, calls `fold`, and writes the result
back with a handful of statements, so a flush costs the same few round trips to SQLite however
many events it carries (one statement per event was seconds under load).

Does not own: reading or writing rows (ledger_usage), the billing clock's hours (billing.periods).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from billing.periods import hour_bounds, split_by_hour
from proxy.usage import (
    MICROS,
    BucketStorage,
    ObjectDeleted,
    ObjectPut,
    PartPut,
    StorageEvent,
    UploadEnded,
)

ObjectKey = tuple[str, str]  # (bucket, key)
_MICROSECOND = timedelta(microseconds=1)
PartKey = tuple[str, str, int]  # (bucket, upload id, part number)


@dataclass
class StorageState:
    """The rows a batch touches, as read (None: no such row), then as the batch leaves them."""

    buckets: dict[str, BucketStorage]
    objects: dict[ObjectKey, int | None]
    parts: dict[PartKey, int | None]
    #: (hour, tenant id, bucket) -> byte-seconds to add to storage_hourly.
    hourly: dict[tuple[datetime, int, str], int] = field(default_factory=dict)
    #: The last billing-clock hour an interval fell in: most intervals in a batch start and end
    #: inside it, and need no zoneinfo work (`split_by_hour`).
    hour: tuple[datetime, datetime] | None = None


def touched(events: list[StorageEvent]) -> tuple[set[str], set[ObjectKey], set[tuple[str, str]]]:
    """What to read before folding: buckets, object keys, and (bucket, upload id) of uploads."""
    buckets, objects, uploads = set(), set(), set()
    for e in events:
        buckets.add(e.bucket)
        if isinstance(e, ObjectPut | ObjectDeleted):
            objects.add((e.bucket, e.key))
        elif isinstance(e, PartPut | UploadEnded):
            uploads.add((e.bucket, e.upload_id))
    return buckets, objects, uploads


def fold(state: StorageState, events: list[StorageEvent], tz: ZoneInfo) -> None:
    """Apply `events` in order to `state`. Events for a bucket not in `state.buckets` (deleted
    or given up before this flush) change nothing."""
    for e in events:
        st = state.buckets.get(e.bucket)
        if st is None:
            continue
        st = integrate(state, st, e.at, tz)
        d_objects = d_object_bytes = d_parts = d_part_bytes = 0
        match e:
            case ObjectPut(bucket=b, key=k, size=size):
                old = state.objects.get((b, k))
                state.objects[(b, k)] = size
                d_objects, d_object_bytes = (0 if old is not None else 1), size - (old or 0)
            case ObjectDeleted(bucket=b, key=k):
                old = state.objects.get((b, k))
                if old is not None:
                    state.objects[(b, k)] = None
                    d_objects, d_object_bytes = -1, -old
            case PartPut(bucket=b, upload_id=u, part_number=n, size=size):
                old = state.parts.get((b, u, n))
                state.parts[(b, u, n)] = size
                d_parts, d_part_bytes = (0 if old is not None else 1), size - (old or 0)
            case UploadEnded(bucket=b, upload_id=u):
                for part, part_size in state.parts.items():
                    if part[0] == b and part[1] == u and part_size is not None:
                        state.parts[part] = None
                        d_parts, d_part_bytes = d_parts - 1, d_part_bytes - part_size
        # Built directly: dataclasses.replace costs several times more, once per event.
        state.buckets[e.bucket] = BucketStorage(
            bucket=st.bucket,
            tenant_id=st.tenant_id,
            objects=st.objects + d_objects,
            object_bytes=st.object_bytes + d_object_bytes,
            parts=st.parts + d_parts,
            part_bytes=st.part_bytes + d_part_bytes,
            since=st.since,
        )


def integrate(
    state: StorageState, st: BucketStorage, until: datetime, tz: ZoneInfo
) -> BucketStorage:
    """Move `since` to `until`, adding what the bucket held meanwhile by the hour. An event
    older than `since` (another gateway's late flush) does not integrate backwards."""
    if until <= st.since:
        return st
    if st.bytes:
        for hour, micros in _split(state, st.since, until, tz):
            k = (hour, st.tenant_id, st.bucket)
            state.hourly[k] = state.hourly.get(k, 0) + st.bytes * micros // MICROS
    moved = BucketStorage(
        bucket=st.bucket, tenant_id=st.tenant_id, objects=st.objects,
        object_bytes=st.object_bytes, parts=st.parts, part_bytes=st.part_bytes, since=until,
    )  # fmt: skip
    state.buckets[st.bucket] = moved
    return moved


def _split(
    state: StorageState, start: datetime, end: datetime, tz: ZoneInfo
) -> list[tuple[datetime, int]]:
    """`split_by_hour`, with the common case (both ends in the last hour seen) done inline."""
    hour = state.hour
    if hour is not None and hour[0] <= start and end <= hour[1]:
        return [(hour[0], (end - start) // _MICROSECOND)]
    parts = split_by_hour(start, end, tz)
    if parts:
        state.hour = hour_bounds(parts[-1][0], tz)
    return parts
