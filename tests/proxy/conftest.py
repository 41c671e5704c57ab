"""Fixtures for the admin API tests: a ledger with a master key, an admin account, a client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from adminkit import ADMIN_PASSWORD, ADMIN_USER, AdminAPI, Client, admin_config

from proxy import admin, adminauth
from proxy.crypto import SecretBox, hash_password
from proxy.ledger import Ledger


@pytest.fixture
def master_key() -> str:
    return SecretBox.generate_key()


@pytest.fixture
async def api(
    tmp_path: Path, master_key: str, aiohttp_client: Callable[..., Awaitable[Client]]
) -> AsyncIterator[AdminAPI]:
    cfg = admin_config(tmp_path, master_key)
    ledger = await Ledger.open(cfg.ledger_path, SecretBox.from_text(master_key))
    # A cheap scrypt cost keeps the suite fast; the parameters travel with the hash.
    await ledger.create_admin(
        ADMIN_USER, hash_password(ADMIN_PASSWORD, log2_n=10), now=datetime.now(UTC)
    )
    forgotten: list[str] = []
    buckets: list[str] = []
    app = admin.create_app(cfg, ledger, forgotten.append, on_bucket_owner_changed=buckets.append)
    client = await aiohttp_client(app)
    token, _ = adminauth.mint(cfg.admin_tokens, ADMIN_USER, now=datetime.now(UTC))
    yield AdminAPI(client, ledger, cfg, token, forgotten, buckets)
    await ledger.close()
