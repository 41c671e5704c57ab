"""The ledger's metering half: request counters, stored objects and storage over time.

Owns: every query on the usage tables (created by `ledger`'s migration 3): applying a meter
batch in one transaction, tracking each object's and multipart part's size so overwrites and
deletes change storage exactly, integrating each bucket's stored bytes into per-hour
byte-seconds, reconciliation corrections, and the reads behind the admin usage API and the
period close. Like `ledger`, no caller knows it is SQLite. Does not own: what a request is
(meter, routing), prices (billing).

Storage integration: `bucket_storage.since` is the instant up to which `storage_hourly` holds the
bucket's byte-seconds; from `since` on, the bucket has held its current bytes. So the
byte-seconds over any interval are the stored hours inside it plus the current bytes times the
part of [since, now) inside it, exactly. Each integration step floors to whole byte-seconds (an
error under 1 byte-second per change, ~1e-14 GB-days). An event older than `since` (another
gateway's late flush) changes bytes from `since` on, not retroactively.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import aiosqlite

from billing.periods import split_by_hour
from proxy import storagefold
from proxy.database import Database, first_row
from proxy.database import from_text as _at
from proxy.database import to_text as _text
from proxy.usage import (
    MICROS,
    Batch,
    BucketStorage,
    CallTotals,
    Correction,
    ObservedBucket,
    StorageEvent,
)

T = TypeVar("T")

#: Migration 3 (appended to `ledger._MIGRATIONS`): the metering tables. Usage rows carry no
#: foreign key to tenants: what a tenant used outlives the tenant, for its last invoice.
SCHEMA = """
    CREATE TABLE usage_hourly (
        hour_start    TEXT NOT NULL,
        tenant_id     INTEGER NOT NULL,
        access_key_id TEXT NOT NULL,
        bucket        TEXT NOT NULL,
        operation     TEXT NOT NULL,
        billing_class TEXT NOT NULL,
        status_class  TEXT NOT NULL,
        calls         INTEGER NOT NULL,
        bytes_in      INTEGER NOT NULL,
        bytes_out     INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, hour_start, access_key_id, bucket, operation, billing_class,
                     status_class)
    ) WITHOUT ROWID;
    CREATE INDEX usage_hourly_hour ON usage_hourly(hour_start);
    CREATE TABLE anonymous_hourly (
        hour_start TEXT NOT NULL,
        error_code TEXT NOT NULL,
        calls      INTEGER NOT NULL,
        bytes_in   INTEGER NOT NULL,
        bytes_out  INTEGER NOT NULL,
        PRIMARY KEY (hour_start, error_code)
    ) WITHOUT ROWID;
    CREATE TABLE bucket_storage (
        bucket       TEXT PRIMARY KEY,
        tenant_id    INTEGER NOT NULL,
        objects      INTEGER NOT NULL DEFAULT 0,
        object_bytes INTEGER NOT NULL DEFAULT 0,
        parts        INTEGER NOT NULL DEFAULT 0,
        part_bytes   INTEGER NOT NULL DEFAULT 0,
        since        TEXT NOT NULL
    );
    CREATE INDEX bucket_storage_tenant ON bucket_storage(tenant_id);
    CREATE TABLE stored_objects (
        bucket TEXT NOT NULL,
        key    TEXT NOT NULL,
        size   INTEGER NOT NULL,
        PRIMARY KEY (bucket, key)
    ) WITHOUT ROWID;
    CREATE TABLE stored_parts (
        bucket      TEXT NOT NULL,
        upload_id   TEXT NOT NULL,
        part_number INTEGER NOT NULL,
        size        INTEGER NOT NULL,
        PRIMARY KEY (bucket, upload_id, part_number)
    ) WITHOUT ROWID;
    CREATE TABLE storage_hourly (
        hour_start   TEXT NOT NULL,
        tenant_id    INTEGER NOT NULL,
        bucket       TEXT NOT NULL,
        byte_seconds INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, hour_start, bucket)
    ) WITHOUT ROWID;
    CREATE TABLE storage_corrections (
        id             INTEGER PRIMARY KEY,
        at             TEXT NOT NULL,
        bucket         TEXT NOT NULL,
        tenant_id      INTEGER NOT NULL,
        objects_before INTEGER NOT NULL,
        bytes_before   INTEGER NOT NULL,
        objects_after  INTEGER NOT NULL,
        bytes_after    INTEGER NOT NULL
    );
    -- Buckets registered before metering start at zero; reconciliation finds what they hold.
    INSERT INTO bucket_storage (bucket, tenant_id, since)
        SELECT name, tenant_id, created_at FROM buckets;
