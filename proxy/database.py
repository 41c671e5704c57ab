"""The SQLite connection under the ledger: pragmas, transactions, the migration runner.

Owns: opening the file (WAL, foreign keys, busy timeout, secure delete), serializing statements
on the one connection, `BEGIN IMMEDIATE ... COMMIT` transactions that roll back on any exception,
applying migrations one transaction each, and times as ISO-8601 UTC text (converted explicitly:
sqlite3's default datetime adapters are deprecated since Python 3.12). Does not own: any table or
query; those, and the migration scripts themselves, are the ledger's. No table name appears here.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

#: A migration's Python step: runs after its SQL, in its transaction. True: it rewrote secrets,
#: so the file is rebuilt afterwards to leave no old page behind.
DataStep = Callable[[aiosqlite.Connection], Awaitable[bool]]


def to_text(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("naive datetime given to the ledger")
    # Fixed width, so text order is time order (the ledger compares times in SQL).
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def from_text(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


async def first_row(
    conn: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()
) -> sqlite3.Row | None:
    """The first row of a query inside a transaction (`Database.one` outside one)."""
    async with conn.execute(sql, params) as cur:
        return await cur.fetchone()


def _statements(script: str) -> list[str]:
    """Split a script into statements; executescript would COMMIT the open transaction."""
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf)
            buf = ""
    if buf.strip():
        raise ValueError(f"incomplete SQL statement at the end of a migration: {buf!r}")
    return out


class Database:
    """One aiosqlite connection (its own thread: the event loop never waits on disk).

    A lock serializes statements: on a shared connection, a statement issued while another
    coroutine's transaction is open would join, and see, that transaction.
    """

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
        try:
            conn.row_factory = aiosqlite.Row
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA foreign_keys=ON")
            await conn.execute("PRAGMA busy_timeout=5000")
            # Zero freed cell space where it costs no extra I/O: limits what a crash between a
            # secret rewrite and its scrub (below) leaves in the file once the WAL is checkpointed.
            await conn.execute("PRAGMA secure_delete=FAST")
        except BaseException:
            await conn.close()
            raise
        return cls(conn)

    async def close(self) -> None:
        await self._conn.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE (take the write lock up front, so no upgrade can deadlock) ... COMMIT;
        any exception, cancellation included, rolls the whole transaction back."""
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                await self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    await self._conn.execute("ROLLBACK")
                raise

    async def one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        async with self._lock, self._conn.execute(sql, params) as cur:
            return await cur.fetchone()

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        async with self._lock, self._conn.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def schema_version(self) -> int:
        row = await self.one("PRAGMA user_version")
        return int(row[0]) if row else 0

    async def migrate(self, scripts: Sequence[str], steps: Mapping[int, DataStep]) -> None:
        """Bring the schema to `len(scripts)`: script i (0-based) takes version i to i + 1, in
        one transaction with its data step and the `user_version` bump."""
        version = await self.schema_version()
        if version > len(scripts):
            raise RuntimeError(
                f"the ledger is at schema version {version}, newer than this BillFlow knows "
                f"({len(scripts)}); run a newer BillFlow"
            )
        rewrote = False
        for target, script in enumerate(scripts[version:], start=version + 1):
            async with self.transaction() as conn:
                for statement in _statements(script):
                    await conn.execute(statement)
                if step := steps.get(target):
                    rewrote |= await step(conn)
                await conn.execute(f"PRAGMA user_version={target}")
        if rewrote:
            await self.scrub()

    async def backup(self, dest: Path) -> None:
        """A consistent copy of the database at `dest`, taken with SQLite's online backup API
        while it stays in use. One step: the copy reads one snapshot (in WAL mode other
        connections, e.g. a running gateway's, keep writing meanwhile; a stepwise copy would
        restart whenever they did). Written next to `dest`, renamed into place when complete."""
        tmp = dest.with_name(f".{dest.name}.partial")

        def open_target() -> sqlite3.Connection:
            tmp.unlink(missing_ok=True)
            return sqlite3.connect(tmp, check_same_thread=False)

        target = await asyncio.to_thread(open_target)
        try:
            async with self._lock:
                await self._conn.backup(target, pages=0)
            await asyncio.to_thread(target.execute, "PRAGMA journal_mode=DELETE")
        finally:
            target.close()
        await asyncio.to_thread(tmp.replace, dest)

    async def scrub(self) -> None:
        """Rebuild the file and empty the WAL, so no free page or old frame keeps a value that
        was overwritten (a plaintext secret before its migration, a secret under a retired key)."""
        async with self._lock:
            await self._conn.execute("VACUUM")
            await self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
