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

# -- billing ----------------------------------------------------------------------------------

_RUPEES = {"type": "string", "pattern": "^[0-9]+\\.[0-9]{2}$", "description": "Rupees."}
_DECIMAL = {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?(E[+-]?[0-9]+)?$"}
_PERIOD = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}
_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_OR_NULL = {"type": ["string", "null"]}
_INVOICE: Schema = {
    "id": _INT,
    "number": {"type": "string", "description": "PREFIX/FY/SEQUENCE, e.g. BF/26-27/000042."},
    "tenant_id": _INT,
    "period": _PERIOD,
    "issued_at": _TIME,
    "total": _RUPEES,
    "status": {"enum": ["issued", "paid", "void"]},
    "paid_at": _TIME_OR_NULL,
    "void_reason": _OR_NULL,
    "pdf_sha256": {**_SHA256, "type": ["string", "null"]},
    "links": _object(["self", "pdf"], {"self": _STR, "pdf": {"type": ["string", "null"]}}),
}
_LINE: Schema = dict.fromkeys(["used", "free", "billable", "rate", "amount"], _DECIMAL)
_LINE |= {"description": _STR, "sac": _STR, "unit": {"enum": ["GB-day", "call", "GB"]}}
_TAX: Schema = {
    "name": {"enum": ["CGST", "SGST", "IGST"]},
    "rate_percent": _DECIMAL,
    "amount": _RUPEES,
}
_ESTIMATE: Schema = {
    "tenant_id": _INT,
    "period": _PERIOD,
    "start": _TIME,
    "end": _TIME,
    "as_of": {**_TIME, "description": "Usage counted until here (the period's end once over)."},
    "usage": _object(
        ["byte_seconds", "billable_calls", "bytes_in", "bytes_out"],
        {
            "byte_seconds": _COUNT,
            "billable_calls": {
                "type": "object",
                "description": "Per billing class; 5xx answers are never billable.",
                "additionalProperties": _COUNT,
            },
            "bytes_in": _COUNT,
            "bytes_out": _COUNT,
        },
    ),
    "lines": _list(_object(list(_LINE), _LINE)),
    "taxable_value": _RUPEES,
    "taxes": _list(_object(list(_TAX), _TAX)),
    "total": _RUPEES,
    "place_of_supply": {"type": "string", "description": 'State code; "" with tax off.'},
    "tax_invoice": {"type": "boolean"},
}
_MAIL: Schema = {
    "id": _INT,
    "kind": {"type": "string", "description": "invoice, alert, ..."},
    "ref": {"type": "string", "description": "What it is about: an invoice's number, ..."},
    "recipients": _list(_STR),
    "subject": _STR,
    "status": {"enum": ["pending", "sent"]},
    "attempts": _COUNT,
    "next_attempt_at": _TIME,
    "last_error": _OR_NULL,
    "created_at": _TIME,
    "sent_at": _TIME_OR_NULL,
}
_CLOSE: Schema = {
    "period": _PERIOD,
    "invoices": {**_COUNT, "description": "The period's invoices after the close."},
    "issued": {**_COUNT, "description": "Issued by this close."},
    "already_closed": {"type": "boolean"},
}

