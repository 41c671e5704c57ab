"""The direction of dependency (STYLE.md): a wrong import arrow fails here, found by an ast walk."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STDLIB = sys.stdlib_module_names

#: proxy module -> the proxy modules it may import. Leaves import stdlib plus s3errors only.
ALLOWED_INTERNAL: dict[str, set[str]] = {
    "s3errors": set(),
    "addressing": {"s3errors"},
    "payloadmodes": set(),
    "sigv4": {"s3errors", "payloadmodes"},
    "chunksig": {"s3errors", "sigv4"},
    "checksums": {"s3errors"},
    "payload": {"s3errors", "checksums", "payloadmodes"},
    "configtable": set(),
    "config_billing": {"configtable"},
    "config": {"configtable", "config_billing"},
    "log": set(),
    "records": set(),
    "crypto": {"config"},
    "database": set(),
    "routing": set(),
    "usage": set(),
    "storagefold": {"usage"},
    "ledger_usage": {"database", "storagefold", "usage"},
    "ledger_billing": {"database", "records"},
    "ledger": {"config", "crypto", "database", "ledger_billing", "ledger_usage", "records"},
    "meter": {"log", "routing", "usage"},
    "metrics": set(),
    "inflight": set(),
    "reconcile": {"addressing", "forward", "ledger", "log", "s3xml", "sigv4", "usage"},
    "scheduler": {"ledger", "log"},
    "closing": {"config_billing", "ledger", "ledger_billing", "log"},
    "outbox": {"config_billing", "ledger", "ledger_billing", "log"},
    "alerts": {"config_billing", "ledger"},
    "jobs": {
        "alerts",
        "closing",
        "config",
        "forward",
        "ledger",
        "meter",
        "outbox",
        "reconcile",
        "records",
        "scheduler",
        "usage",
    },
    "effects": {"authz", "bodies", "s3errors", "s3xml", "usage"},
    "upsign": {"sigv4"},
    "forward": {"config", "s3errors", "sigv4", "upsign"},
    "cache": set(),
    "exchange": set(),
    "bodies": {"payload", "authn", "exchange", "forward", "log", "s3errors"},
    "isolation": {"authz", "addressing", "cache", "ledger", "s3errors", "s3xml"},
    "sigv2": {"s3errors"},
    "authn": {"chunksig", "sigv2", "sigv4", "ledger", "s3errors"},
    "authz": {"s3errors", "addressing"},
    "s3xml": set(),
    "s3app": {
        "addressing",
        "payload",
        "sigv4",
        "config",
        "forward",
        "cache",
        "authn",
        "authz",
        "bodies",
        "exchange",
        "isolation",
        "s3xml",
        "ledger",
        "log",
        "meter",
        "metrics",
        "routing",
        "effects",
        "inflight",
        "usage",
        "s3errors",
    },
    "adminauth": {"config"},
    "adminspec_kit": set(),
    "adminspec_usage": {"adminspec_kit"},
    "adminspec_billing": {"adminspec_kit"},
    "adminspec": {"adminspec_billing", "adminspec_kit", "adminspec_usage"},
    "adminhttp": {"config", "ledger"},
    "admintenants": {"adminhttp", "ledger", "records"},
    "adminaccess": {"adminhttp", "admintenants", "ledger"},
    "usagereport": {"routing", "usage"},
    "adminusage": {"adminhttp", "admintenants", "ledger", "usage", "usagereport"},
    "adminbilling": {"adminhttp", "admintenants", "closing", "ledger_billing", "log"},
    "admin": {
        "adminaccess",
        "adminauth",
        "adminbilling",
        "adminhttp",
        "adminspec",
        "admintenants",
        "adminusage",
        "config",
        "crypto",
        "ledger",
        "log",
        "metrics",
        "records",
    },
    "__main__": {
        "admin",
        "adminauth",
        "s3app",
        "config",
        "closing",
        "crypto",
        "jobs",
        "ledger",
        "log",
        "meter",
        "metrics",
        "outbox",
        "records",
    },
    "__init__": set(),
}
#: Third-party packages each module may use (leaves: none, save the checksum library).
ALLOWED_EXTERNAL: dict[str, set[str]] = {
    "checksums": {"awscrt"},
    "crypto": {"cryptography"},
    "database": {"aiosqlite"},
    "ledger": {"aiosqlite"},
    "ledger_usage": {"aiosqlite"},
    "routing": {"botocore"},
    "metrics": {"prometheus_client"},
    "scheduler": {"apscheduler"},
    "adminauth": {"jwt"},
    "adminhttp": {"aiohttp"},
    "admintenants": {"aiohttp"},
    "adminaccess": {"aiohttp"},
    "adminusage": {"aiohttp"},
    "adminbilling": {"aiohttp"},
    "forward": {"aiohttp", "yarl"},
    "s3app": {"aiohttp"},
    "bodies": {"aiohttp"},
    "admin": {"aiohttp"},
    "__main__": {"aiohttp"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module in {"proxy", "billing"}:
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
            else:
                names.add(node.module)
    return names


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).glob("*.py"))


@pytest.mark.parametrize("path", _modules("proxy"), ids=lambda p: p.stem)
def test_proxy_module_imports_follow_the_layering(path: Path) -> None:
    module = path.stem
    assert module in ALLOWED_INTERNAL, f"proxy/{path.name} is not placed in the layering table"
    for name in _imports(path):
        top = name.split(".")[0]
        if top == "billing":
            continue  # proxy may use billing; billing may never use proxy
        if top == "proxy":
            dep = name.split(".")[1]
            assert dep in ALLOWED_INTERNAL[module], f"proxy.{module} must not import proxy.{dep}"
        elif top not in STDLIB and top != "__future__":
            allowed = ALLOWED_EXTERNAL.get(module, set())
            assert top in allowed, f"proxy.{module} must not import {top}"


@pytest.mark.parametrize("path", _modules("billing"), ids=lambda p: p.stem)
def test_billing_module_imports_stdlib_and_reportlab_only(path: Path) -> None:
    for name in _imports(path):
        top = name.split(".")[0]
        assert top in STDLIB or top in {"__future__", "reportlab", "billing"}, (
            f"billing.{path.stem} must not import {top}"
        )
