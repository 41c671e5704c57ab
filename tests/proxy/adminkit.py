"""Shared pieces of the admin API tests: constants, config, and a signed-in client wrapper."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

from proxy import config
from proxy.ledger import Ledger

Client = TestClient[web.Request, web.Application]
JWT_SECRET = "test-jwt-secret-" + "x" * 32
ADMIN_USER, ADMIN_PASSWORD = "ops", "correct horse battery staple"


def admin_config(
    tmp_path: Path, master_key: str = "", jwt_secret: str = JWT_SECRET
) -> config.Config:
    env = {config.ENV_JWT_SECRET: jwt_secret, config.ENV_MASTER_KEY: master_key}
    return config.parse({"ledger": {"path": "l.sqlite3"}}, env, base_dir=tmp_path)


@dataclass
class AdminAPI:
    """A running admin app with a signed-in operator; `forgotten` and `forgotten_buckets`
    record what the cache hooks were told."""

    client: Client
    ledger: Ledger
    cfg: config.Config
    token: str
    forgotten: list[str] = field(default_factory=list)
    forgotten_buckets: list[str] = field(default_factory=list)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def call(self, method: str, path: str, body: Any = None, **kw: Any) -> ClientResponse:
        headers = self.headers() | kw.pop("headers", {})
        return await self.client.request(method, path, json=body, headers=headers, **kw)

    async def tenant(self, name: str = "acme", **fields: Any) -> dict[str, Any]:
        resp = await self.call("POST", "/admin/tenants", {"name": name, **fields})
        assert resp.status == 201, await resp.text()
        body: dict[str, Any] = await resp.json()
        return body