_BILLING_SCHEMAS: dict[str, Schema] = {
    "Invoice": _object(list(_INVOICE), _INVOICE),
    "InvoiceDetail": _object(
        [*_INVOICE, "document"],
        {
            **_INVOICE,
            "document": {
                "type": "object",
                "description": "The invoice as issued, never changed after: number, issued_at, "
                "period, seller, buyer, place_of_supply, lines, taxable_value, taxes, total, "
                "tax_invoice, daily.",
            },
        },
    ),
    "InvoicePage": _page("Invoice"),
    "VoidInvoice": _object(
        ["reason"], {"reason": {"type": "string", "minLength": 1, "maxLength": 500}}
    ),
    "Estimate": _object(list(_ESTIMATE), _ESTIMATE),
    "Mail": _object(list(_MAIL), _MAIL),
    "MailPage": _page("Mail"),
    "CloseReport": _object(list(_CLOSE), _CLOSE),
    "ClosedPeriods": _object(["closed"], {"closed": _list(_PERIOD)}),
    "TariffOverrides": _object(
        [],
        {
            "free_storage_gb": _DECIMAL,
            "free_calls": _COUNT,
            "inr_per_gb_day": _DECIMAL,
            "inr_per_gb_egress": _DECIMAL,
            "inr_per_call": {
                "type": "object",
                "description": "Billing class -> rupees per billable call.",
                "additionalProperties": _DECIMAL,
            },
        },
    ),
    "Tariff": _object(
        ["overrides", "effective"],
        {
            "overrides": _ref("TariffOverrides"),
            "effective": {
                "type": "object",
                "description": "The tariff the tenant's next invoice uses: the operator's, with "
                "the overrides applied (tax and SAC are always the operator's).",
            },
        },
    ),
}

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
            "billing_name": {"type": ["string", "null"]},
            "billing_address": {"type": ["string", "null"]},
            "billing_state": {**_STATE_CODE, "type": ["string", "null"]},
            "gstin": {**_GSTIN, "type": ["string", "null"]},
            "created_at": _TIME,
            "updated_at": _TIME,
        },
    ),
    "TenantCreate": _object(
        ["name"],
        {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "storage_quota_bytes": {"type": ["integer", "null"], "minimum": 0},
            **_BILLING_DETAILS,
        },
    ),
    "TenantUpdate": _object(
        [],
        {"name": {"type": "string", "minLength": 1, "maxLength": 200}, **_BILLING_DETAILS},
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
    **_BILLING_SCHEMAS,
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
    "invoice_id": {"name": "invoice_id", "in": "path", "required": True, "schema": _INT},
    "mail_id": {"name": "mail_id", "in": "path", "required": True, "schema": _INT},
    "period_path": {
        "name": "period",
        "in": "path",
        "required": True,
        "description": "A billing month, YYYY-MM, in the billing timezone.",
        "schema": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
    },
    "invoice_status": {
        "name": "status",
        "in": "query",
        "schema": {"enum": ["issued", "paid", "void"]},
    },
    "mail_status": {"name": "status", "in": "query", "schema": {"enum": ["pending", "sent"]}},
    "mail_kind": {
        "name": "kind",
        "in": "query",
        "schema": {"type": "string", "pattern": "^[a-z0-9_-]{1,40}$"},
    },
    "force": {
        "name": "force",
        "in": "query",
        "description": "Delete even though the tenant owns buckets; they become unowned.",
        "schema": {"type": "boolean", "default": False},
    },
}

