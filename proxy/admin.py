"""The admin application, on its own listener so tenants never reach it.

Owns: `/healthz` for now (the JWT-protected `/admin/...` API and `/metrics` come with later issues),
and rendering admin errors as JSON `{"error": {"code", "message"}}` — the only place they are built.
Does not own: anything tenant-facing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from proxy.ledger import Ledger

LEDGER = web.AppKey("ledger", Ledger)


def json_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


@web.middleware
async def json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        return json_error(e.status, e.reason.replace(" ", ""), e.text or e.reason)


async def healthz(request: web.Request) -> web.Response:
    """200 when the ledger answers; load balancers and `scripts/run` poll it."""
    version = await request.app[LEDGER].schema_version()
    return web.json_response({"status": "ok", "schema_version": version})


def create_app(ledger: Ledger) -> web.Application:
    app = web.Application(middlewares=[json_errors])
    app[LEDGER] = ledger
    app.router.add_get("/healthz", healthz)
    return app
