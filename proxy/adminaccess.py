"""Admin routes for what a tenant holds: its access keys and its buckets.

Owns: issuing keys (the secret is in the creation response and nowhere else, ever), listing and
revoking them, listing a tenant's buckets, and assigning an unowned bucket to a tenant (buckets
that exist upstream but were never created through BillFlow belong to nobody until then).
Does not own: the upstream (an assignment does not check that the bucket exists there; it
reserves the name for the tenant), error rendering or authentication (admin.py).

A revocation takes effect on the next request: the S3 app's credential cache forgets the key.
"""

from __future__ import annotations

import re

from aiohttp import web

from proxy.adminhttp import (
    CLOCK,
    LEDGER,
    ON_BUCKET_OWNER_CHANGED,
    ON_KEY_REVOKED,
    AdminError,
    Field,
    bucket_json,
    forget,
    key_json,
    page,
    page_limit,
    path_int,
    read_body,
    tenant_or_404,
)
from proxy.admintenants import TENANT
from proxy.ledger import BucketTaken

routes = web.RouteTableDef()

# S3's general purpose bucket naming rules, the subset that makes a name unambiguous here;
# the S3 path applies the full rules before any bucket reaches the ledger.
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_KEY_ID = "{access_key_id:[A-Z0-9]{20}}"


@routes.get(TENANT + "/keys")
async def list_keys(request: web.Request) -> web.Response:
    """Newest state of each key, secrets never included; ordered by access key id."""
    limit = page_limit(request)
    tenant_id = (await tenant_or_404(request)).id
    keys = await request.app[LEDGER].list_access_keys(
        tenant_id, after=request.query.get("after", ""), limit=limit + 1
    )
    return page(keys, limit, key_json, lambda k: k.access_key_id)


@routes.post(TENANT + "/keys")
async def create_key(request: web.Request) -> web.Response:
    """201 with `secret_access_key`: shown this once; BillFlow keeps it only encrypted."""
    await read_body(request, {})
    creds = await request.app[LEDGER].create_access_key(
        path_int(request, "tenant_id"), now=request.app[CLOCK]()
    )
    body = key_json(creds.key) | {"secret_access_key": creds.secret}
    return web.json_response(body, status=201, headers={"Cache-Control": "no-store"})


@routes.post("/admin/keys/" + _KEY_ID + "/revoke")
async def revoke_key(request: web.Request) -> web.Response:
    """Idempotent: a revoked key stays revoked, with its first revocation time."""
    await read_body(request, {})
    key_id = request.match_info["access_key_id"]
    key = await request.app[LEDGER].revoke_access_key(key_id, now=request.app[CLOCK]())
    forget(request, ON_KEY_REVOKED, [key_id])
    return web.json_response(key_json(key))


@routes.get(TENANT + "/buckets")
async def list_buckets(request: web.Request) -> web.Response:
    limit = page_limit(request)
    tenant_id = (await tenant_or_404(request)).id
    buckets = await request.app[LEDGER].list_buckets(
        tenant_id, after=request.query.get("after", ""), limit=limit + 1
    )
    return page(buckets, limit, bucket_json, lambda b: b.name)


@routes.put("/admin/buckets/{bucket}/owner")
async def assign_bucket(request: web.Request) -> web.Response:
    """Give an unowned bucket to a tenant: 201. Already that tenant's: 200 (PUT is idempotent).
    Another tenant's: 409; ownership never moves silently."""
    name = request.match_info["bucket"]
    body = await read_body(request, {"tenant_id": Field(int, required=True)})
    if not _BUCKET_NAME.fullmatch(name) or ".." in name:
        raise AdminError(422, "InvalidField", f"{name!r} is not a valid S3 bucket name")
    ledger = request.app[LEDGER]
    tenant_id: int = body["tenant_id"]
    try:
        await ledger.register_bucket(name, tenant_id, now=request.app[CLOCK]())
        forget(request, ON_BUCKET_OWNER_CHANGED, [name])
        status = 201
    except BucketTaken as e:
        if e.owner_tenant_id != tenant_id:
            raise AdminError(
                409, "BucketOwned", f"bucket {name!r} belongs to tenant {e.owner_tenant_id}"
            ) from None
        status = 200
    bucket = await ledger.get_bucket(name)
    assert bucket is not None
    return web.json_response(bucket_json(bucket), status=status)
