"""Admin routes for tenants: create, list, get, update, suspend, resume, delete, quota.

Owns: these handlers and their input rules. Does not own: validation of values (the ledger, via
`proxy.records`), error rendering (admin.py), authentication (admin.py's middleware).

A suspension takes effect on the tenant's next S3 request: the S3 app's credential cache is told
to forget every key of the tenant (`on_key_revoked`), so it reads the new status at once.
"""

from __future__ import annotations

from aiohttp import web

from proxy.adminhttp import (
    CLOCK,
    LEDGER,
    ON_BUCKET_OWNER_CHANGED,
    ON_KEY_REVOKED,
    Field,
    forget,
    page,
    page_after_int,
    page_limit,
    path_int,
    query_flag,
    read_body,
    tenant_json,
    tenant_or_404,
)
from proxy.records import TenantStatus

routes = web.RouteTableDef()

TENANT = "/admin/tenants/{tenant_id:[0-9]{1,18}}"
#: The invoice's buyer block; null clears a field (see Ledger.update_tenant for the state rule).
_BILLING = {
    "billing_email": Field(str, nullable=True),
    "billing_name": Field(str, nullable=True),
    "billing_address": Field(str, nullable=True),
    "billing_state": Field(str, nullable=True),
    "gstin": Field(str, nullable=True),
}
_CREATE = {
    "name": Field(str, required=True),
    "storage_quota_bytes": Field(int, nullable=True),
    **_BILLING,
}
_UPDATE = {"name": Field(str), **_BILLING}
_QUOTA = {"storage_quota_bytes": Field(int, required=True)}


@routes.get("/admin/tenants")
async def list_tenants(request: web.Request) -> web.Response:
    limit = page_limit(request)
    tenants = await request.app[LEDGER].list_tenants(after=page_after_int(request), limit=limit + 1)
    return page(tenants, limit, tenant_json, lambda t: t.id)


@routes.post("/admin/tenants")
async def create_tenant(request: web.Request) -> web.Response:
    body = await read_body(request, _CREATE)
    tenant = await request.app[LEDGER].create_tenant(
        body.pop("name"), now=request.app[CLOCK](), **body
    )
    location = f"/admin/tenants/{tenant.id}"
    return web.json_response(tenant_json(tenant), status=201, headers={"Location": location})


@routes.get(TENANT)
async def get_tenant(request: web.Request) -> web.Response:
    return web.json_response(tenant_json(await tenant_or_404(request)))


@routes.patch(TENANT)
async def update_tenant(request: web.Request) -> web.Response:
    """Change the name and/or billing details (null clears one); status and quota have routes.
    A GSTIN sets the billing state to its own; a state must agree with the GSTIN."""
    body = await read_body(request, _UPDATE)
    if not body:
        return web.json_response(tenant_json(await tenant_or_404(request)))
    tenant = await request.app[LEDGER].update_tenant(
        path_int(request, "tenant_id"), now=request.app[CLOCK](), **body
    )
    return web.json_response(tenant_json(tenant))


@routes.delete(TENANT)
async def delete_tenant(request: web.Request) -> web.Response:
    """Refused (409) while the tenant owns buckets, unless `?force=true`: then the buckets stay
    upstream, owned by nobody, until an admin assigns them."""
    removed = await request.app[LEDGER].delete_tenant(
        path_int(request, "tenant_id"),
        now=request.app[CLOCK](),
        force=query_flag(request, "force"),
    )
    forget(request, ON_KEY_REVOKED, removed.access_key_ids)
    forget(request, ON_BUCKET_OWNER_CHANGED, removed.buckets)
    return web.Response(status=204)


async def _set_status(request: web.Request, status: TenantStatus) -> web.Response:
    await read_body(request, {})
    ledger = request.app[LEDGER]
    tenant_id = path_int(request, "tenant_id")
    tenant = await ledger.set_tenant_status(tenant_id, status, now=request.app[CLOCK]())
    keys = await ledger.list_access_keys(tenant_id, limit=-1)
    forget(request, ON_KEY_REVOKED, [k.access_key_id for k in keys])
    return web.json_response(tenant_json(tenant))


@routes.post(TENANT + "/suspend")
async def suspend_tenant(request: web.Request) -> web.Response:
    """Every S3 request of the tenant gets 403 AccessDenied; its data stays untouched."""
    return await _set_status(request, "suspended")


@routes.post(TENANT + "/resume")
async def resume_tenant(request: web.Request) -> web.Response:
    return await _set_status(request, "active")


@routes.put(TENANT + "/quota")
async def set_quota(request: web.Request) -> web.Response:
    body = await read_body(request, _QUOTA)
    tenant = await request.app[LEDGER].set_storage_quota(
        path_int(request, "tenant_id"), body["storage_quota_bytes"], now=request.app[CLOCK]()
    )
    return web.json_response(tenant_json(tenant))


@routes.delete(TENANT + "/quota")
async def clear_quota(request: web.Request) -> web.Response:
    tenant = await request.app[LEDGER].set_storage_quota(
        path_int(request, "tenant_id"), None, now=request.app[CLOCK]()
    )
    return web.json_response(tenant_json(tenant))
