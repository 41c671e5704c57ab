"""The admin application, on its own listener so tenants never reach it.

Owns: composing the admin app (routes from `admintenants`, `adminaccess`, `adminusage` and
`adminbilling`), the bearer-token check in front of `/admin/...`, `POST /admin/login`,
`/healthz`, `/admin/openapi.json`, and rendering every admin error as JSON
`{"error": {"code", "message"}}`: this middleware is the only place they are built. Does
not own: token cryptography (`adminauth`), password hashing (`crypto`), or anything
tenant-facing.

Unauthenticated: `/healthz`, `/metrics` (Prometheus scrapers rarely carry tokens; the admin
listener is the operator's network only), `/admin/login`, `/admin/openapi.json`. Everything
else under `/admin/` needs `Authorization: Bearer <token>`; a missing or bad token gets 401
before routing, so unknown paths do not leak which routes exist. As in the S3 app, aiohttp
answers malformed HTTP itself before any middleware runs (plain-text 400s).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web

from proxy import adminaccess, adminauth, adminbilling, admintenants, adminusage
from proxy.adminbilling import CLOSE_PERIOD, ClosePeriod
from proxy.adminhttp import (
    CLOCK,
    CONFIG,
    LEDGER,
    ON_BUCKET_OWNER_CHANGED,
    ON_KEY_REVOKED,
    AdminError,
    Clock,
    Field,
    Forget,
    iso,
    read_body,
)
from proxy.adminspec import OPENAPI
from proxy.adminusage import RECONCILE, Reconcile
from proxy.config import Config
from proxy.crypto import MasterKeyError, check_password
from proxy.ledger import Ledger
from proxy.log import admin_logger
from proxy.metrics import CONTENT_TYPE, Metrics
from proxy.records import (
    BucketTaken,
    Conflict,
    InvalidValue,
    LedgerError,
    NotFound,
    TenantOwnsBuckets,
)

__all__ = ["LEDGER", "create_app"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC_PATHS = frozenset({"/healthz", "/metrics", "/admin/login", "/admin/openapi.json"})
METRICS = web.AppKey("metrics", Metrics)
#: scrypt takes 128 MiB per check; a login flood must not take the process's memory with it.
PASSWORD_CHECKS = web.AppKey("password_checks", asyncio.Semaphore)
#: The admin user name of an authenticated request (the token's `sub`).
USER = web.RequestKey("admin_user", str)
#: Most specific first; the first match decides.
_LEDGER_ERRORS: tuple[tuple[type[LedgerError], int, str], ...] = (
    (TenantOwnsBuckets, 409, "TenantOwnsBuckets"),
    (BucketTaken, 409, "BucketOwned"),
    (Conflict, 409, "Conflict"),
    (NotFound, 404, "NotFound"),
    (InvalidValue, 422, "InvalidField"),
    (LedgerError, 400, "BadRequest"),
)
_CHALLENGE = 'Bearer realm="billflow-admin"'


def json_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"error": {"code": code, "message": message}}
    return web.json_response(body, status=status, headers=headers)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every outcome is JSON and one log line: user, method, path, status."""
    response: web.StreamResponse | None = None
    status = 499  # the client went away (cancelled) unless set below
    try:
        response = await handler(request)
    except AdminError as e:
        response = json_error(e.status, e.code, e.message, _challenge(e))
    except LedgerError as e:
        status, code = next((s, c) for kind, s, c in _LEDGER_ERRORS if isinstance(e, kind))
        response = json_error(status, code, str(e))
    except MasterKeyError as e:
        admin_logger.error("master key: %s", e)
        response = json_error(500, "MasterKeyUnavailable", str(e))
    except web.HTTPException as e:
        if e.status < 400:
            status = e.status
            raise
        response = json_error(e.status, e.reason.replace(" ", ""), e.text or e.reason)
    except Exception:
        admin_logger.exception("unhandled error in %s %s", request.method, request.path)
        response = json_error(500, "InternalError", "internal error; see the server log")
    finally:
        status = response.status if response is not None else status
        user = request.get(USER, "-")
        admin_logger.info("%s %s %s %d", user, request.method, request.path, status)
    return response


