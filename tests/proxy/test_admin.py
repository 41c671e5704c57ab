"""The admin application: /healthz, and JSON errors for everything it does not know."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient

from proxy import admin
from proxy.ledger import Ledger

Client = TestClient[web.Request, web.Application]


async def _client(tmp_path: Path, aiohttp_client: Callable[..., Awaitable[Client]]) -> Client:
    ledger = await Ledger.open(tmp_path / "l.sqlite3")
    app = admin.create_app(ledger)

    async def close(app: web.Application) -> None:
        await ledger.close()

    app.on_cleanup.append(close)
    return await aiohttp_client(app)


async def test_admin_healthz_ledger_answers_ok(
    tmp_path: Path, aiohttp_client: Callable[..., Awaitable[Client]]
) -> None:
    client = await _client(tmp_path, aiohttp_client)
    resp = await client.get("/healthz")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ok" and body["schema_version"] >= 1


async def test_admin_unknown_route_json_404(
    tmp_path: Path, aiohttp_client: Callable[..., Awaitable[Client]]
) -> None:
    client = await _client(tmp_path, aiohttp_client)
    resp = await client.get("/nope")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "NotFound"


async def test_admin_wrong_method_json_405(
    tmp_path: Path, aiohttp_client: Callable[..., Awaitable[Client]]
) -> None:
    client = await _client(tmp_path, aiohttp_client)
    resp = await client.post("/healthz")
    assert resp.status == 405
    assert (await resp.json())["error"]["code"] == "MethodNotAllowed"
