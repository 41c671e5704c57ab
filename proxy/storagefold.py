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
from datetime import UTC, datetime, timedelta
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
#: (bucket, OBJECT, key): the object was deleted; (bucket, UPLOAD, upload id): the upload ended.
Tombstone = tuple[str, str, str]
OBJECT, UPLOAD = "object", "upload"
#: Before any event: rows written before change times were kept compare as this old.
NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass
class StorageState:
    """The rows a batch touches, as read (None: no such row), then as the batch leaves them.

    Several gateways flush their own events, so a batch can carry an event older than what the
    ledger holds already. Each object and part row keeps the time of the event that wrote it,
    deletes and ended uploads leave a tombstone with theirs, and reconciliation settles a
    bucket up to its listing: an event older than any of these changes nothing (the last event
    wins, not the last flush)."""

    buckets: dict[str, BucketStorage]
    objects: dict[ObjectKey, int | None]
    parts: dict[PartKey, int | None]
    #: (hour, tenant id, bucket) -> byte-seconds to add to storage_hourly.
    hourly: dict[tuple[datetime, int, str], int] = field(default_factory=dict)
    #: When the event that wrote each object and part row happened (absent: NEVER).
    changed: dict[ObjectKey, datetime] = field(default_factory=dict)
    part_changed: dict[PartKey, datetime] = field(default_factory=dict)
    #: Deleted objects and ended uploads, with when; None: the tombstone is to be removed.
    tombstones: dict[Tombstone, datetime | None] = field(default_factory=dict)
    #: Per bucket, the time reconciliation's listing reflects: older events are in it already.
    settled: dict[str, datetime] = field(default_factory=dict)
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


@dataclass(slots=True)
class _Folding:
    """A bucket's counters while a batch folds: one mutable record per bucket, not a new
    BucketStorage per event (a flush folds thousands of events)."""

    tenant_id: int
    objects: int
    object_bytes: int
    parts: int
    part_bytes: int
    since: datetime
    settled: datetime


def fold(state: StorageState, events: list[StorageEvent], tz: ZoneInfo) -> None:
    """Apply `events` in order to `state`. Events for a bucket not in `state.buckets` (deleted
    or given up before this flush) change nothing, and neither do events older than what the
    state holds (see StorageState). Each event first integrates what its bucket held since the
    previous one (as `integrate` does)."""
    folding: dict[str, _Folding] = {}
    objects, parts, hourly = state.objects, state.parts, state.hourly
    changed, part_changed, tombstones = state.changed, state.part_changed, state.tombstones
    for e in events:
        b = e.bucket
        w = folding.get(b)
        if w is None:
            st = state.buckets.get(b)
            if st is None:
                continue
            w = folding[b] = _Folding(
                st.tenant_id, st.objects, st.object_bytes, st.parts, st.part_bytes, st.since,
                state.settled.get(b, NEVER),
            )  # fmt: skip
        if e.at > w.since:
            held = w.object_bytes + w.part_bytes
            if held:
                for hour, micros in _split(state, w.since, e.at, tz):
                    k = (hour, w.tenant_id, b)
                    hourly[k] = hourly.get(k, 0) + held * micros // MICROS
            w.since = e.at
        if e.at < w.settled:
            continue  # reconciliation listed the bucket after this happened
        if isinstance(e, ObjectPut):
            key, gone = (b, e.key), (b, OBJECT, e.key)
            if e.at < changed.get(key, NEVER) or e.at < (tombstones.get(gone) or NEVER):
                continue
            old = objects.get(key)
            objects[key], changed[key] = e.size, e.at
            if gone in tombstones:
                tombstones[gone] = None
            if old is None:
                w.objects += 1
            w.object_bytes += e.size - (old or 0)
        elif isinstance(e, ObjectDeleted):
            key, gone = (b, e.key), (b, OBJECT, e.key)
            if e.at < changed.get(key, NEVER):
                continue
            old = objects.get(key)
            if old is not None:
                objects[key] = None
                w.objects -= 1
                w.object_bytes -= old
            changed.pop(key, None)
            tombstones[gone] = max(e.at, tombstones.get(gone) or NEVER)
        elif isinstance(e, PartPut):
            part, ended = (b, e.upload_id, e.part_number), (b, UPLOAD, e.upload_id)
            if e.at < part_changed.get(part, NEVER) or e.at < (tombstones.get(ended) or NEVER):
                continue
            old = parts.get(part)
            parts[part], part_changed[part] = e.size, e.at
            if old is None:
                w.parts += 1
            w.part_bytes += e.size - (old or 0)
        elif isinstance(e, UploadEnded):
            for part, part_size in parts.items():
                if part[0] == b and part[1] == e.upload_id and part_size is not None:
                    parts[part] = None
                    part_changed.pop(part, None)
                    w.parts -= 1
                    w.part_bytes -= part_size
            ended = (b, UPLOAD, e.upload_id)
            tombstones[ended] = max(e.at, tombstones.get(ended) or NEVER)
    for b, w in folding.items():
        state.buckets[b] = BucketStorage(
            bucket=b, tenant_id=w.tenant_id, objects=w.objects, object_bytes=w.object_bytes,
            parts=w.parts, part_bytes=w.part_bytes, since=w.since,
        )  # fmt: skip


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
