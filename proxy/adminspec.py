"""The OpenAPI 3.1 document of the admin API, as data; served at `/admin/openapi.json`.

Owns: the assembled document (`OPENAPI`), and the schemas, parameters and paths of health,
metrics, login, tenants, access keys and bucket owners. Usage and reconciliation live in
`adminspec_usage`, invoices, estimates, tariffs, periods and the outbox in `adminspec_billing`,
the builders in `adminspec_kit`. Does not own the routes themselves:
`tests/proxy/test_adminspec.py` checks that every registered route (method and path) is
described here and that nothing described here is missing from the app.
"""

from __future__ import annotations

from typing import Any

from proxy import adminspec_billing, adminspec_usage
from proxy.adminspec_kit import (
    INT,
    NOT_FOUND,
    PAGE,
    STR,
    TENANT_PATH,
    TIME,
    TIME_OR_NULL,
    Schema,
    error,
    json_response,
    obj,
    op,
    page,
    ref,
)

_TENANT = {"200": json_response("The tenant.", ref("Tenant"))} | NOT_FOUND

_TENANT_FIELDS = (
    "id name billing_email status storage_quota_bytes billing_name billing_address"
    " billing_state gstin created_at updated_at"
).split()
_STATE_CODE = {"type": "string", "pattern": "^[0-9]{2}$", "description": "GST state code."}
_GSTIN = {"type": "string", "pattern": "^[0-9]{2}[A-Z]{5}[0-9]{4}[A-Z][1-9A-Z]Z[0-9A-Z]$"}
#: What the invoice's buyer block says; writable on create and update, null clears.
_BILLING_DETAILS: Schema = {
    "billing_email": {"type": ["string", "null"], "format": "email", "maxLength": 254},
    "billing_name": {
        "type": ["string", "null"],
        "minLength": 1,
        "maxLength": 200,
        "description": "The buyer's name on invoices; null: the tenant name.",
    },
    "billing_address": {
        "type": ["string", "null"],
        "minLength": 1,
        "maxLength": 500,
        "description": "Lines separated by \\n.",
    },
    "billing_state": {
        **_STATE_CODE,
        "type": ["string", "null"],
        "description": "GST state code (place of supply). Must be the GSTIN's state when "
        "there is a GSTIN; a GSTIN given alone sets it.",
    },
    "gstin": {
        "type": ["string", "null"],
        "description": "15 characters: state code, PAN, entity, Z, check character (GSTN mod "
        "36). Normalised to upper case.",
    },
}
_SCHEMAS: dict[str, Schema] = {
    "Error": obj(["error"], {"error": obj(["code", "message"], {"code": STR, "message": STR})}),
    "Health": obj(["status", "schema_version"], {"status": STR, "schema_version": INT}),
    "Login": obj(["username", "password"], {"username": STR, "password": STR}),
    "Token": obj(
        ["token", "token_type", "expires_at"],
        {"token": STR, "token_type": {"const": "Bearer"}, "expires_at": TIME},
    ),
    "Tenant": obj(
        _TENANT_FIELDS,
        {
            "id": INT,
            "name": STR,
            "billing_email": {"type": ["string", "null"], "format": "email"},
            "status": {"enum": ["active", "suspended"]},
            "storage_quota_bytes": {"type": ["integer", "null"], "minimum": 0},
            "billing_name": {"type": ["string", "null"]},
            "billing_address": {"type": ["string", "null"]},
            "billing_state": {**_STATE_CODE, "type": ["string", "null"]},
            "gstin": {**_GSTIN, "type": ["string", "null"]},
            "created_at": TIME,
            "updated_at": TIME,
        },
    ),
    "TenantCreate": obj(
        ["name"],
        {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "storage_quota_bytes": {"type": ["integer", "null"], "minimum": 0},
            **_BILLING_DETAILS,
        },
    ),
    "TenantUpdate": obj(
        [],
        {"name": {"type": "string", "minLength": 1, "maxLength": 200}, **_BILLING_DETAILS},
    ),
    "Quota": obj(["storage_quota_bytes"], {"storage_quota_bytes": {**INT, "minimum": 0}}),
    "AccessKey": obj(
        ["access_key_id", "tenant_id", "status", "created_at", "revoked_at", "last_used_at"],
        {
            "access_key_id": {"type": "string", "pattern": "^[A-Z0-9]{20}$"},
            "tenant_id": INT,
            "status": {"enum": ["active", "revoked"]},
            "created_at": TIME,
            "revoked_at": TIME_OR_NULL,
            "last_used_at": TIME_OR_NULL,
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
    "Bucket": obj(
        ["name", "tenant_id", "created_at"],
        {"name": STR, "tenant_id": INT, "created_at": TIME},
    ),
    "BucketOwner": obj(["tenant_id"], {"tenant_id": INT}),
    "TenantPage": page("Tenant"),
    "AccessKeyPage": page("AccessKey"),
    "BucketPage": page("Bucket"),
    **adminspec_usage.SCHEMAS,
    **adminspec_billing.SCHEMAS,
}

_PARAMETERS: dict[str, Schema] = {
    "tenant_id": {"name": "tenant_id", "in": "path", "required": True, "schema": INT},
    "access_key_id": {
        "name": "access_key_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^[A-Z0-9]{20}$"},
    },
    "bucket": {"name": "bucket", "in": "path", "required": True, "schema": STR},
    "limit": {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
    },
    "after": {
        "name": "after",
        "in": "query",
        "description": "The `next` value of the previous page (keyset pagination).",
        "schema": STR,
    },
    **adminspec_usage.PARAMETERS,
    **adminspec_billing.PARAMETERS,
    "force": {
        "name": "force",
        "in": "query",
        "description": "Delete even though the tenant owns buckets; they become unowned.",
        "schema": {"type": "boolean", "default": False},
    },
}

PATHS: dict[str, dict[str, Schema]] = {
    "/healthz": {
        "get": op(
            "health",
            "Liveness: the ledger answers.",
            {"200": json_response("Up.", ref("Health"))},
            public=True,
        ),
    },
    "/metrics": {
        "get": op(
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
        "get": op(
            "openapi", "This document.", {"200": json_response("OpenAPI 3.1.", {})}, public=True
        ),
    },
    "/admin/login": {
        "post": op(
            "login",
            "Exchange a user name and password for a bearer token.",
            {
                "200": json_response("A token.", ref("Token")),
                "401": error("Unknown user name or wrong password (one answer for both)."),
            },
            body=ref("Login"),
            public=True,
        ),
    },
    "/admin/tenants": {
        "get": op(
            "listTenants",
            "Tenants by id.",
            {"200": json_response("A page.", ref("TenantPage"))},
            params=PAGE,
        ),
        "post": op(
            "createTenant",
            "Create a tenant.",
            {"201": json_response("Created.", ref("Tenant")), "409": error("The name is taken.")},
            body=ref("TenantCreate"),
        ),
    },
    TENANT_PATH: {
        "get": op("getTenant", "One tenant.", _TENANT, params=("tenant_id",)),
        "patch": op(
            "updateTenant",
            "Change name and/or billing email (null clears it).",
            _TENANT | {"409": error("The name is taken.")},
            body=ref("TenantUpdate"),
            params=("tenant_id",),
        ),
        "delete": op(
            "deleteTenant",
            "Delete a tenant and its access keys.",
            {"204": {"description": "Deleted."}, "409": error("The tenant owns buckets.")}
            | NOT_FOUND,
            params=("tenant_id", "force"),
        ),
    },
    TENANT_PATH + "/suspend": {
        "post": op(
            "suspendTenant",
            "Refuse every S3 request of the tenant (403 AccessDenied).",
            _TENANT,
            params=("tenant_id",),
        ),
    },
    TENANT_PATH + "/resume": {
        "post": op("resumeTenant", "Undo a suspension.", _TENANT, params=("tenant_id",)),
    },
    TENANT_PATH + "/quota": {
        "put": op(
            "setQuota",
            "Set the storage quota in bytes.",
            _TENANT,
            body=ref("Quota"),
            params=("tenant_id",),
        ),
        "delete": op("clearQuota", "Remove the storage quota.", _TENANT, params=("tenant_id",)),
    },
    TENANT_PATH + "/keys": {
        "get": op(
            "listAccessKeys",
            "The tenant's access keys by id; never their secrets.",
            {"200": json_response("A page.", ref("AccessKeyPage"))} | NOT_FOUND,
            params=("tenant_id", *PAGE),
        ),
        "post": op(
            "createAccessKey",
            "Issue an access key; the secret is in this response only.",
            {"201": json_response("Issued.", ref("NewAccessKey"))} | NOT_FOUND,
            params=("tenant_id",),
        ),
    },
    **adminspec_usage.PATHS,
    **adminspec_billing.PATHS,
    "/admin/keys/{access_key_id}/revoke": {
        "post": op(
            "revokeAccessKey",
            "Revoke a key; the next request signed with it fails. Idempotent.",
            {"200": json_response("The revoked key.", ref("AccessKey"))} | NOT_FOUND,
            params=("access_key_id",),
        ),
    },
    TENANT_PATH + "/buckets": {
        "get": op(
            "listBuckets",
            "The tenant's buckets by name.",
            {"200": json_response("A page.", ref("BucketPage"))} | NOT_FOUND,
            params=("tenant_id", *PAGE),
        ),
    },
    "/admin/buckets/{bucket}/owner": {
        "put": op(
            "assignBucket",
            "Give a bucket that no tenant owns (e.g. made upstream directly) to a tenant.",
            {
                "200": json_response("Already that tenant's.", ref("Bucket")),
                "201": json_response("Assigned.", ref("Bucket")),
                "409": error("Another tenant owns it."),
            }
            | NOT_FOUND,
            body=ref("BucketOwner"),
            params=("bucket",),
        ),
    },
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "BillFlow admin API",
        "version": "1",
        "description": "Tenants, access keys, bucket owners, metered usage, invoices, "
        "period closes and the mail outbox. Errors are "
        '`{"error": {"code", "message"}}`. Lists page with `limit` and `after`.',
    },
    "security": [{"bearer": []}],
    "paths": PATHS,
    "components": {
        "schemas": _SCHEMAS,
        "parameters": _PARAMETERS,
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        "responses": {
            "Unauthorized": error("Missing, expired, tampered or wrong-audience token."),
        },
    },
}
