"""The access-key cache: answers from memory within its TTL, re-reads the ledger after it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from proxy import ledger as ledger_module
from proxy.keycache import KeyCache
from proxy.ledger import Ledger

NOW = datetime(2026, 11, 25, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    led = await Ledger.open(tmp_path / "l.sqlite3")
    await led.create_tenant("acme", now=NOW)
    yield led
    await led.close()


async def _issue(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue the key id 'KKKK…' through the ledger, as another process would."""
    monkeypatch.setattr(ledger_module, "new_access_key_id", lambda: "K" * 20)
    await ledger.create_access_key("acme", now=NOW)


async def test_keycache_unknown_key_cached_until_ttl_then_reread(ledger: Ledger) -> None:
    clock = Clock()
    cache = KeyCache(ledger, 2.0, monotonic=clock)
    creds = await ledger.create_access_key("acme", now=NOW)
    assert await cache.find("NOPE0000000000000000") is None
    assert (await cache.find(creds.key.access_key_id)) == creds
    clock.t += 1.9
    assert (await cache.find(creds.key.access_key_id)) == creds


async def test_keycache_new_key_seen_after_ttl(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    cache = KeyCache(ledger, 2.0, monotonic=clock)
    assert await cache.find("K" * 20) is None
    await _issue(ledger, monkeypatch)  # a key that appears later (another process issued it)
    assert await cache.find("K" * 20) is None  # still the cached miss
    clock.t += 2.1
    found = await cache.find("K" * 20)
    assert found is not None and found.key.tenant_name == "acme"


async def test_keycache_forget_takes_effect_on_next_lookup(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = KeyCache(ledger, 60.0, monotonic=Clock())
    assert await cache.find("K" * 20) is None
    await _issue(ledger, monkeypatch)
    cache.forget("K" * 20)
    assert await cache.find("K" * 20) is not None


async def test_keycache_zero_ttl_always_reads_ledger(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = KeyCache(ledger, 0.0, monotonic=Clock())
    assert await cache.find("K" * 20) is None
    await _issue(ledger, monkeypatch)
    assert await cache.find("K" * 20) is not None