def _challenge(e: AdminError) -> dict[str, str] | None:
    """RFC 6750 section 3: a challenge with every 401 of the bearer check."""
    if e.code == "MissingToken":
        return {"WWW-Authenticate": _CHALLENGE}
    if e.code == "InvalidToken":
        return {"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'}
    return None


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in PUBLIC_PATHS or not request.path.startswith("/admin/"):
        return await handler(request)
    header = request.headers.get("Authorization")
    if header is None:
        raise AdminError(401, "MissingToken", "an Authorization: Bearer token is required")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token or " " in token.strip():
        raise AdminError(401, "InvalidToken", "expected an Authorization: Bearer <token> header")
    try:
        user = adminauth.verify(request.app[CONFIG].admin_tokens, token.strip())
    except adminauth.TokenError as e:
        raise AdminError(401, "InvalidToken", str(e)) from None
    if await request.app[LEDGER].admin_password_hash(user) is None:
        raise AdminError(401, "InvalidToken", "the token's user no longer exists")
    request[USER] = user
    return await handler(request)


async def healthz(request: web.Request) -> web.Response:
    """200 when the ledger answers; load balancers and `scripts/run` poll it."""
    version = await request.app[LEDGER].schema_version()
    return web.json_response({"status": "ok", "schema_version": version})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format: requests, bytes, latency, upstream errors, the meter's flushes
    and each tenant's stored bytes."""
    body = await request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)


_LOGIN = {"username": Field(str, required=True), "password": Field(str, required=True)}


async def login(request: web.Request) -> web.Response:
    """A token for a user name and password. An unknown user and a wrong password get the same
    answer after the same work (a dummy hash is checked), so user names do not leak."""
    body = await read_body(request, _LOGIN)
    stored = await request.app[LEDGER].admin_password_hash(body["username"])
    async with request.app[PASSWORD_CHECKS]:
        ok = await asyncio.to_thread(check_password, body["password"], stored)
    if not ok:
        raise AdminError(401, "InvalidCredentials", "unknown user name or wrong password")
    token, expires_at = adminauth.mint(
        request.app[CONFIG].admin_tokens, body["username"], now=request.app[CLOCK]()
    )
    body = {"token": token, "token_type": "Bearer", "expires_at": iso(expires_at)}
    return web.json_response(body, headers={"Cache-Control": "no-store"})


def create_app(
    cfg: Config,
    ledger: Ledger,
    on_key_revoked: Forget | None = None,
    *,
    on_bucket_owner_changed: Forget | None = None,
    clock: Clock | None = None,
    metrics_: Metrics | None = None,
    reconcile: Reconcile | None = None,
    close_period: ClosePeriod | None = None,
) -> web.Application:
    """The admin app; needs the JWT secret (ConfigError naming it otherwise).

    The hooks let the S3 side's caches see admin changes on the next request:
    `on_key_revoked(access_key_id)` for each key whose cached credentials went stale (revoked,
    or its tenant suspended, resumed or deleted); `on_bucket_owner_changed(bucket)` for each
    bucket assigned to a tenant or left unowned by a forced tenant delete. `reconcile()` runs a
    storage reconciliation for `POST /admin/reconciliations` (503 without it);
    `close_period(period)` closes a billing period for `POST /admin/periods/{period}/close`
    (503 without it)."""
    cfg.admin_tokens.require_secret()
    app = web.Application(middlewares=[json_errors, authenticate])
    app[CONFIG] = cfg
    app[LEDGER] = ledger
    app[CLOCK] = clock or (lambda: datetime.now(UTC))
    app[PASSWORD_CHECKS] = asyncio.Semaphore(2)
    if on_key_revoked is not None:
        app[ON_KEY_REVOKED] = on_key_revoked
    if on_bucket_owner_changed is not None:
        app[ON_BUCKET_OWNER_CHANGED] = on_bucket_owner_changed
    if reconcile is not None:
        app[RECONCILE] = reconcile
    if close_period is not None:
        app[CLOSE_PERIOD] = close_period
    app[METRICS] = metrics_ or Metrics()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/admin/openapi.json", openapi)
    app.router.add_post("/admin/login", login)
    app.add_routes(admintenants.routes)
    app.add_routes(adminaccess.routes)
    app.add_routes(adminusage.routes)
    app.add_routes(adminbilling.routes)
    return app
