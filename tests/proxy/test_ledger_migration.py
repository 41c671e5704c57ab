"""Schema migrations and secrets at rest: a schema-1 file with data upgrades, and no access-key
secret is ever readable in the SQLite file's bytes (main file, WAL or shared memory)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from proxy.crypto import MasterKeyError, SecretBox
from proxy.ledger import _MIGRATIONS, Ledger

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
# Schema 1 as released (commit 1bdf61d): secrets in plaintext.
SCHEMA_1 = """
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
PRAGMA user_version=1;
"""
KEYS = {
    "AKIAOLDKEY0000000001": "PlaintextSecretNumberOne+/abcdefghijklmn",
    "AKIAOLDKEY0000000002": "PlaintextSecretNumberTwo+/abcdefghijklmn",
}


def _schema_1_file(path: Path, keys: dict[str, str] = KEYS) -> None:
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA_1)
        db.execute("INSERT INTO tenants VALUES (1, 'acme', '2026-01-02T03:04:05+00:00')")
        db.executemany(
            "INSERT INTO access_keys VALUES (?, 1, ?, '2026-01-02T03:04:05+00:00')",
            keys.items(),
        )
    db.close()


def _file_bytes(path: Path) -> bytes:
    return b"".join(
        p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()
    )


def _box(*keys: str) -> SecretBox:
    return SecretBox.from_text(",".join(keys))


async def test_migration_schema_1_with_data_upgrades_and_keeps_secrets(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    _schema_1_file(path)
    led = await Ledger.open(path, _box(SecretBox.generate_key()))
    try:
        assert await led.schema_version() == len(_MIGRATIONS)
        tenant = await led.get_tenant(1)
        assert tenant is not None
        assert (tenant.name, tenant.status, tenant.billing_email) == ("acme", "active", None)
        assert tenant.storage_quota_bytes is None and tenant.updated_at == tenant.created_at
        for key_id, secret in KEYS.items():
            creds = await led.find_credentials(key_id)
            assert creds is not None and creds.secret == secret and creds.key.status == "active"
        assert await led.list_buckets(1) == []
    finally:
        await led.close()


async def test_migration_schema_1_plaintext_gone_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    _schema_1_file(path)
    assert all(s.encode() in _file_bytes(path) for s in KEYS.values())  # the premise
    led = await Ledger.open(path, _box(SecretBox.generate_key()))
    try:
        data = _file_bytes(path)
        assert not any(s.encode() in data for s in KEYS.values())
    finally:
        await led.close()
    data = _file_bytes(path)
    assert not any(s.encode() in data for s in KEYS.values())


async def test_migration_schema_1_secrets_without_master_key_refused_file_untouched(
    tmp_path: Path,
) -> None:
    path = tmp_path / "l.sqlite3"
    _schema_1_file(path)
    with pytest.raises(MasterKeyError, match=r"BILLFLOW_MASTER_KEY is not set.*plaintext"):
        await Ledger.open(path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (1,)
        assert dict(db.execute("SELECT access_key_id, secret FROM access_keys")) == KEYS
    db.close()


async def test_migration_schema_1_without_keys_needs_no_master_key(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    _schema_1_file(path, keys={})
    led = await Ledger.open(path)
    try:
        assert await led.schema_version() == len(_MIGRATIONS)
    finally:
        await led.close()


async def test_migration_newer_schema_than_known_refused(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(RuntimeError, match="newer than this BillFlow knows"):
        await Ledger.open(path)


async def test_secrets_new_key_plaintext_never_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    led = await Ledger.open(path, _box(SecretBox.generate_key()))
    try:
        tenant = await led.create_tenant("acme", now=NOW)
        creds = await led.create_access_key(tenant.id, now=NOW)
        assert creds.secret.encode() not in _file_bytes(path)
        assert creds.key.access_key_id.encode() in _file_bytes(path)  # the file is readable
    finally:
        await led.close()
    assert creds.secret.encode() not in _file_bytes(path)


async def test_secrets_wrong_master_key_fails_at_open_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    led = await Ledger.open(path, _box(SecretBox.generate_key()))
    tenant = await led.create_tenant("acme", now=NOW)
    await led.create_access_key(tenant.id, now=NOW)
    await led.close()
    with pytest.raises(MasterKeyError, match="BILLFLOW_MASTER_KEY does not open"):
        await Ledger.open(path, _box(SecretBox.generate_key()))


async def test_secrets_rotation_reseals_under_the_new_key(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    old, new = SecretBox.generate_key(), SecretBox.generate_key()
    led = await Ledger.open(path, _box(old))
    tenant = await led.create_tenant("acme", now=NOW)
    creds = await led.create_access_key(tenant.id, now=NOW)
    await led.close()

    led = await Ledger.open(path, _box(new, old))  # step 1: new key first, old still opens
    assert await led.reseal_secrets() == 1
    await led.close()

    led = await Ledger.open(path, _box(new))  # step 2: the old key is gone
    try:
        found = await led.find_credentials(creds.key.access_key_id)
        assert found is not None and found.secret == creds.secret
    finally:
        await led.close()
    with pytest.raises(MasterKeyError):
        await Ledger.open(path, _box(old))
