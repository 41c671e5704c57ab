"""The usage and reconciliation part of the admin API's OpenAPI document.

Owns: the schemas, query parameters and paths of per-tenant usage (period, daily, per bucket,
per key), the platform overview and storage reconciliation. Does not own the builders
(`adminspec_kit`) or the assembled document (`adminspec`), and says nothing of invoices or
tariffs (`adminspec_billing`).
"""

from __future__ import annotations

from proxy.adminspec_kit import (
    BAD_QUERY,
    COUNT,
    INT,
    NOT_FOUND,
    PAGE,
    PERIOD,
    STR,
    TENANT_PATH,
    TIME,
    Schema,
    array,
    error,
    json_response,
    obj,
    op,
    page,
    ref,
)

_GB_DAYS = {
    "type": "string",
    "pattern": "^[0-9]+\\.[0-9]{6}$",
    "description": "byte_seconds / (2^30 * 86400) as a decimal string, 6 places, half up.",
}
_TALLY = {"calls": COUNT, "billable_calls": COUNT, "bytes_in": COUNT, "bytes_out": COUNT}
_USED = {"byte_seconds": COUNT, "gb_days": _GB_DAYS}
_WINDOW = {
    "period": PERIOD,
    "start": TIME,
    "end": TIME,
    "as_of": TIME,
}
_STORED = dict.fromkeys(["bytes", "objects", "object_bytes", "parts", "part_bytes"], COUNT)
_SPAN = _TALLY | {"start": TIME, "end": TIME, "unauthenticated": ref("Unauthenticated")}


def _usage(properties: Schema) -> Schema:
    """A tenant's report over a billing period: the period's fields plus `properties`."""
    fields = _WINDOW | {"tenant_id": INT} | properties
    return obj(list(fields), fields)


SCHEMAS: dict[str, Schema] = {
    "Tally": obj(list(_TALLY), _TALLY),
    "StoredNow": obj(list(_STORED), _STORED),
    "OperationUsage": obj(
        ["operation", "billing_class", *_TALLY, "status_classes"],
        {
            "operation": STR,
            "billing_class": STR,
            **_TALLY,
            "status_classes": {
                "type": "object",
                "description": "Calls per status class; 1xx to 5xx always present.",
                "additionalProperties": COUNT,
            },
        },
    ),
    "TenantUsage": _usage(
        {
            "operations": array(ref("OperationUsage")),
            "billing_classes": {
                "type": "object",
                "description": "write, read and free always present.",
                "additionalProperties": obj(
                    ["calls", "billable_calls"], {"calls": COUNT, "billable_calls": COUNT}
                ),
            },
            "totals": ref("Tally"),
            "storage_now": obj(["buckets", *_STORED], {"buckets": COUNT, **_STORED}),
            "storage_used": obj(["until", *_USED], {"until": TIME, **_USED}),
        }
    ),
    "DailyUsage": obj(
        ["tenant_id", "timezone", "as_of", "days"],
        {
            "tenant_id": INT,
            "timezone": STR,
            "as_of": TIME,
            "days": array(
                obj(
                    ["date", *_TALLY, *_USED],
                    {"date": {**STR, "format": "date"}, **_TALLY, **_USED},
                )
            ),
        },
    ),
    "BucketUsage": _usage(
        {
            "buckets": array(
                obj(
                    ["bucket", *_TALLY, *_USED, "storage_now"],
                    {
                        "bucket": STR,
                        **_TALLY,
                        **_USED,
                        "storage_now": {"oneOf": [ref("StoredNow"), {"type": "null"}]},
                    },
                )
            )
        }
    ),
    "KeyUsage": _usage(
        {"keys": array(obj(["access_key_id", *_TALLY], {"access_key_id": STR, **_TALLY}))}
    ),
    "Unauthenticated": obj(
        ["calls", "bytes_in", "bytes_out", "by_error_code"],
        {
            "calls": COUNT,
            "bytes_in": COUNT,
            "bytes_out": COUNT,
            "by_error_code": {"type": "object", "additionalProperties": COUNT},
        },
    ),
    "UsageOverview": obj(
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
            "as_of": TIME,
            "tenants": obj(
                ["total", "active", "suspended"],
                {"total": COUNT, "active": COUNT, "suspended": COUNT},
            ),
            "storage_now": obj(["bytes", "buckets"], {"bytes": COUNT, "buckets": COUNT}),
            "today": obj(["date", *_SPAN], {"date": {**STR, "format": "date"}, **_SPAN}),
            "period": obj(["period", *_SPAN], {"period": _WINDOW["period"], **_SPAN}),
            "top_tenants_by_calls": array(
                obj(
                    ["tenant_id", "name", "calls", "billable_calls"],
                    {
                        "tenant_id": INT,
                        "name": {"type": ["string", "null"]},
                        "calls": COUNT,
                        "billable_calls": COUNT,
                    },
                )
            ),
            "top_tenants_by_storage": array(
                obj(
                    ["tenant_id", "name", "bytes"],
                    {"tenant_id": INT, "name": {"type": ["string", "null"]}, "bytes": COUNT},
                )
            ),
        },
    ),
    "Correction": obj(
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
            "id": INT,
            "at": TIME,
            "bucket": STR,
            "tenant_id": INT,
            "objects_before": COUNT,
            "bytes_before": COUNT,
            "objects_after": COUNT,
            "bytes_after": COUNT,
        },
    ),
    "CorrectionPage": page("Correction"),
    "Reconciliation": obj(["corrections"], {"corrections": array(ref("Correction"))}),
}

