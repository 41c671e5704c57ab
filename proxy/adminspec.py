"""The OpenAPI 3.1 document of the admin API, as data; served at `/admin/openapi.json`.

Owns: the description of every admin route, its inputs, outputs and errors. Does not own the
routes themselves: `tests/proxy/test_adminspec.py` checks that every registered route (method and
path) is described here and that nothing described here is missing from the app.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(description: str, schema: Schema) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> Schema:
    return _json(description, _ref("Error"))


def _page(item: str) -> Schema:
    return {
        "type": "object",
        "required": ["items", "next"],
        "properties": {
            "items": {"type": "array", "items": _ref(item)},
            "next": {
                "type": ["string", "null"],
                "description": "Pass as `after` for the next page; null on the last page.",
            },
        },
    }


def _op(
    op_id: str,
    summary: str,
    responses: dict[str, Schema],
    *,
    body: Schema | None = None,
    params: tuple[str, ...] = (),
    public: bool = False,
) -> Schema:
    op: Schema = {"operationId": op_id, "summary": summary, "responses": dict(responses)}
    if params:
        op["parameters"] = [{"$ref": f"#/components/parameters/{p}"} for p in params]
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
        op["responses"]["400"] = _error("The body is not a JSON object.")
        op["responses"]["422"] = _error("Unknown or missing field, wrong type or bad value.")
    if public:
        op["security"] = []
    else:
        op["responses"]["401"] = {"$ref": "#/components/responses/Unauthorized"}
    return op


_NOT_FOUND = {"404": _error("No tenant (or key) with that id.")}
_BAD_QUERY = {"400": _error("A bad query parameter (InvalidQuery).")}
_TENANT = {"200": _json("The tenant.", _ref("Tenant"))} | _NOT_FOUND
_PAGE = ("limit", "after")
_STR, _INT = {"type": "string"}, {"type": "integer"}
_TIME = {"type": "string", "format": "date-time"}
_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}


def _object(required: list[str], properties: Schema) -> Schema:
    return {
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": False,
    }


# -- usage ------------------------------------------------------------------------------------

_COUNT = {"type": "integer", "minimum": 0}
_GB_DAYS = {
    "type": "string",
    "pattern": "^[0-9]+\\.[0-9]{6}$",
    "description": "byte_seconds / (2^30 * 86400) as a decimal string, 6 places, half up.",
}
_TALLY = {"calls": _COUNT, "billable_calls": _COUNT, "bytes_in": _COUNT, "bytes_out": _COUNT}
_USED = {"byte_seconds": _COUNT, "gb_days": _GB_DAYS}
_WINDOW = {
    "period": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
    "start": _TIME,
    "end": _TIME,
    "as_of": _TIME,
}
_STORED = dict.fromkeys(["bytes", "objects", "object_bytes", "parts", "part_bytes"], _COUNT)
_SPAN = _TALLY | {"start": _TIME, "end": _TIME, "unauthenticated": _ref("Unauthenticated")}


def _usage(properties: Schema) -> Schema:
    """A tenant's report over a billing period: the period's fields plus `properties`."""
    fields = _WINDOW | {"tenant_id": _INT} | properties
    return _object(list(fields), fields)


def _list(item: Schema) -> Schema:
    return {"type": "array", "items": item}


_USAGE_SCHEMAS: dict[str, Schema] = {
    "Tally": _object(list(_TALLY), _TALLY),
    "StoredNow": _object(list(_STORED), _STORED),
    "OperationUsage": _object(
        ["operation", "billing_class", *_TALLY, "status_classes"],
        {
            "operation": _STR,
            "billing_class": _STR,
            **_TALLY,
            "status_classes": {
                "type": "object",
                "description": "Calls per status class; 1xx to 5xx always present.",
                "additionalProperties": _COUNT,
            },
        },
    ),
    "TenantUsage": _usage(
        {
            "operations": _list(_ref("OperationUsage")),
            "billing_classes": {
                "type": "object",
                "description": "write, read and free always present.",
                "additionalProperties": _object(
                    ["calls", "billable_calls"], {"calls": _COUNT, "billable_calls": _COUNT}
                ),
            },
            "totals": _ref("Tally"),
            "storage_now": _object(["buckets", *_STORED], {"buckets": _COUNT, **_STORED}),
            "storage_used": _object(["until", *_USED], {"until": _TIME, **_USED}),
        }
    ),
    "DailyUsage": _object(
        ["tenant_id", "timezone", "as_of", "days"],
        {
            "tenant_id": _INT,
            "timezone": _STR,
            "as_of": _TIME,
            "days": _list(
                _object(
                    ["date", *_TALLY, *_USED],
                    {"date": {**_STR, "format": "date"}, **_TALLY, **_USED},
                )
            ),
        },
    ),
    "BucketUsage": _usage(
        {
            "buckets": _list(
                _object(
                    ["bucket", *_TALLY, *_USED, "storage_now"],
                    {
                        "bucket": _STR,
                        **_TALLY,
                        **_USED,
                        "storage_now": {"oneOf": [_ref("StoredNow"), {"type": "null"}]},
                    },
                )
            )
        }
    ),
    "KeyUsage": _usage(
        {"keys": _list(_object(["access_key_id", *_TALLY], {"access_key_id": _STR, **_TALLY}))}
    ),
    "Unauthenticated": _object(
        ["calls", "bytes_in", "bytes_out", "by_error_code"],
        {
            "calls": _COUNT,
            "bytes_in": _COUNT,
            "bytes_out": _COUNT,
            "by_error_code": {"type": "object", "additionalProperties": _COUNT},
        },
    ),
    "UsageOverview": _object(
        [
            "as_of",
            "tenants",
            "storage_now",
            "today",
            "period",
            "top_tenants_by_calls",
            "top_tenants_by_storage",
        ],
        {
            "as_of": _TIME,
            "tenants": _object(
                ["total", "active", "suspended"],
                {"total": _COUNT, "active": _COUNT, "suspended": _COUNT},
            ),
            "storage_now": _object(["bytes", "buckets"], {"bytes": _COUNT, "buckets": _COUNT}),
            "today": _object(["date", *_SPAN], {"date": {**_STR, "format": "date"}, **_SPAN}),
            "period": _object(["period", *_SPAN], {"period": _WINDOW["period"], **_SPAN}),
            "top_tenants_by_calls": _list(
                _object(
                    ["tenant_id", "name", "calls", "billable_calls"],
                    {
                        "tenant_id": _INT,
                        "name": {"type": ["string", "null"]},
                        "calls": _COUNT,
                        "billable_calls": _COUNT,
                    },
                )
            ),
            "top_tenants_by_storage": _list(
                _object(
                    ["tenant_id", "name", "bytes"],
                    {"tenant_id": _INT, "name": {"type": ["string", "null"]}, "bytes": _COUNT},
                )
            ),
        },
    ),
    "Correction": _object(
        [
            "id",
            "at",
            "bucket",
            "tenant_id",
            "objects_before",
            "bytes_before",
            "objects_after",
            "bytes_after",
        ],
        {
            "id": _INT,
            "at": _TIME,
            "bucket": _STR,
            "tenant_id": _INT,
            "objects_before": _COUNT,
            "bytes_before": _COUNT,
            "objects_after": _COUNT,
            "bytes_after": _COUNT,
        },
    ),
    "CorrectionPage": _page("Correction"),
    "Reconciliation": _object(["corrections"], {"corrections": _list(_ref("Correction"))}),
}

_TENANT_FIELDS = "id name billing_email status storage_quota_bytes created_at updated_at".split()
_SCHEMAS: dict[str, Schema] = {
    "Error": _object(
        ["error"], {"error": _object(["code", "message"], {"code": _STR, "message": _STR})}
    ),
    "Health": _object(["status", "schema_version"], {"status": _STR, "schema_version": _INT}),
    "Login": _object(["username", "password"], {"username": _STR, "password": _STR}),
    "Token": _object(
        ["token", "token_type", "expires_at"],
        {"token": _STR, "token_type": {"const": "Bearer"}, "expires_at": _TIME},
    ),
    "Tenant": _object(
        _TENANT_FIELDS,
        {
            "id": _INT,
            "name": _STR,
            "billing_email": {"type": ["string", "null"], "format": "email"},
            "status": {"enum": ["active", "suspended"]},
            "storage_quota_bytes": {"type": ["integer", "null"], "minimum": 0},
            "created_at": _TIME,
            "updated_at": _TIME,
        },
    ),
    "TenantCreate": _object(
        ["name"],
        {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "billing_email": {"type": ["string", "null"], "format": "email", "maxLength": 254},
            "storage_quota_bytes": {"type": ["integer", "null"], "minimum": 0},
        },
    ),
    "TenantUpdate": _object(
        [],
        {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "billing_email": {"type": ["string", "null"], "format": "email", "maxLength": 254},
        },
    ),
    "Quota": _object(["storage_quota_bytes"], {"storage_quota_bytes": {**_INT, "minimum": 0}}),
    "AccessKey": _object(
        ["access_key_id", "tenant_id", "status", "created_at", "revoked_at", "last_used_at"],
        {
            "access_key_id": {"type": "string", "pattern": "^[A-Z0-9]{20}$"},
            "tenant_id": _INT,
            "status": {"enum": ["active", "revoked"]},
            "created_at": _TIME,
            "revoked_at": _TIME_OR_NULL,
            "last_used_at": _TIME_OR_NULL,
        },
    ),
    "NewAccessKey": {
        "description": "An access key with its secret; the only time the secret is shown.",
        "allOf": [
            {"$ref": "#/components/schemas/AccessKey"},
            {
                "type": "object",
                "required": ["secret_access_key"],
                "properties": {"secret_access_key": {"type": "string", "minLength": 40}},
            },
        ],
    },
    "Bucket": _object(
        ["name", "tenant_id", "created_at"],
        {"name": _STR, "tenant_id": _INT, "created_at": _TIME},
    ),
    "BucketOwner": _object(["tenant_id"], {"tenant_id": _INT}),
    "TenantPage": _page("Tenant"),
    "AccessKeyPage": _page("AccessKey"),
    "BucketPage": _page("Bucket"),
    **_USAGE_SCHEMAS,
}

_PARAMETERS: dict[str, Schema] = {
    "tenant_id": {"name": "tenant_id", "in": "path", "required": True, "schema": _INT},
    "access_key_id": {
        "name": "access_key_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^[A-Z0-9]{20}$"},
    },
    "bucket": {"name": "bucket", "in": "path", "required": True, "schema": _STR},
    "limit": {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
    },
    "after": {
        "name": "after",
        "in": "query",
        "description": "The `next` value of the previous page (keyset pagination).",
        "schema": _STR,
    },
    "period": {
        "name": "period",
        "in": "query",
        "description": "A billing month, YYYY-MM, in the billing timezone; default: the current.",
        "schema": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
    },
    "days": {
        "name": "days",
        "in": "query",
        "description": "How many billing-timezone days, ending today.",
        "schema": {"type": "integer", "minimum": 1, "maximum": 366, "default": 30},
    },
    "tenant_filter": {
        "name": "tenant_id",
        "in": "query",
        "description": "Only this tenant's (a deleted tenant's too).",
        "schema": _INT,
    },
    "force": {
        "name": "force",
        "in": "query",
        "description": "Delete even though the tenant owns buckets; they become unowned.",
        "schema": {"type": "boolean", "default": False},
    },
}

_T = "/admin/tenants/{tenant_id}"

PATHS: dict[str, dict[str, Schema]] = {
    "/healthz": {
        "get": _op(
            "health",
            "Liveness: the ledger answers.",
            {"200": _json("Up.", _ref("Health"))},
            public=True,
        ),
    },
    "/metrics": {
        "get": _op(
            "metrics",
            "Prometheus text format: S3 requests by operation and status, bytes in and out, "
            "request latency, upstream errors, meter flushes, stored bytes per tenant.",
            {
                "200": {
                    "description": "Prometheus text exposition format 0.0.4.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
            public=True,
        ),
    },
    "/admin/openapi.json": {
        "get": _op("openapi", "This document.", {"200": _json("OpenAPI 3.1.", {})}, public=True),
    },
    "/admin/login": {
        "post": _op(
            "login",
            "Exchange a user name and password for a bearer token.",
            {
                "200": _json("A token.", _ref("Token")),
                "401": _error("Unknown user name or wrong password (one answer for both)."),
            },
            body=_ref("Login"),
            public=True,
        ),
    },
    "/admin/tenants": {
        "get": _op(
            "listTenants",
            "Tenants by id.",
            {"200": _json("A page.", _ref("TenantPage"))},
            params=_PAGE,
        ),
        "post": _op(
            "createTenant",
            "Create a tenant.",
            {"201": _json("Created.", _ref("Tenant")), "409": _error("The name is taken.")},
            body=_ref("TenantCreate"),
        ),
    },
    _T: {
        "get": _op("getTenant", "One tenant.", _TENANT, params=("tenant_id",)),
        "patch": _op(
            "updateTenant",
            "Change name and/or billing email (null clears it).",
            _TENANT | {"409": _error("The name is taken.")},
            body=_ref("TenantUpdate"),
            params=("tenant_id",),
        ),
        "delete": _op(
            "deleteTenant",
            "Delete a tenant and its access keys.",
            {"204": {"description": "Deleted."}, "409": _error("The tenant owns buckets.")}
            | _NOT_FOUND,
            params=("tenant_id", "force"),
        ),
    },
    _T + "/suspend": {
        "post": _op(
            "suspendTenant",
            "Refuse every S3 request of the tenant (403 AccessDenied).",
            _TENANT,
            params=("tenant_id",),
        ),
    },
    _T + "/resume": {
        "post": _op("resumeTenant", "Undo a suspension.", _TENANT, params=("tenant_id",)),
    },
    _T + "/quota": {
        "put": _op(
            "setQuota",
            "Set the storage quota in bytes.",
            _TENANT,
            body=_ref("Quota"),
            params=("tenant_id",),
        ),
        "delete": _op("clearQuota", "Remove the storage quota.", _TENANT, params=("tenant_id",)),
    },
    _T + "/keys": {
        "get": _op(
            "listAccessKeys",
            "The tenant's access keys by id; never their secrets.",
            {"200": _json("A page.", _ref("AccessKeyPage"))} | _NOT_FOUND,
            params=("tenant_id", *_PAGE),
        ),
        "post": _op(
            "createAccessKey",
            "Issue an access key; the secret is in this response only.",
            {"201": _json("Issued.", _ref("NewAccessKey"))} | _NOT_FOUND,
            params=("tenant_id",),
        ),
    },
    _T + "/usage": {
        "get": _op(
            "getTenantUsage",
            "A billing period's calls per operation and billing class, storage now, and "
            "storage kept so far (the whole period once it has ended). 5xx is never billable.",
            {"200": _json("The usage.", _ref("TenantUsage"))} | _BAD_QUERY | _NOT_FOUND,
            params=("tenant_id", "period"),
        ),
    },
    _T + "/usage/daily": {
        "get": _op(
            "getTenantDailyUsage",
            "Calls and storage per billing-timezone day, oldest first, ending today; "
            "days without usage show zeros.",
            {"200": _json("The days.", _ref("DailyUsage"))} | _BAD_QUERY | _NOT_FOUND,
            params=("tenant_id", "days"),
        ),
    },
    _T + "/usage/buckets": {
        "get": _op(
            "getTenantBucketUsage",
            "A billing period's calls and storage per bucket, with storage now while metered.",
            {"200": _json("Per bucket.", _ref("BucketUsage"))} | _BAD_QUERY | _NOT_FOUND,
            params=("tenant_id", "period"),
        ),
    },
    _T + "/usage/keys": {
        "get": _op(
            "getTenantKeyUsage",
            "A billing period's calls per access key.",
            {"200": _json("Per key.", _ref("KeyUsage"))} | _BAD_QUERY | _NOT_FOUND,
            params=("tenant_id", "period"),
        ),
    },
    "/admin/usage/overview": {
        "get": _op(
            "getUsageOverview",
            "The platform today and this billing period: tenants, storage, calls, "
            "unauthenticated requests, top tenants by calls and by storage.",
            {"200": _json("The overview.", _ref("UsageOverview"))},
        ),
    },
    "/admin/reconciliations": {
        "get": _op(
            "listReconciliations",
            "Storage corrections made by reconciliation, oldest first.",
            {"200": _json("A page.", _ref("CorrectionPage"))} | _BAD_QUERY,
            params=("tenant_filter", *_PAGE),
        ),
        "post": _op(
            "runReconciliation",
            "Reconcile every metered bucket with the upstream now.",
            {
                "200": _json("The corrections made.", _ref("Reconciliation")),
                "503": _error("This gateway has no reconciler (ReconciliationUnavailable)."),
            },
        ),
    },
    "/admin/keys/{access_key_id}/revoke": {
        "post": _op(
            "revokeAccessKey",
            "Revoke a key; the next request signed with it fails. Idempotent.",
            {"200": _json("The revoked key.", _ref("AccessKey"))} | _NOT_FOUND,
            params=("access_key_id",),
        ),
    },
    _T + "/buckets": {
        "get": _op(
            "listBuckets",
            "The tenant's buckets by name.",
            {"200": _json("A page.", _ref("BucketPage"))} | _NOT_FOUND,
            params=("tenant_id", *_PAGE),
        ),
    },
    "/admin/buckets/{bucket}/owner": {
        "put": _op(
            "assignBucket",
            "Give a bucket that no tenant owns (e.g. made upstream directly) to a tenant.",
            {
                "200": _json("Already that tenant's.", _ref("Bucket")),
                "201": _json("Assigned.", _ref("Bucket")),
                "409": _error("Another tenant owns it."),
            }
            | _NOT_FOUND,
            body=_ref("BucketOwner"),
            params=("bucket",),
        ),
    },
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "BillFlow admin API",
        "version": "1",
        "description": "Tenants, access keys, bucket owners and metered usage. Errors are "
        '`{"error": {"code", "message"}}`. Lists page with `limit` and `after`.',
    },
    "security": [{"bearer": []}],
    "paths": PATHS,
    "components": {
        "schemas": _SCHEMAS,
        "parameters": _PARAMETERS,
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        "responses": {
            "Unauthorized": _error("Missing, expired, tampered or wrong-audience token."),
        },
    },
}
