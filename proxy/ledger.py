"""The ledger: every query BillFlow runs, behind a small async interface.

Owns: the schema and its migrations (`PRAGMA user_version`; `proxy.database` runs them, owns the
connection and the transactions), every query, and the conversions between rows and the
dataclasses of `proxy.records`. No other module knows this is SQLite; a PostgreSQL implementation
of the same methods is the path to several gateways. Access-key secrets are stored sealed by
`crypto.SecretBox` (the plaintext never reaches SQLite) and opened only in `find_credentials`.

Does not own: any decision about what a key may do, or the value rules (`proxy.records`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiosqlite

from proxy import records as rec
from proxy.config import ENV_MASTER_KEY
from proxy.crypto import MasterKeyError, SecretBox
from proxy.database import Database, first_row
from proxy.database import from_text as _at
from proxy.database import to_text as _to_text
from proxy.ledger_billing import SCHEMA as _BILLING_SCHEMA
from proxy.ledger_billing import TARIFF_SCHEMA as _TARIFF_SCHEMA
from proxy.ledger_billing import BillingStore
from proxy.ledger_usage import ORDERING_SCHEMA as _ORDERING_SCHEMA
from proxy.ledger_usage import SCHEMA as _USAGE_SCHEMA
from proxy.ledger_usage import UsageStore
from proxy.records import AccessKey, Bucket, BucketTaken, Credentials, LedgerError, Tenant

#: (box, access_key_id, stored value) -> new stored value, for migrations and rotation.
Rewrite = Callable[[SecretBox, str, str], str]

__all__ = ["AccessKey", "Bucket", "BucketTaken", "Credentials", "Ledger", "LedgerError", "Tenant"]

# Each entry migrates the schema from version i to i+1; never edit a released entry, append one.
# An entry runs statement by statement in one transaction with its data step (see `open`)
# and the version bump, so a failure anywhere leaves the previous version intact.
#: A new tenant's id: past every id ever used, deleted (archived) tenants' included. SQLite
#: would otherwise hand the newest tenant's id to the next one after it is deleted, and the
#: usage, storage, invoices and archive rows still keyed by it would become the new tenant's.
_NEXT_TENANT_ID = (
    "(SELECT 1 + MAX(COALESCE((SELECT MAX(id) FROM tenants), 0),"
    " COALESCE((SELECT MAX(tenant_id) FROM tenant_archive), 0)))"
)

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
    """
    ALTER TABLE tenants ADD COLUMN billing_email TEXT;
    ALTER TABLE tenants ADD COLUMN status TEXT NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'suspended'));
    ALTER TABLE tenants ADD COLUMN storage_quota_bytes INTEGER
        CHECK (storage_quota_bytes IS NULL OR storage_quota_bytes >= 0);
    -- ADD COLUMN takes only a constant default; every row gets its real value right after.
    ALTER TABLE tenants ADD COLUMN updated_at TEXT NOT NULL DEFAULT '';
    UPDATE tenants SET updated_at = created_at;
    -- Schema 1 stored secrets in plaintext: the data step seals each row before the bump.
    ALTER TABLE access_keys RENAME COLUMN secret TO sealed_secret;
    ALTER TABLE access_keys ADD COLUMN status TEXT NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'revoked'));
    ALTER TABLE access_keys ADD COLUMN revoked_at TEXT;
    ALTER TABLE access_keys ADD COLUMN last_used_at TEXT;
    CREATE TABLE buckets (
        name        TEXT PRIMARY KEY,
        tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
        created_at  TEXT NOT NULL
    );
    CREATE INDEX buckets_tenant ON buckets(tenant_id, name);
    CREATE TABLE admins (
        username      TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        created_at    TEXT NOT NULL
    );
    """,
    _USAGE_SCHEMA,
    """
    -- Scheduled jobs run in every gateway process; a lease in the ledger lets one run at a time.
    CREATE TABLE job_leases (
        name       TEXT PRIMARY KEY,
        holder     TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    """,
    _BILLING_SCHEMA,
    _TARIFF_SCHEMA,
    _ORDERING_SCHEMA,
)

#: The billing clock when none is given: usage is bucketed into its hours.
DEFAULT_BILLING_TZ = ZoneInfo("Asia/Kolkata")

_TENANT = (
    "id, name, billing_email, status, storage_quota_bytes, created_at, updated_at,"
    " billing_name, billing_address, billing_state, gstin"
)
_KEY = (
    "k.access_key_id, k.tenant_id, t.name AS tenant_name, k.created_at, t.status AS tenant_status,"
    " k.status, k.revoked_at, k.last_used_at, t.storage_quota_bytes AS tenant_quota"
    " FROM access_keys k JOIN tenants t ON t.id = k.tenant_id"
)


def _at_or_none(text: str | None) -> datetime | None:
    return None if text is None else _at(text)


def _tenant(r: sqlite3.Row) -> Tenant:
    return Tenant(
        r["id"], r["name"], r["billing_email"], r["status"], r["storage_quota_bytes"],
        _at(r["created_at"]), _at(r["updated_at"]), r["billing_name"], r["billing_address"],
        r["billing_state"], r["gstin"],
    )  # fmt: skip


def _key(r: sqlite3.Row) -> AccessKey:
    return AccessKey(
        r["access_key_id"], r["tenant_id"], r["tenant_name"], _at(r["created_at"]),
        r["tenant_status"], r["status"], _at_or_none(r["revoked_at"]),
        _at_or_none(r["last_used_at"]), r["tenant_quota"],
    )  # fmt: skip


def _bucket(r: sqlite3.Row) -> Bucket:
    return Bucket(r["name"], r["tenant_id"], _at(r["created_at"]))


class Ledger:
    """Tenants, access keys, bucket owners and admin accounts; times are aware UTC, `now` is
    always passed in. Every change that takes more than one statement is one transaction."""

    def __init__(self, db: Database, box: SecretBox | None, billing_tz: ZoneInfo) -> None:
        self._db = db
        self._box = box
        #: Metering: request counters, stored objects, storage over time (ledger_usage).
        self.usage = UsageStore(db, billing_tz)
        #: Billing: invoices and their numbers, closed periods, the outbox, alerts sent.
        self.billing = BillingStore(db)

    @classmethod
    async def open(
        cls,
        path: Path,
        secret_box: SecretBox | None = None,
        *,
        billing_tz: ZoneInfo = DEFAULT_BILLING_TZ,
    ) -> Ledger:
        """Open (creating or migrating) the ledger at `path`. Without `secret_box` everything
        works except issuing keys and opening secrets, which raise MasterKeyError. Usage is
        bucketed into hours of `billing_tz`, so billing months are whole hours."""
        db = await Database.open(path)
        ledger = cls(db, secret_box, billing_tz)
        try:
            await db.migrate(_MIGRATIONS, {2: ledger._seal_schema1_secrets})
            await ledger._check_master_key()
        except BaseException:
            await db.close()
            raise
        return ledger

    async def close(self) -> None:
        await self._db.close()

    async def _seal_schema1_secrets(self, conn: aiosqlite.Connection) -> bool:
        """Migration 2's data step. It needs the master key only when there are secrets; without
        it the migration rolls back and the file stays at version 1, plaintext and all."""
        purpose = "encrypt the plaintext access-key secrets of ledger schema 1"

        def seal(box: SecretBox, access_key_id: str, plaintext: str) -> str:
            return box.seal(plaintext, context=access_key_id)

        return bool(await self._rewrite_secrets(conn, purpose, seal))

    async def _rewrite_secrets(
        self, conn: aiosqlite.Connection, purpose: str, rewrite: Rewrite
    ) -> int:
        """Replace every stored secret by `rewrite(box, access_key_id, stored)`, in `conn`'s
        transaction; returns how many there were."""
        async with conn.execute("SELECT access_key_id, sealed_secret FROM access_keys") as cur:
            rows = list(await cur.fetchall())
        if rows:
            box = self._require_box(purpose)
            await conn.executemany(
                "UPDATE access_keys SET sealed_secret = ? WHERE access_key_id = ?",
                [(rewrite(box, r[0], r[1]), r[0]) for r in rows],
            )
        return len(rows)

    async def _check_master_key(self) -> None:
        """Fail at start-up, not on a tenant's request, when the key cannot open the secrets."""
        if self._box is None:
            return
        row = await self._db.one(
            "SELECT access_key_id, sealed_secret FROM access_keys ORDER BY rowid DESC LIMIT 1"
        )
        if row is not None:
            self._box.open(row[1], context=row[0])

    def _require_box(self, purpose: str) -> SecretBox:
        if self._box is None:
            raise MasterKeyError(f"{ENV_MASTER_KEY} is not set; it is needed to {purpose}")
        return self._box

    async def schema_version(self) -> int:
        return await self._db.schema_version()

    async def backup(self, dest: Path) -> None:
        """A consistent copy of the whole ledger at `dest`, safe while BillFlow runs. Secrets
        stay sealed in it: restoring needs the same BILLFLOW_MASTER_KEY."""
        await self._db.backup(dest)

    # -- tenants ---------------------------------------------------------------------------

    async def create_tenant(
        self,
        name: str,
        *,
        now: datetime,
        billing_email: str | None = None,
        storage_quota_bytes: int | None = None,
        billing_name: str | None = None,
        billing_address: str | None = None,
        billing_state: str | None = None,
        gstin: str | None = None,
    ) -> Tenant:
        """A GSTIN without a billing state gives the tenant the GSTIN's state."""
        values = {
            "name": rec.check_tenant_name(name),
            "billing_email": rec.check_email(billing_email),
            "storage_quota_bytes": rec.check_quota(storage_quota_bytes),
            "billing_name": rec.check_billing_name(billing_name),
            "billing_address": rec.check_billing_address(billing_address),
        }
        values["billing_state"], values["gstin"] = rec.check_tax_identity(billing_state, gstin)
        values["created_at"] = values["updated_at"] = _to_text(now)
        # Column names are the keys above, never input.
        columns, marks = ", ".join(values), ", ".join("?" * len(values))
        async with self._db.transaction() as conn:
            try:
                row = await first_row(
                    conn,
                    f"INSERT INTO tenants (id, {columns}) VALUES ({_NEXT_TENANT_ID}, {marks})"
                    f" RETURNING {_TENANT}",
                    tuple(values.values()),
                )
            except sqlite3.IntegrityError:
                raise rec.Conflict(f"tenant {name!r} already exists") from None
        assert row is not None
        return _tenant(row)

    async def get_tenant(self, tenant_id: int) -> Tenant | None:
        row = await self._db.one(f"SELECT {_TENANT} FROM tenants WHERE id = ?", (tenant_id,))
        return None if row is None else _tenant(row)

    async def get_tenant_by_name(self, name: str) -> Tenant | None:
        row = await self._db.one(f"SELECT {_TENANT} FROM tenants WHERE name = ?", (name,))
        return None if row is None else _tenant(row)

    async def list_tenants(self, *, after: int = 0, limit: int = 100) -> list[Tenant]:
        """Ordered by id; pass the last id seen as `after` for the next page (keyset)."""
        rows = await self._db.all(
            f"SELECT {_TENANT} FROM tenants WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
        )
        return [_tenant(r) for r in rows]

    async def update_tenant(
        self,
        tenant_id: int,
        *,
        now: datetime,
        name: str = rec.UNSET,
        billing_email: str | None = rec.UNSET,
        billing_name: str | None = rec.UNSET,
        billing_address: str | None = rec.UNSET,
        billing_state: str | None = rec.UNSET,
        gstin: str | None = rec.UNSET,
    ) -> Tenant:
        """Change the given fields; None clears one. The billing state follows the GSTIN: a new
        GSTIN alone sets it, a state alone must agree with the stored GSTIN (and clearing the
        state of a tenant with a GSTIN leaves the GSTIN's state)."""
        changes: dict[str, object] = {}
        if name is not rec.UNSET:
            changes["name"] = rec.check_tenant_name(name)
        if billing_email is not rec.UNSET:
            changes["billing_email"] = rec.check_email(billing_email)
        if billing_name is not rec.UNSET:
            changes["billing_name"] = rec.check_billing_name(billing_name)
        if billing_address is not rec.UNSET:
            changes["billing_address"] = rec.check_billing_address(billing_address)
        derive: Callable[[Tenant], Mapping[str, object]] | None = None
        if gstin is not rec.UNSET:
            state = None if billing_state is rec.UNSET else billing_state
            checked_state, changes["gstin"] = rec.check_tax_identity(state, gstin)
            if billing_state is not rec.UNSET or checked_state is not None:
                changes["billing_state"] = checked_state
        elif billing_state is not rec.UNSET:
            state = rec.check_billing_state(billing_state)  # a bad code fails before any read

            def agree_with_gstin(current: Tenant) -> Mapping[str, object]:
                return {"billing_state": rec.check_tax_identity(state, current.gstin)[0]}

            derive = agree_with_gstin
        return await self._update_tenant(tenant_id, now, changes, derive)

    async def set_tenant_status(
        self, tenant_id: int, status: rec.TenantStatus, *, now: datetime
    ) -> Tenant:
        if status not in ("active", "suspended"):
            raise rec.InvalidValue(f"tenant status must be active or suspended, got {status!r}")
        return await self._update_tenant(tenant_id, now, {"status": status})

    async def set_storage_quota(
        self, tenant_id: int, quota_bytes: int | None, *, now: datetime
    ) -> Tenant:
        """None clears the quota."""
        changes = {"storage_quota_bytes": rec.check_quota(quota_bytes)}
        return await self._update_tenant(tenant_id, now, changes)

    async def _update_tenant(
        self,
        tenant_id: int,
        now: datetime,
        changes: Mapping[str, object],
        derive: Callable[[Tenant], Mapping[str, object]] | None = None,
    ) -> Tenant:
        """`derive(current)` gives more changes from the stored row, read in the same
        transaction (so a rule across fields holds against concurrent updates)."""
        async with self._db.transaction() as conn:
            if derive is not None:
                current = await first_row(
                    conn, f"SELECT {_TENANT} FROM tenants WHERE id = ?", (tenant_id,)
                )
                if current is None:
                    raise rec.NotFound(f"no tenant with id {tenant_id}")
                changes = {**changes, **derive(_tenant(current))}
            # Column names come from the methods above, never from input.
            columns = [*changes, "updated_at"]
            assignments = ", ".join(f"{c} = ?" for c in columns)
            try:
                row = await first_row(
                    conn,
                    f"UPDATE tenants SET {assignments} WHERE id = ? RETURNING {_TENANT}",
                    (*changes.values(), _to_text(now), tenant_id),
                )
            except sqlite3.IntegrityError:
                raise rec.Conflict(f"tenant {changes.get('name')!r} already exists") from None
        if row is None:
            raise rec.NotFound(f"no tenant with id {tenant_id}")
        return _tenant(row)

    async def delete_tenant(
        self, tenant_id: int, *, now: datetime, force: bool = False
    ) -> rec.TenantRemoval:
        """Delete the tenant and its access keys. A tenant owning buckets is refused unless
        `force`; forcing leaves the buckets upstream, owned by nobody (and unmetered from `now`)
        until assigned again. What the tenant used stays in the usage tables."""
        async with self._db.transaction() as conn:
            if await first_row(conn, "SELECT 1 FROM tenants WHERE id = ?", (tenant_id,)) is None:
                raise rec.NotFound(f"no tenant with id {tenant_id}")
            async with conn.execute(
                "DELETE FROM buckets WHERE tenant_id = ? RETURNING name", (tenant_id,)
            ) as cur:
                buckets = sorted(str(r[0]) for r in await cur.fetchall())
            if buckets and not force:  # the transaction rolls the DELETE back
                raise rec.TenantOwnsBuckets(tenant_id, len(buckets))
            await self.usage.end_buckets(conn, buckets, now=now)
            # Kept for the invoices still to come for the months it was a tenant.
            await conn.execute(
                "INSERT INTO tenant_archive SELECT id, name, json_object('billing_email',"
                " billing_email, 'billing_name', billing_name, 'billing_address',"
                " billing_address, 'billing_state', billing_state, 'gstin', gstin, 'tariff',"
                " json(tariff)),"
                " created_at, ? FROM tenants WHERE id = ?",
                (_to_text(now), tenant_id),
            )
            async with conn.execute(
                "DELETE FROM access_keys WHERE tenant_id = ? RETURNING access_key_id",
                (tenant_id,),
            ) as cur:
                key_ids = sorted(str(r[0]) for r in await cur.fetchall())
            await conn.execute("DELETE FROM tenants WHERE id = ?", (tenant_id,))
        return rec.TenantRemoval(key_ids, buckets)

    # -- access keys -----------------------------------------------------------------------

    async def create_access_key(self, tenant_id: int, *, now: datetime) -> Credentials:
        box = self._require_box("issue access keys")
        secret = rec.new_secret()
        async with self._db.transaction() as conn:
            row = await first_row(conn, f"SELECT {_TENANT} FROM tenants WHERE id = ?", (tenant_id,))
            if row is None:
                raise rec.NotFound(f"no tenant with id {tenant_id}")
            tenant = _tenant(row)
            while True:
                key_id = rec.new_access_key_id()
                try:
                    await conn.execute(
                        "INSERT INTO access_keys (access_key_id, tenant_id, sealed_secret,"
                        " created_at) VALUES (?, ?, ?, ?)",
                        (key_id, tenant.id, box.seal(secret, context=key_id), _to_text(now)),
                    )
                except sqlite3.IntegrityError:  # a 36**20 collision: draw again
                    continue
                break
        key = AccessKey(key_id, tenant.id, tenant.name, _at(_to_text(now)), tenant.status)
        return Credentials(key=key, secret=secret)

    async def list_access_keys(
        self, tenant_id: int, *, after: str = "", limit: int = 100
    ) -> list[AccessKey]:
        """Ordered by access key id; `after` is the last id seen (keyset pagination)."""
        rows = await self._db.all(
            f"SELECT {_KEY} WHERE k.tenant_id = ? AND k.access_key_id > ?"
            " ORDER BY k.access_key_id LIMIT ?",
            (tenant_id, after, limit),
        )
        return [_key(r) for r in rows]

    async def revoke_access_key(self, access_key_id: str, *, now: datetime) -> AccessKey:
        """Idempotent: revoking a revoked key keeps its first revocation time."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE access_keys SET status = 'revoked', revoked_at = ?"
                " WHERE access_key_id = ? AND status = 'active'",
                (_to_text(now), access_key_id),
            )
            row = await first_row(
                conn, f"SELECT {_KEY} WHERE k.access_key_id = ?", (access_key_id,)
            )
            if row is None:
                raise rec.NotFound(f"no access key {access_key_id!r}")
        return _key(row)

    async def find_credentials(self, access_key_id: str) -> Credentials | None:
        """An active key with its opened secret, for verifying a signature; None otherwise."""
        row = await self._db.one(
            f"SELECT k.sealed_secret, {_KEY} WHERE k.access_key_id = ? AND k.status = 'active'",
            (access_key_id,),
        )
        if row is None:
            return None
        box = self._require_box("verify signatures")
        return Credentials(_key(row), box.open(row["sealed_secret"], context=access_key_id))

    async def touch_access_keys(self, last_used: Mapping[str, datetime]) -> None:
        """Record when keys were last used, in one transaction; a later time never goes back."""
        if not last_used:
            return
        rows = [(_to_text(at), key_id, _to_text(at)) for key_id, at in last_used.items()]
        async with self._db.transaction() as conn:
            await conn.executemany(
                "UPDATE access_keys SET last_used_at = ? WHERE access_key_id = ?"
                " AND (last_used_at IS NULL OR last_used_at < ?)",
                rows,
            )

    async def reseal_secrets(self) -> int:
        """Seal every stored secret under the master key's first key; returns how many."""
        self._require_box("re-seal secrets")
        async with self._db.transaction() as conn:
            count = await self._rewrite_secrets(conn, "", lambda b, _, s: b.reseal(s))
        await self._db.scrub()
        return count

    # -- buckets ---------------------------------------------------------------------------

    async def bucket_owner(self, name: str) -> int | None:
        row = await self._db.one("SELECT tenant_id FROM buckets WHERE name = ?", (name,))
        return None if row is None else int(row[0])

    async def get_bucket(self, name: str) -> Bucket | None:
        row = await self._db.one(
            "SELECT name, tenant_id, created_at FROM buckets WHERE name = ?", (name,)
        )
        return None if row is None else _bucket(row)

    async def register_bucket(self, name: str, tenant_id: int, *, now: datetime) -> None:
        """Record the owner; raises BucketTaken if any tenant (the same one too) owns it."""
        async with self._db.transaction() as conn:
            row = await first_row(conn, "SELECT tenant_id FROM buckets WHERE name = ?", (name,))
            if row is not None:
                raise BucketTaken(name, int(row[0]))
            if await first_row(conn, "SELECT 1 FROM tenants WHERE id = ?", (tenant_id,)) is None:
                raise rec.NotFound(f"no tenant with id {tenant_id}")
            await conn.execute(
                "INSERT INTO buckets (name, tenant_id, created_at) VALUES (?, ?, ?)",
                (name, tenant_id, _to_text(now)),
            )
            await self.usage.start_bucket(conn, name, tenant_id, now=now)

    async def unregister_bucket(self, name: str, tenant_id: int, *, now: datetime) -> None:
        """Forget the owner (and stop metering the bucket at `now`); a bucket this tenant does
        not own is left alone."""
        async with self._db.transaction() as conn:
            async with conn.execute(
                "DELETE FROM buckets WHERE name = ? AND tenant_id = ? RETURNING name",
                (name, tenant_id),
            ) as cur:
                gone = [str(r[0]) for r in await cur.fetchall()]
            await self.usage.end_buckets(conn, gone, now=now)

    async def list_buckets(
        self, tenant_id: int, *, after: str = "", limit: int = -1
    ) -> list[Bucket]:
        """The tenant's buckets sorted by name; `after`/`limit` page through them (-1: all)."""
        rows = await self._db.all(
            "SELECT name, tenant_id, created_at FROM buckets WHERE tenant_id = ? AND name > ?"
            " ORDER BY name LIMIT ?",
            (tenant_id, after, limit),
        )
        return [_bucket(r) for r in rows]

    # -- job leases ------------------------------------------------------------------------

    async def try_lease(self, name: str, holder: str, *, now: datetime, until: datetime) -> bool:
        """Take (or extend) the lease on job `name` until `until`, unless another holder's lease
        is still running; True when `holder` has it. One transaction: two processes asking at
        once cannot both win."""
        async with self._db.transaction() as conn:
            row = await first_row(
                conn, "SELECT holder, expires_at FROM job_leases WHERE name = ?", (name,)
            )
            if row is not None and row[0] != holder and _at(row[1]) > now:
                return False
            await conn.execute(
                "INSERT INTO job_leases VALUES (?, ?, ?) ON CONFLICT DO UPDATE"
                " SET holder = excluded.holder, expires_at = excluded.expires_at",
                (name, holder, _to_text(until)),
            )
        return True

    async def release_lease(self, name: str, holder: str) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "DELETE FROM job_leases WHERE name = ? AND holder = ?", (name, holder)
            )

    # -- admin accounts --------------------------------------------------------------------

    async def create_admin(self, username: str, password_hash: str, *, now: datetime) -> None:
        rec.check_admin_username(username)
        async with self._db.transaction() as conn:
            try:
                await conn.execute(
                    "INSERT INTO admins (username, password_hash, created_at) VALUES (?, ?, ?)",
                    (username, password_hash, _to_text(now)),
                )
            except sqlite3.IntegrityError:
                raise rec.Conflict(f"admin {username!r} already exists") from None

    async def admin_password_hash(self, username: str) -> str | None:
        row = await self._db.one("SELECT password_hash FROM admins WHERE username = ?", (username,))
        return None if row is None else str(row[0])