#: `period` and `tenant_filter` serve the billing paths too.
PARAMETERS: dict[str, Schema] = {
    "period": {
        "name": "period",
        "in": "query",
        "description": "A billing month, YYYY-MM, in the billing timezone; default: the current.",
        "schema": PERIOD,
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
        "schema": INT,
    },
}

PATHS: dict[str, dict[str, Schema]] = {
    TENANT_PATH + "/usage": {
        "get": op(
            "getTenantUsage",
            "A billing period's calls per operation and billing class, storage now, and "
            "storage kept so far (the whole period once it has ended). 5xx is never billable.",
            {"200": json_response("The usage.", ref("TenantUsage"))} | BAD_QUERY | NOT_FOUND,
            params=("tenant_id", "period"),
        ),
    },
    TENANT_PATH + "/usage/daily": {
        "get": op(
            "getTenantDailyUsage",
            "Calls and storage per billing-timezone day, oldest first, ending today; "
            "days without usage show zeros.",
            {"200": json_response("The days.", ref("DailyUsage"))} | BAD_QUERY | NOT_FOUND,
            params=("tenant_id", "days"),
        ),
    },
    TENANT_PATH + "/usage/buckets": {
        "get": op(
            "getTenantBucketUsage",
            "A billing period's calls and storage per bucket, with storage now while metered.",
            {"200": json_response("Per bucket.", ref("BucketUsage"))} | BAD_QUERY | NOT_FOUND,
            params=("tenant_id", "period"),
        ),
    },
    TENANT_PATH + "/usage/keys": {
        "get": op(
            "getTenantKeyUsage",
            "A billing period's calls per access key.",
            {"200": json_response("Per key.", ref("KeyUsage"))} | BAD_QUERY | NOT_FOUND,
            params=("tenant_id", "period"),
        ),
    },
    "/admin/usage/overview": {
        "get": op(
            "getUsageOverview",
            "The platform today and this billing period: tenants, storage, calls, "
            "unauthenticated requests, top tenants by calls and by storage.",
            {"200": json_response("The overview.", ref("UsageOverview"))},
        ),
    },
    "/admin/reconciliations": {
        "get": op(
            "listReconciliations",
            "Storage corrections made by reconciliation, oldest first.",
            {"200": json_response("A page.", ref("CorrectionPage"))} | BAD_QUERY,
            params=("tenant_filter", *PAGE),
        ),
        "post": op(
            "runReconciliation",
            "Reconcile every metered bucket with the upstream now.",
            {
                "200": json_response("The corrections made.", ref("Reconciliation")),
                "503": error("This gateway has no reconciler (ReconciliationUnavailable)."),
            },
        ),
    },
}
