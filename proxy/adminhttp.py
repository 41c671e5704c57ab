"""What every admin route shares: app keys, AdminError, body and query parsing, JSON shapes.

Owns: the `AdminError` handlers raise (admin.py's middleware is the one place that renders it,
and the ledger's errors, as `{"error": {"code", "message"}}`), strict JSON bodies (an object;
unknown fields, missing fields and wrong types refused), keyset pagination parameters, and the
JSON form of tenants, access keys and buckets. Does not own: routes or authentication.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from aiohttp import web

from proxy.config import Config
from proxy.ledger import AccessKey, Bucket, Ledger, Tenant

Clock = Callable[[], datetime]
Forget = Callable[[str], None]

LEDGER = web.AppKey("ledger", Ledger)
CONFIG = web.AppKey("config", Config)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
#: Called with each access key id whose cached credentials are stale (see admin.create_app).
ON_KEY_REVOKED: web.AppKey[Forget] = web.AppKey("on_key_revoked")
#: Called with each bucket name whose cached owner is stale (see admin.create_app).
ON_BUCKET_OWNER_CHANGED: web.AppKey[Forget] = web.AppKey("on_bucket_owner_changed")

DEFAULT_PAGE, MAX_PAGE = 100, 1000
T = TypeVar("T")


class AdminError(Exception):
    """An admin request refused with `status`; `code` is a stable CamelCase word."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Field:
    kind: type[str] | type[int] | type[dict[str, Any]]
    required: bool = False
    nullable: bool = False


async def read_body(request: web.Request, fields: Mapping[str, Field]) -> dict[str, Any]:
    """The JSON object in the body, checked against `fields`; no body reads as `{}`."""
    raw = await request.read()
    try:
        data: Any = json.loads(raw) if raw.strip() else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise AdminError(400, "MalformedJSON", "the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise AdminError(400, "MalformedJSON", "the request body must be a JSON object")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise AdminError(422, "UnknownField", f"unknown field(s): {', '.join(unknown)}")
    for name, spec in fields.items():
        if name not in data:
            if spec.required:
                raise AdminError(422, "MissingField", f"field {name!r} is required")
            continue
        value = data[name]
        if value is None and spec.nullable:
            continue
        # bool is an int subclass in Python, but `true` is not a byte count.
        if isinstance(value, bool) or not isinstance(value, spec.kind):
            kind = {str: "a string", int: "an integer"}.get(spec.kind, "an object")
            nullable = " or null" if spec.nullable else ""
            raise AdminError(422, "InvalidField", f"field {name!r} must be {kind}{nullable}")
        if isinstance(value, int) and not -(2**63) <= value < 2**63:
            raise AdminError(422, "InvalidField", f"field {name!r} is out of range")
    return data


def path_int(request: web.Request, name: str) -> int:
    """A numeric path segment; the route pattern already limits it to 1-18 digits."""
    return int(request.match_info[name])


async def tenant_or_404(request: web.Request) -> Tenant:
    """The tenant named by the `tenant_id` path segment; 404 NotFound when there is none."""
    tenant_id = path_int(request, "tenant_id")
    tenant = await request.app[LEDGER].get_tenant(tenant_id)
    if tenant is None:
        raise AdminError(404, "NotFound", f"no tenant with id {tenant_id}")
    return tenant


def query_flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "false")
    if value not in ("true", "false"):
        raise AdminError(400, "InvalidQuery", f"{name} must be true or false, got {value!r}")
    return value == "true"


def _digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() also takes "²", which int() then refuses."""
    return text.isascii() and text.isdigit()


def page_limit(request: web.Request) -> int:
    text = request.query.get("limit", str(DEFAULT_PAGE))
    if not _digits(text) or not 1 <= int(text) <= MAX_PAGE:
        raise AdminError(400, "InvalidQuery", f"limit must be 1 to {MAX_PAGE}, got {text!r}")
    return int(text)


def page_after_int(request: web.Request) -> int:
    text = request.query.get("after", "0")
    if not _digits(text) or len(text) > 18:
        raise AdminError(400, "InvalidQuery", f"after must be an id from `next`, got {text!r}")
    return int(text)


def page(items: Sequence[T], limit: int, render: Callable[[T], dict[str, Any]],
         cursor: Callable[[T], str | int]) -> web.Response:  # fmt: skip
    """`items` holds up to limit + 1 rows: one more than shown says there is a next page."""
    shown = items[:limit]
    more = len(items) > limit
    body = {"items": [render(i) for i in shown], "next": str(cursor(shown[-1])) if more else None}
    return web.json_response(body)


def iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat().replace("+00:00", "Z")


def tenant_json(t: Tenant) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "billing_email": t.billing_email,
        "status": t.status,
        "storage_quota_bytes": t.storage_quota_bytes,
        "billing_name": t.billing_name,
        "billing_address": t.billing_address,
        "billing_state": t.billing_state,
        "gstin": t.gstin,
        "created_at": iso(t.created_at),
        "updated_at": iso(t.updated_at),
    }


def key_json(k: AccessKey) -> dict[str, Any]:
    """Never the secret: it is shown once, by the create route itself."""
    return {
        "access_key_id": k.access_key_id,
        "tenant_id": k.tenant_id,
        "status": k.status,
        "created_at": iso(k.created_at),
        "revoked_at": iso(k.revoked_at),
        "last_used_at": iso(k.last_used_at),
    }


def bucket_json(b: Bucket) -> dict[str, Any]:
    return {"name": b.name, "tenant_id": b.tenant_id, "created_at": iso(b.created_at)}


def forget(request: web.Request, hook: web.AppKey[Forget], names: Sequence[str]) -> None:
    """Tell the S3 side's caches (if it gave a hook) that these entries changed."""
    call = request.app.get(hook)
    if call is not None:
        for name in names:
            call(name)
