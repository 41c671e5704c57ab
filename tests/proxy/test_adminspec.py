"""The OpenAPI document stays true: every route is in it, it names no route the app lacks."""

from __future__ import annotations

from pathlib import Path

from adminkit import AdminAPI, admin_config
from openapi_spec_validator import validate

from proxy import admin
from proxy.adminspec import OPENAPI
from proxy.ledger import Ledger


async def _routes(tmp_path: Path) -> set[tuple[str, str]]:
    cfg = admin_config(tmp_path)
    ledger = await Ledger.open(cfg.ledger_path)
    try:
        app = admin.create_app(cfg, ledger)
    finally:
        await ledger.close()
    return {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }


async def test_adminspec_every_registered_route_documented(tmp_path: Path) -> None:
    documented = {(m, path) for path, ops in OPENAPI["paths"].items() for m in ops}
    assert await _routes(tmp_path) - documented == set()


async def test_adminspec_every_documented_route_registered(tmp_path: Path) -> None:
    documented = {(m, path) for path, ops in OPENAPI["paths"].items() for m in ops}
    assert documented - await _routes(tmp_path) == set()


def test_adminspec_is_a_valid_openapi_31_document() -> None:
    validate(OPENAPI)


def test_adminspec_operation_ids_unique() -> None:
    ids = [op["operationId"] for ops in OPENAPI["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


async def test_adminspec_served_without_token(api: AdminAPI) -> None:
    resp = await api.client.get("/admin/openapi.json")
    assert resp.status == 200 and await resp.json() == OPENAPI
