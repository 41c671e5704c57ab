"""The key store: tenants and access keys in SQLite, behind the ledger's async interface."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from proxy.ledger import Ledger, LedgerError

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@pytest.fixture
async def ledger(tmp_path: Path) -> Ledger:
    led = await Ledger.open(tmp_path / "l.sqlite3")
    yield led  # type: ignore[misc]
    await led.close()


async def test_ledger_key_create_returns_aws_shaped_credentials(ledger: Ledger) -> None:
    await ledger.create_tenant("acme", now=NOW)
    creds = await ledger.create_access_key("acme", now=NOW)
    assert re.fullmatch(r"[A-Z0-9]{20}", creds.key.access_key_id)
    assert re.fullmatch(r"[A-Za-z0-9+/]{40}", creds.secret)
    assert creds.secret not in repr(creds)


async def test_ledger_find_credentials_known_key_returns_secret_and_tenant(ledger: Ledger) -> None:
    await ledger.create_tenant("acme", now=NOW)
    creds = await ledger.create_access_key("acme", now=NOW)
    found = await ledger.find_credentials(creds.key.access_key_id)
    assert found is not None
    assert (found.secret, found.key.tenant_name) == (creds.secret, "acme")
    assert found.key.created_at == NOW


async def test_ledger_find_credentials_unknown_key_returns_none(ledger: Ledger) -> None:
    assert await ledger.find_credentials("AKIAUNKNOWN000000000") is None


async def test_ledger_duplicate_tenant_refused(ledger: Ledger) -> None:
    await ledger.create_tenant("acme", now=NOW)
    with pytest.raises(LedgerError, match="already exists"):
        await ledger.create_tenant("acme", now=NOW)


async def test_ledger_key_for_unknown_tenant_refused(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="no tenant"):
        await ledger.create_access_key("ghost", now=NOW)


async def test_ledger_times_stored_in_utc(ledger: Ledger) -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    tenant = await ledger.create_tenant("acme", now=NOW.astimezone(ist))
    fetched = await ledger.get_tenant("acme")
    assert fetched is not None and fetched.created_at == NOW and tenant.created_at.tzinfo == UTC


async def test_ledger_naive_time_refused(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="naive"):
        await ledger.create_tenant("acme", now=datetime(2026, 1, 1))


async def test_ledger_reopen_keeps_data_and_schema_version(tmp_path: Path) -> None:
    led = await Ledger.open(tmp_path / "l.sqlite3")
    await led.create_tenant("acme", now=NOW)
    version = await led.schema_version()
    await led.close()
    led = await Ledger.open(tmp_path / "l.sqlite3")
    try:
        assert await led.get_tenant("acme") is not None
        assert await led.schema_version() == version >= 1
    finally:
        await led.close()
