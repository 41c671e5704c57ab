"""The ledger: every SQL statement BillFlow runs, behind a small async interface.

Owns: the schema and its migrations (`PRAGMA user_version`), the connection (aiosqlite, WAL),
and the conversions between rows and dataclasses (times as ISO-8601 UTC text, converted
explicitly: sqlite3's default datetime adapters are deprecated since Python 3.12). No other module
knows this is SQLite; a PostgreSQL implementation of the same methods is the path to several
gateways. The shape of new credentials lives here too while the key store is this small.

Does not own: any decision about what a key may do.
"""

from __future__ import annotations

import secrets
import sqlite3
import string
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite

# Each entry migrates the schema from version i to i+1; never edit a released entry, append one.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE tenants (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        created_at  TEXT NOT NULL
    );
    CREATE TABLE access_keys (
        access_key_id TEXT PRIMARY KEY,
        tenant_id     INTEGER NOT NULL REFERENCES tenants(id),
        secret        TEXT NOT NULL,
        created_at    TEXT NOT NULL
    );
    CREATE INDEX access_keys_tenant ON access_keys(tenant_id);
    """,
)

_KEY_ID_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


class LedgerError(Exception):
    """A request the ledger refuses (unknown tenant, duplicate name); the message says which."""


@dataclass(frozen=True)
class Tenant:
    id: int
    name: str
    created_at: datetime


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    tenant_id: int
    tenant_name: str
    created_at: datetime


@dataclass(frozen=True)
class Credentials:
    """An access key together with its secret: returned once at creation, and to the verifier."""

    key: AccessKey
    secret: str

    def __repr__(self) -> str:  # never let a secret reach a log line through repr()
        return f"Credentials(key={self.key!r}, secret=<hidden>)"


def new_access_key_id() -> str:
    """20 upper-case letters and digits, the shape of AWS access key ids."""
    return "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(20))


def new_secret() -> str:
    """40 characters from the base64 alphabet, the shape of AWS secret keys (238 bits)."""
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


def _to_text(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("naive datetime given to the ledger")
    return at.astimezone(UTC).isoformat()


def _from_text(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


class Ledger:
    """One connection, run by aiosqlite on its own thread: the event loop never waits on disk."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    @classmethod
    async def open(cls, path: Path) -> Ledger:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path, isolation_level=None)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA foreign_keys=ON")
            await db.execute("PRAGMA busy_timeout=5000")
            ledger = cls(db)
            await ledger._migrate()
        except BaseException:
            await db.close()
            raise
        return ledger

    async def close(self) -> None:
        await self._db.close()

    async def _migrate(self) -> None:
        async with self._db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        for target, script in enumerate(_MIGRATIONS[version:], start=version + 1):
            # executescript commits on its own; the version bump rides in the same script so a
            # crash between the two cannot leave a half-migrated schema marked as done.
            await self._db.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version={target};\nCOMMIT;"
            )

    async def schema_version(self) -> int:
        async with self._db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def create_tenant(self, name: str, *, now: datetime) -> Tenant:
        if not name or len(name) > 200 or not name.isprintable():
            raise LedgerError(f"invalid tenant name {name!r}")
        try:
            async with self._db.execute(
                "INSERT INTO tenants (name, created_at) VALUES (?, ?) RETURNING id",
                (name, _to_text(now)),
            ) as cur:
                row = await cur.fetchone()
        except sqlite3.IntegrityError:
            raise LedgerError(f"tenant {name!r} already exists") from None
        assert row is not None
        return Tenant(id=int(row[0]), name=name, created_at=now.astimezone(UTC))

    async def get_tenant(self, name: str) -> Tenant | None:
        async with self._db.execute(
            "SELECT id, name, created_at FROM tenants WHERE name = ?", (name,)
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return Tenant(id=int(row[0]), name=str(row[1]), created_at=_from_text(str(row[2])))

    async def create_access_key(self, tenant_name: str, *, now: datetime) -> Credentials:
        tenant = await self.get_tenant(tenant_name)
        if tenant is None:
            raise LedgerError(f"no tenant named {tenant_name!r}")
        secret = new_secret()
        while True:
            key_id = new_access_key_id()
            try:
                await self._db.execute(
                    "INSERT INTO access_keys (access_key_id, tenant_id, secret, created_at)"
                    " VALUES (?, ?, ?, ?)",
                    (key_id, tenant.id, secret, _to_text(now)),
                )
            except sqlite3.IntegrityError:  # a 36**20 collision: draw again
                continue
            break
        key = AccessKey(key_id, tenant.id, tenant.name, now.astimezone(UTC))
        return Credentials(key=key, secret=secret)

    async def find_credentials(self, access_key_id: str) -> Credentials | None:
        """The key and its secret, for verifying a signature; None when unknown."""
        async with self._db.execute(
            "SELECT k.access_key_id, k.tenant_id, t.name, k.created_at, k.secret"
            " FROM access_keys k JOIN tenants t ON t.id = k.tenant_id"
            " WHERE k.access_key_id = ?",
            (access_key_id,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        key = AccessKey(str(row[0]), int(row[1]), str(row[2]), _from_text(str(row[3])))
        return Credentials(key=key, secret=str(row[4]))
