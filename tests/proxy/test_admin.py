"""The admin application: /healthz, login, the bearer-token gate, and JSON errors everywhere."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from adminkit import ADMIN_PASSWORD, ADMIN_USER, JWT_SECRET, AdminAPI, admin_config

from proxy import admin, config
from proxy.ledger import Ledger


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    claims = {"iss": "billflow", "aud": "billflow-admin", "sub": ADMIN_USER, "iat": now}
    claims["exp"] = now + 600
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _tampered() -> str:
    header, _, signature = jwt.encode(_claims(), JWT_SECRET, algorithm="HS256").split(".")
    return ".".join((header, _b64(_claims(sub="root")), signature))


def _alg_none() -> str:
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims())}."


def _hs(**overrides: Any) -> str:
    return jwt.encode(_claims(**overrides), JWT_SECRET, algorithm="HS256")


BAD_AUTHORIZATION = {
    "expired": f"Bearer {_hs(iat=1_000_000, exp=1_000_600)}",
    "tampered-signature": f"Bearer {_tampered()}",
    "alg-none": f"Bearer {_alg_none()}",
    "wrong-audience": f"Bearer {_hs(aud='someone-else')}",
    "wrong-issuer": f"Bearer {_hs(iss='someone-else')}",
    "other-secret": "Bearer " + jwt.encode(_claims(), "y" * 48, algorithm="HS256"),
    "no-exp-claim": f"Bearer {_hs(exp=None)}",
    "no-sub-claim": f"Bearer {_hs(sub=None)}",
    "unknown-user": f"Bearer {_hs(sub='ghost')}",
    "not-a-jwt": "Bearer not.a.token",
    "basic-scheme": "Basic b3BzOnB3",
    "bearer-without-token": "Bearer ",
    "two-tokens": f"Bearer {_hs()} {_hs()}",
}


async def test_admin_healthz_without_token_answers_ok(api: AdminAPI) -> None:
    resp = await api.client.get("/healthz")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ok" and body["schema_version"] >= 2


async def test_admin_unknown_route_with_token_json_404(api: AdminAPI) -> None:
    resp = await api.call("GET", "/admin/nope")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "NotFound"


async def test_admin_unknown_route_without_token_401(api: AdminAPI) -> None:
    """Route existence is not told to anyone without a token."""
    resp = await api.client.get("/admin/nope")
    assert resp.status == 401


async def test_admin_wrong_method_json_405(api: AdminAPI) -> None:
    resp = await api.client.post("/healthz")
    assert resp.status == 405
    assert (await resp.json())["error"]["code"] == "MethodNotAllowed"


async def test_admin_missing_token_401_with_bearer_challenge(api: AdminAPI) -> None:
    resp = await api.client.get("/admin/tenants")
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="billflow-admin"'
    assert (await resp.json())["error"]["code"] == "MissingToken"


@pytest.mark.parametrize("authorization", BAD_AUTHORIZATION.values(), ids=BAD_AUTHORIZATION)
async def test_admin_bad_token_401_invalid_token(api: AdminAPI, authorization: str) -> None:
    resp = await api.client.get("/admin/tenants", headers={"Authorization": authorization})
    assert resp.status == 401
    assert "invalid_token" in resp.headers["WWW-Authenticate"]
    body = await resp.json()
    assert body["error"]["code"] == "InvalidToken" and body["error"]["message"]


async def test_admin_valid_token_lowercase_scheme_accepted(api: AdminAPI) -> None:
    resp = await api.client.get("/admin/tenants", headers={"Authorization": f"bearer {_hs()}"})
    assert resp.status == 200


async def test_admin_login_right_password_token_opens_the_api(api: AdminAPI) -> None:
    resp = await api.client.post(
        "/admin/login", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD}
    )
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    body = await resp.json()
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert body["token_type"] == "Bearer"
    assert timedelta(minutes=59) < expires_at - datetime.now(UTC) <= timedelta(hours=1)
    listed = await api.client.get(
        "/admin/tenants", headers={"Authorization": f"Bearer {body['token']}"}
    )
    assert listed.status == 200


@pytest.mark.parametrize(
    "credentials",
    [
        {"username": ADMIN_USER, "password": "wrong password"},
        {"username": "ghost", "password": ADMIN_PASSWORD},
        {"username": "", "password": ""},
    ],
    ids=["wrong-password", "unknown-user", "empty"],
)
async def test_admin_login_failure_one_answer_for_every_cause(
    api: AdminAPI, credentials: dict[str, str]
) -> None:
    resp = await api.client.post("/admin/login", json=credentials)
    assert resp.status == 401
    assert await resp.json() == {
        "error": {"code": "InvalidCredentials", "message": "unknown user name or wrong password"}
    }


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "MalformedJSON"),
        (b'["ops", "pw"]', 400, "MalformedJSON"),
        (b'{"username": "ops"}', 422, "MissingField"),
        (b'{"username": "ops", "password": 5}', 422, "InvalidField"),
        (b'{"username": "ops", "password": "x", "otp": "1"}', 422, "UnknownField"),
    ],
)
async def test_admin_login_bad_body_refused(
    api: AdminAPI, body: bytes, status: int, code: str
) -> None:
    resp = await api.client.post("/admin/login", data=body)
    assert resp.status == status
    assert (await resp.json())["error"]["code"] == code


async def test_admin_create_app_without_jwt_secret_refused(tmp_path: Path) -> None:
    cfg = admin_config(tmp_path, jwt_secret="")
    ledger = await Ledger.open(cfg.ledger_path)
    try:
        with pytest.raises(config.ConfigError, match=config.ENV_JWT_SECRET):
            admin.create_app(cfg, ledger)
    finally:
        await ledger.close()


async def test_admin_create_app_short_jwt_secret_refused(tmp_path: Path) -> None:
    cfg = admin_config(tmp_path, jwt_secret="short")
    ledger = await Ledger.open(cfg.ledger_path)
    try:
        with pytest.raises(config.ConfigError, match="too short"):
            admin.create_app(cfg, ledger)
    finally:
        await ledger.close()


async def test_admin_key_route_without_master_key_json_500(api: AdminAPI, tmp_path: Path) -> None:
    """A misconfigured server says what is missing, as JSON, instead of a bare 500."""
    api.ledger._box = None
    tenant = await api.tenant()
    resp = await api.call("POST", f"/admin/tenants/{tenant['id']}/keys")
    assert resp.status == 500
    body = await resp.json()
    assert body["error"]["code"] == "MasterKeyUnavailable"
    assert config.ENV_MASTER_KEY in body["error"]["message"]