"""

#: Migration 7: the last event wins, not the last flush (storagefold.StorageState). '' is before
#: every time: rows written before this migration yield to any event.
ORDERING_SCHEMA = """
    ALTER TABLE stored_objects ADD COLUMN changed_at TEXT NOT NULL DEFAULT '';
    ALTER TABLE stored_parts ADD COLUMN changed_at TEXT NOT NULL DEFAULT '';
    ALTER TABLE bucket_storage ADD COLUMN settled_at TEXT NOT NULL DEFAULT '';
    CREATE TABLE storage_tombstones (
        bucket TEXT NOT NULL,
        kind   TEXT NOT NULL CHECK (kind IN ('object', 'upload')),
        name   TEXT NOT NULL,  -- the object's key, or the upload's id
        at     TEXT NOT NULL,  -- when it was deleted, or the upload ended
        PRIMARY KEY (bucket, kind, name)
    ) WITHOUT ROWID;
"""

#: What `call_totals` may group by -> the column (never interpolated from input).
_GROUPS = {
    "operation": "operation",
    "bucket": "bucket",
    "access_key": "access_key_id",
    "hour": "hour_start",
    "tenant": "CAST(tenant_id AS TEXT)",
}
_STORAGE = "bucket, tenant_id, objects, object_bytes, parts, part_bytes, since"


def _storage(r: sqlite3.Row) -> BucketStorage:
    return BucketStorage(
        r["bucket"], r["tenant_id"], r["objects"], r["object_bytes"], r["parts"],
        r["part_bytes"], _at(r["since"]),
    )  # fmt: skip


class UsageStore:
    """Metering reads and writes; `tz` is the billing clock whose hours bucket the usage."""

    def __init__(self, db: Database, tz: ZoneInfo) -> None:
        self._db = db
        self._tz = tz

    # -- writes ----------------------------------------------------------------------------

    async def apply(self, batch: Batch) -> None:
        """Add a meter batch in one transaction: all of it or (on any error) none of it."""
        async with self._db.transaction() as conn:
            await _many(
                conn,
                "INSERT INTO usage_hourly VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO UPDATE SET calls = calls + excluded.calls,"
                " bytes_in = bytes_in + excluded.bytes_in,"
                " bytes_out = bytes_out + excluded.bytes_out",
                [
                    (_text(k.hour), k.tenant_id, k.access_key_id, k.bucket, k.operation,
                     k.billing_class, k.status_class, c.calls, c.bytes_in, c.bytes_out)
                    for k, c in batch.calls.items()
                ],
            )  # fmt: skip
            await _many(
                conn,
                "INSERT INTO anonymous_hourly VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT DO UPDATE SET calls = calls + excluded.calls,"
                " bytes_in = bytes_in + excluded.bytes_in,"
                " bytes_out = bytes_out + excluded.bytes_out",
                [
                    (_text(hour), code, c.calls, c.bytes_in, c.bytes_out)
                    for (hour, code), c in batch.anonymous.items()
                ],
            )
            if batch.storage:
                await self._apply_storage(conn, batch.storage)

    async def _apply_storage(self, conn: aiosqlite.Connection, events: list[StorageEvent]) -> None:
        """Read the rows the events touch, fold the events in memory (storagefold), write the
        changed rows back: a few statements per flush, not a few per event."""
        buckets, objects, uploads = storagefold.touched(events)
        state = storagefold.StorageState({}, dict.fromkeys(objects), {})
        for chunk in _chunks(sorted(buckets)):
            marks = ", ".join("?" * len(chunk))
            for r in await _rows(
                conn,
                f"SELECT {_STORAGE}, settled_at FROM bucket_storage WHERE bucket IN ({marks})",
                chunk,
            ):
                state.buckets[r["bucket"]] = _storage(r)
                if r["settled_at"]:
                    state.settled[r["bucket"]] = _at(r["settled_at"])
        for pairs in _chunks(sorted(objects)):
            values = ", ".join(["(?, ?)"] * len(pairs))
            params = [x for pair in pairs for x in pair]
            for r in await _rows(
                conn,
                f"SELECT bucket, key, size, changed_at FROM stored_objects WHERE (bucket, key) IN"
                f" (VALUES {values})",
                params,
            ):
                state.objects[(r[0], r[1])] = int(r[2])
                if r[3]:
                    state.changed[(r[0], r[1])] = _at(r[3])
            # A key with a row has no tombstone (a put removes it): look up the others only.
            missing = [pair for pair in pairs if state.objects[pair] is None]
            await _read_tombstones(conn, state, storagefold.OBJECT, missing)
        for pairs in _chunks(sorted(uploads)):
            values = ", ".join(["(?, ?)"] * len(pairs))
            params = [x for pair in pairs for x in pair]
            for r in await _rows(
                conn,
                "SELECT bucket, upload_id, part_number, size, changed_at FROM stored_parts"
                f" WHERE (bucket, upload_id) IN (VALUES {values})",
                params,
            ):
                state.parts[(r[0], r[1], int(r[2]))] = int(r[3])
                if r[4]:
                    state.part_changed[(r[0], r[1], int(r[2]))] = _at(r[4])
            await _read_tombstones(conn, state, storagefold.UPLOAD, pairs)
        before = (dict(state.objects), dict(state.changed), dict(state.parts),
                  dict(state.part_changed), dict(state.tombstones))  # fmt: skip
        storagefold.fold(state, events, self._tz)
        await _write_rows(conn, state, *before)
        await _write_storage(conn, state)

    async def _integrate(
        self, conn: aiosqlite.Connection, st: BucketStorage, until: datetime
    ) -> None:
        """Move the bucket's `since` to `until`, adding what it held meanwhile by the hour (the
        same integration a flush does: storagefold.integrate)."""
        if until <= st.since:
            return
        state = storagefold.StorageState({st.bucket: st}, {}, {})
        storagefold.integrate(state, st, until, self._tz)
        await _write_storage(conn, state)

    async def start_bucket(
        self, conn: aiosqlite.Connection, bucket: str, tenant_id: int, *, now: datetime
    ) -> None:
        """A bucket gained an owner (the ledger's transaction): it is metered from `now`."""
        await conn.execute(
            "INSERT INTO bucket_storage (bucket, tenant_id, since) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (bucket, tenant_id, _text(now)),
        )

    async def end_buckets(
        self, conn: aiosqlite.Connection, buckets: Iterable[str], *, now: datetime
    ) -> None:
        """Buckets lost their owner (deleted, or given up with their tenant): integrate what they
        held up to `now`, then stop metering them. Their hourly history stays."""
        for bucket in buckets:
            row = await first_row(
                conn, f"SELECT {_STORAGE} FROM bucket_storage WHERE bucket = ?", (bucket,)
            )
            if row is None:
                continue
            await self._integrate(conn, _storage(row), now)
            for table in ("bucket_storage", "stored_objects", "stored_parts", "storage_tombstones"):
                await conn.execute(f"DELETE FROM {table} WHERE bucket = ?", (bucket,))

    async def reconcile(
        self,
        bucket: str,
        observed: ObservedBucket,
        *,
        now: datetime,
        listed_from: datetime | None = None,
    ) -> Correction | None:
        """Make the ledger hold exactly what the upstream listed for `bucket`; record and return
        the correction when anything differed (None when the ledger was right, or the bucket is
        no longer metered). The bucket is settled up to `listed_from` (when the listing began;
        default `now`): storage events from before it, flushed late by another gateway, are in
        the listing already and change nothing (storagefold.StorageState)."""
        settled = _text(listed_from or now)
        async with self._db.transaction() as conn:
            row = await first_row(
                conn, f"SELECT {_STORAGE} FROM bucket_storage WHERE bucket = ?", (bucket,)
            )
            if row is None:
                return None
            st = _storage(row)
            await conn.execute(
                "UPDATE bucket_storage SET settled_at = max(settled_at, ?) WHERE bucket = ?",
                (settled, bucket),
            )
            await conn.execute(
                "DELETE FROM storage_tombstones WHERE bucket = ? AND at < ?", (bucket, settled)
            )
            async with conn.execute(
                "SELECT key, size FROM stored_objects WHERE bucket = ?", (bucket,)
            ) as cur:
                objects = {str(r[0]): int(r[1]) for r in await cur.fetchall()}
            async with conn.execute(
                "SELECT upload_id, part_number, size FROM stored_parts WHERE bucket = ?",
                (bucket,),
            ) as cur:
                parts = {(str(r[0]), int(r[1])): int(r[2]) for r in await cur.fetchall()}
            if objects == observed.objects and parts == observed.parts:
                return None
            await self._integrate(conn, st, now)
            await conn.execute("DELETE FROM stored_objects WHERE bucket = ?", (bucket,))
            await _many(
                conn,
                "INSERT INTO stored_objects (bucket, key, size, changed_at) VALUES (?, ?, ?, ?)",
                [(bucket, k, size, settled) for k, size in observed.objects.items()],
            )
            # A key with a row has no tombstone (flushes look tombstones up for the others).
            await _many(
                conn,
                "DELETE FROM storage_tombstones WHERE bucket = ? AND kind = 'object' AND name = ?",
                [(bucket, k) for k in observed.objects],
            )
            await conn.execute("DELETE FROM stored_parts WHERE bucket = ?", (bucket,))
            await conn.executemany(
                "INSERT INTO stored_parts (bucket, upload_id, part_number, size, changed_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [(bucket, u, n, size, settled) for (u, n), size in observed.parts.items()],
            )
            after_objects = len(observed.objects)
            after_bytes = sum(observed.objects.values()) + sum(observed.parts.values())
            await conn.execute(
                "UPDATE bucket_storage SET objects = ?, object_bytes = ?, parts = ?,"
                " part_bytes = ? WHERE bucket = ?",
                (after_objects, sum(observed.objects.values()), len(observed.parts),
                 sum(observed.parts.values()), bucket),
            )  # fmt: skip
            async with conn.execute(
                "INSERT INTO storage_corrections (at, bucket, tenant_id, objects_before,"
                " bytes_before, objects_after, bytes_after) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " RETURNING id",
                (_text(now), bucket, st.tenant_id, st.objects, st.bytes, after_objects,
                 after_bytes),
            ) as cur:  # fmt: skip
                new = await cur.fetchone()
        assert new is not None
        return Correction(
            int(new[0]), now, bucket, st.tenant_id, st.objects, st.bytes, after_objects,
            after_bytes,
        )  # fmt: skip

    # -- reads -----------------------------------------------------------------------------

    async def metered_buckets(self, tenant_id: int | None = None) -> list[BucketStorage]:
        """Storage now per bucket (every tenant's when `tenant_id` is None), sorted by name."""
        where, params = ("WHERE tenant_id = ?", (tenant_id,)) if tenant_id is not None else ("", ())
        rows = await self._db.all(
            f"SELECT {_STORAGE} FROM bucket_storage {where} ORDER BY bucket", params
        )
        return [_storage(r) for r in rows]

    async def stored_bytes(self, tenant_id: int) -> int:
        row = await self._db.one(
            "SELECT COALESCE(SUM(object_bytes + part_bytes), 0) FROM bucket_storage"
            " WHERE tenant_id = ?",
            (tenant_id,),
        )
        return int(row[0]) if row else 0

    async def stored_bytes_by_tenant(self) -> list[tuple[str, int]]:
        """(tenant name, stored bytes) for every tenant, by name; a tenant with no bucket: 0."""
        rows = await self._db.all(
            "SELECT t.name, COALESCE(SUM(s.object_bytes + s.part_bytes), 0) FROM tenants t"
            " LEFT JOIN bucket_storage s ON s.tenant_id = t.id GROUP BY t.id ORDER BY t.name"
        )
        return [(str(r[0]), int(r[1])) for r in rows]

    async def stored_bytes_per_tenant(self) -> dict[int, int]:
        """Tenant id -> bytes stored now, for tenants with any metered bucket."""
        rows = await self._db.all(
            "SELECT tenant_id, SUM(object_bytes + part_bytes) FROM bucket_storage"
            " GROUP BY tenant_id"
        )
        return {int(r[0]): int(r[1]) for r in rows}

    async def stored_objects(self, bucket: str) -> dict[str, int]:
        """Every object the ledger tracks in `bucket`: key -> size."""
        rows = await self._db.all(
            "SELECT key, size FROM stored_objects WHERE bucket = ?", (bucket,)
        )
        return {str(r[0]): int(r[1]) for r in rows}

    async def object_size(self, bucket: str, key: str) -> int | None:
        row = await self._db.one(
            "SELECT size FROM stored_objects WHERE bucket = ? AND key = ?", (bucket, key)
        )
        return None if row is None else int(row[0])

    async def storage_hours(
        self, tenant_id: int | None, start: datetime, end: datetime, *, now: datetime
    ) -> list[tuple[datetime, int, str, int]]:
        """(hour, tenant id, bucket, byte-seconds) for the hours in [start, end), including the
        part of each bucket's open interval [since, now) that falls inside."""
        where = "hour_start >= ? AND hour_start < ?"
        params: tuple[object, ...] = (_text(start), _text(end))
        if tenant_id is not None:
            where, params = f"tenant_id = ? AND {where}", (tenant_id, *params)
        rows = await self._db.all(
            f"SELECT hour_start, tenant_id, bucket, byte_seconds FROM storage_hourly WHERE {where}",
            params,
        )
        out: dict[tuple[datetime, int, str], int] = {
            (_at(r[0]), int(r[1]), str(r[2])): int(r[3]) for r in rows
        }
        for st in await self.metered_buckets(tenant_id):
            lo, hi = max(st.since, start), min(now, end)
            if not st.bytes or lo >= hi:
                continue
            for hour, micros in split_by_hour(lo, hi, self._tz):
                k = (hour, st.tenant_id, st.bucket)
                out[k] = out.get(k, 0) + st.bytes * micros // MICROS
        return sorted((h, t, b, bs) for (h, t, b), bs in out.items())

    async def call_totals(
        self, group_by: str, start: datetime, end: datetime, *, tenant_id: int | None = None
    ) -> list[CallTotals]:
        """Request counters in [start, end) summed per `group_by` (operation, bucket,
        access_key, hour or tenant), billing class and status class."""
        column = _GROUPS[group_by]
        where = "hour_start >= ? AND hour_start < ?"
        params: tuple[object, ...] = (_text(start), _text(end))
        if tenant_id is not None:
            where, params = f"tenant_id = ? AND {where}", (tenant_id, *params)
        rows = await self._db.all(
            f"SELECT {column} AS grp, billing_class, status_class, SUM(calls), SUM(bytes_in),"
            f" SUM(bytes_out) FROM usage_hourly WHERE {where}"
            " GROUP BY grp, billing_class, status_class ORDER BY grp, billing_class, status_class",
            params,
        )
        return [
            CallTotals(str(r[0]), str(r[1]), str(r[2]), int(r[3]), int(r[4]), int(r[5]))
            for r in rows
        ]

    async def anonymous_totals(self, start: datetime, end: datetime) -> list[CallTotals]:
        """Unauthenticated requests in [start, end) per error code (group), platform-wide."""
        rows = await self._db.all(
            "SELECT error_code, SUM(calls), SUM(bytes_in), SUM(bytes_out) FROM anonymous_hourly"
            " WHERE hour_start >= ? AND hour_start < ? GROUP BY error_code ORDER BY error_code",
            (_text(start), _text(end)),
        )
        return [CallTotals(str(r[0]), "", "4xx", int(r[1]), int(r[2]), int(r[3])) for r in rows]

    async def count_corrections(self, start: datetime, end: datetime) -> int:
        """How many corrections reconciliation recorded in [start, end)."""
        row = await self._db.one(
            "SELECT COUNT(*) FROM storage_corrections WHERE at >= ? AND at < ?",
            (_text(start), _text(end)),
        )
        return int(row[0]) if row is not None else 0

    async def corrections(
        self, *, tenant_id: int | None = None, after: int = 0, limit: int = 100
    ) -> list[Correction]:
        where, params = "id > ?", [after]
        if tenant_id is not None:
            where += " AND tenant_id = ?"
            params.append(tenant_id)
        rows = await self._db.all(
            "SELECT id, at, bucket, tenant_id, objects_before, bytes_before, objects_after,"
            f" bytes_after FROM storage_corrections WHERE {where} ORDER BY id LIMIT ?",
            (*params, limit),
        )
        return [
            Correction(int(r[0]), _at(r[1]), str(r[2]), int(r[3]), int(r[4]), int(r[5]),
                       int(r[6]), int(r[7]))
            for r in rows
        ]  # fmt: skip


def _chunks(items: list[T], size: int = 400) -> Iterator[list[T]]:
    """Slices small enough for SQLite's limit on bound parameters."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


async def _rows(conn: aiosqlite.Connection, sql: str, params: Sequence[Any]) -> list[sqlite3.Row]:
    async with conn.execute(sql, params) as cur:
        return list(await cur.fetchall())


async def _many(conn: aiosqlite.Connection, sql: str, rows: list[Any]) -> None:
    """executemany, skipped when there is nothing to write: each statement is a round trip to
    aiosqlite's thread, awaited on the (busy) event loop, and a flush issues several."""
    if rows:
        await conn.executemany(sql, rows)


async def _read_tombstones(
    conn: aiosqlite.Connection,
    state: storagefold.StorageState,
    kind: str,
    pairs: Sequence[tuple[str, str]],
) -> None:
    """The tombstones of these (bucket, key or upload id) pairs."""
    if not pairs:
        return
    values = ", ".join(["(?, ?)"] * len(pairs))
    for r in await _rows(
        conn,
        f"SELECT bucket, name, at FROM storage_tombstones WHERE kind = ? AND (bucket, name) IN"
        f" (VALUES {values})",
        [kind, *(x for pair in pairs for x in pair)],
    ):
        state.tombstones[(r[0], kind, r[1])] = _at(r[2])


async def _write_rows(
    conn: aiosqlite.Connection,
    state: storagefold.StorageState,
    objects: dict[storagefold.ObjectKey, int | None],
    changed: dict[storagefold.ObjectKey, datetime],
    parts: dict[storagefold.PartKey, int | None],
    part_changed: dict[storagefold.PartKey, datetime],
    tombstones: dict[storagefold.Tombstone, datetime | None],
) -> None:
    """Write back the object and part rows and the tombstones a fold changed (the arguments
    are the state as read)."""
    upsert = " ON CONFLICT DO UPDATE SET size = excluded.size, changed_at = excluded.changed_at"
    await _many(
        conn,
        "INSERT INTO stored_objects (bucket, key, size, changed_at) VALUES (?, ?, ?, ?)" + upsert,
        [(*k, size, _text(state.changed[k])) for k, size in state.objects.items()
         if size is not None and (size, state.changed.get(k)) != (objects.get(k), changed.get(k))],
    )  # fmt: skip
    await _many(
        conn,
        "DELETE FROM stored_objects WHERE bucket = ? AND key = ?",
        [k for k, size in state.objects.items() if size is None and objects.get(k) is not None],
    )  # fmt: skip
    await _many(
        conn,
        "INSERT INTO stored_parts (bucket, upload_id, part_number, size, changed_at)"
        " VALUES (?, ?, ?, ?, ?)" + upsert,
        [(*k, size, _text(state.part_changed[k])) for k, size in state.parts.items()
         if size is not None
         and (size, state.part_changed.get(k)) != (parts.get(k), part_changed.get(k))],
    )  # fmt: skip
    await _many(
        conn,
        "DELETE FROM stored_parts WHERE bucket = ? AND upload_id = ? AND part_number = ?",
        [k for k, size in state.parts.items() if size is None and parts.get(k) is not None],
    )  # fmt: skip
    await _many(
        conn,
        "INSERT INTO storage_tombstones VALUES (?, ?, ?, ?)"
        " ON CONFLICT DO UPDATE SET at = excluded.at",
        [(*k, _text(at)) for k, at in state.tombstones.items()
         if at is not None and at != tombstones.get(k)],
    )  # fmt: skip
    await _many(
        conn,
        "DELETE FROM storage_tombstones WHERE bucket = ? AND kind = ? AND name = ?",
        [k for k, at in state.tombstones.items() if at is None and tombstones.get(k) is not None],
    )  # fmt: skip


async def _write_storage(conn: aiosqlite.Connection, state: storagefold.StorageState) -> None:
    """Write back what a fold left: byte-seconds added per hour, each bucket's totals and
    `since`."""
    await _many(
        conn,
        "INSERT INTO storage_hourly VALUES (?, ?, ?, ?)"
        " ON CONFLICT DO UPDATE SET byte_seconds = byte_seconds + excluded.byte_seconds",
        [(_text(h), t, b, bs) for (h, t, b), bs in state.hourly.items() if bs],
    )
    await _many(
        conn,
        "UPDATE bucket_storage SET objects = ?, object_bytes = ?, parts = ?, part_bytes = ?,"
        " since = ? WHERE bucket = ?",
        [(st.objects, st.object_bytes, st.parts, st.part_bytes, _text(st.since), st.bucket)
         for st in state.buckets.values()],
    )  # fmt: skip