_T = "/admin/tenants/{tenant_id}"
_I = "/admin/invoices/{invoice_id}"
_NO_INVOICE = {"404": _error("No invoice with that id.")}

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
    _T + "/estimate": {
        "get": _op(
            "getTenantEstimate",
            "What the tenant's invoice for a period would say if it closed now: usage so far, "
            "priced as the close prices it (a deleted tenant's too).",
            {"200": _json("The estimate.", _ref("Estimate"))} | _BAD_QUERY | _NOT_FOUND,
            params=("tenant_id", "period"),
        ),
    },
    _T + "/tariff": {
        "get": _op(
            "getTenantTariff",
            "The tenant's tariff overrides and the tariff its next invoice uses.",
            {"200": _json("The tariff.", _ref("Tariff"))} | _NOT_FOUND,
            params=("tenant_id",),
        ),
        "put": _op(
            "setTenantTariff",
            "Replace the tenant's overrides: prices and free tier, money as decimal strings. "
            "Issued invoices keep their prices.",
            {"200": _json("The tariff.", _ref("Tariff"))} | _NOT_FOUND,
            body=_ref("TariffOverrides"),
            params=("tenant_id",),
        ),
        "delete": _op(
            "clearTenantTariff",
            "Back to the operator's tariff.",
            {"200": _json("The tariff.", _ref("Tariff"))} | _NOT_FOUND,
            params=("tenant_id",),
        ),
    },
    "/admin/invoices": {
        "get": _op(
            "listInvoices",
            "Invoices by id.",
            {"200": _json("A page.", _ref("InvoicePage"))} | _BAD_QUERY,
            params=("tenant_filter", "period", "invoice_status", *_PAGE),
        ),
    },
    _I: {
        "get": _op(
            "getInvoice",
            "One invoice with its document as issued.",
            {"200": _json("The invoice.", _ref("InvoiceDetail"))} | _NO_INVOICE,
            params=("invoice_id",),
        ),
    },
    _I + "/pdf": {
        "get": _op(
            "getInvoicePdf",
            "The invoice's PDF, checked against the SHA-256 recorded when it was written.",
            {
                "200": {
                    "description": "The PDF, as an attachment named after the number.",
                    "content": {"application/pdf": {"schema": {"type": "string"}}},
                },
                "404": _error("No such invoice (NotFound), or no PDF yet (PdfNotReady)."),
                "500": _error(
                    "The stored file changed since it was written (PdfChecksumMismatch) or "
                    "cannot be read (PdfMissing)."
                ),
            },
            params=("invoice_id",),
        ),
    },
    _I + "/paid": {
        "post": _op(
            "markInvoicePaid",
            "Record the invoice as paid.",
            {"200": _json("The invoice.", _ref("Invoice"))}
            | _NO_INVOICE
            | {"409": _error("It is paid or void already.")},
            params=("invoice_id",),
        ),
    },
    _I + "/void": {
        "post": _op(
            "voidInvoice",
            "Void the invoice with a reason; its number stays used.",
            {"200": _json("The invoice.", _ref("Invoice"))}
            | _NO_INVOICE
            | {"409": _error("It is void already.")},
            body=_ref("VoidInvoice"),
            params=("invoice_id",),
        ),
    },
    _I + "/resend": {
        "post": _op(
            "resendInvoice",
            "Queue the invoice's email again, due now.",
            {
                "200": _json("The queued message.", _ref("Mail")),
                "404": _error("No such invoice (NotFound), or it was never emailed (NoMail)."),
            },
            params=("invoice_id",),
        ),
    },
    "/admin/periods": {
        "get": _op(
            "listClosedPeriods",
            "The closed billing periods, oldest first.",
            {"200": _json("The periods.", _ref("ClosedPeriods"))},
        ),
    },
    "/admin/periods/{period}/close": {
        "post": _op(
            "closePeriod",
            "Close a period that is over now: issue its missing invoices, PDFs and mail. "
            "Safe to repeat.",
            {
                "200": _json("What the close did.", _ref("CloseReport")),
                "400": _error("Not a billing period (InvalidPeriod)."),
                "409": _error(
                    "The period is not over yet (PeriodNotOver), or a close is running (Conflict)."
                ),
                "503": _error("This gateway closes no periods (CloseUnavailable)."),
            },
            params=("period_path",),
        ),
    },
    "/admin/outbox": {
        "get": _op(
            "listOutbox",
            "Queued and sent mail by id; never the message itself.",
            {"200": _json("A page.", _ref("MailPage"))} | _BAD_QUERY,
            params=("mail_status", "mail_kind", *_PAGE),
        ),
    },
    "/admin/outbox/{mail_id}/resend": {
        "post": _op(
            "resendMail",
            "Send a message again (sent or not): pending, due now.",
            {
                "200": _json("The message.", _ref("Mail")),
                "404": _error("No message with that id."),
            },
            params=("mail_id",),
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
            "Unauthorized": _error("Missing, expired, tampered or wrong-audience token."),
        },
    },
}
