"""The billing part of the admin API's OpenAPI document.

Owns: the schemas, parameters and paths of estimates, tariff overrides, invoices (and their
PDFs), period closes and the mail outbox. Does not own the builders (`adminspec_kit`), the
`period` and `tenant_filter` query parameters (`adminspec_usage`) or the assembled document
(`adminspec`).
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
    TIME_OR_NULL,
    Schema,
    array,
    error,
    json_response,
    obj,
    op,
    page,
    ref,
)

_RUPEES = {"type": "string", "pattern": "^[0-9]+\\.[0-9]{2}$", "description": "Rupees."}
_DECIMAL = {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?(E[+-]?[0-9]+)?$"}
_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_OR_NULL = {"type": ["string", "null"]}
_INVOICE: Schema = {
    "id": INT,
    "number": {"type": "string", "description": "PREFIX/FY/SEQUENCE, e.g. BF/26-27/000042."},
    "tenant_id": INT,
    "period": PERIOD,
    "issued_at": TIME,
    "total": _RUPEES,
    "status": {"enum": ["issued", "paid", "void"]},
    "paid_at": TIME_OR_NULL,
    "void_reason": _OR_NULL,
    "pdf_sha256": {**_SHA256, "type": ["string", "null"]},
    "links": obj(["self", "pdf"], {"self": STR, "pdf": {"type": ["string", "null"]}}),
}
_LINE: Schema = dict.fromkeys(["used", "free", "billable", "rate", "amount"], _DECIMAL)
_LINE |= {"description": STR, "sac": STR, "unit": {"enum": ["GB-day", "call", "GB"]}}
_TAX: Schema = {
    "name": {"enum": ["CGST", "SGST", "IGST"]},
    "rate_percent": _DECIMAL,
    "amount": _RUPEES,
}
_ESTIMATE: Schema = {
    "tenant_id": INT,
    "period": PERIOD,
    "start": TIME,
    "end": TIME,
    "as_of": {**TIME, "description": "Usage counted until here (the period's end once over)."},
    "usage": obj(
        ["byte_seconds", "billable_calls", "bytes_in", "bytes_out"],
        {
            "byte_seconds": COUNT,
            "billable_calls": {
                "type": "object",
                "description": "Per billing class; 5xx answers are never billable.",
                "additionalProperties": COUNT,
            },
            "bytes_in": COUNT,
            "bytes_out": COUNT,
        },
    ),
    "lines": array(obj(list(_LINE), _LINE)),
    "taxable_value": _RUPEES,
    "taxes": array(obj(list(_TAX), _TAX)),
    "total": _RUPEES,
    "place_of_supply": {"type": "string", "description": 'State code; "" with tax off.'},
    "tax_invoice": {"type": "boolean"},
}
_MAIL: Schema = {
    "id": INT,
    "kind": {"type": "string", "description": "invoice, alert, ..."},
    "ref": {"type": "string", "description": "What it is about: an invoice's number, ..."},
    "recipients": array(STR),
    "subject": STR,
    "status": {"enum": ["pending", "sent"]},
    "attempts": COUNT,
    "next_attempt_at": TIME,
    "last_error": _OR_NULL,
    "created_at": TIME,
    "sent_at": TIME_OR_NULL,
}
_CLOSE: Schema = {
    "period": PERIOD,
    "invoices": {**COUNT, "description": "The period's invoices after the close."},
    "issued": {**COUNT, "description": "Issued by this close."},
    "already_closed": {"type": "boolean"},
}

SCHEMAS: dict[str, Schema] = {
    "Invoice": obj(list(_INVOICE), _INVOICE),
    "InvoiceDetail": obj(
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
    "InvoicePage": page("Invoice"),
    "VoidInvoice": obj(
        ["reason"], {"reason": {"type": "string", "minLength": 1, "maxLength": 500}}
    ),
    "Estimate": obj(list(_ESTIMATE), _ESTIMATE),
    "Mail": obj(list(_MAIL), _MAIL),
    "MailPage": page("Mail"),
    "CloseReport": obj(list(_CLOSE), _CLOSE),
    "ClosedPeriods": obj(["closed"], {"closed": array(PERIOD)}),
    "TariffOverrides": obj(
        [],
        {
            "free_storage_gb": _DECIMAL,
            "free_calls": COUNT,
            "inr_per_gb_day": _DECIMAL,
            "inr_per_gb_egress": _DECIMAL,
            "inr_per_call": {
                "type": "object",
                "description": "Billing class -> rupees per billable call.",
                "additionalProperties": _DECIMAL,
            },
        },
    ),
    "Tariff": obj(
        ["overrides", "effective"],
        {
            "overrides": ref("TariffOverrides"),
            "effective": {
                "type": "object",
                "description": "The tariff the tenant's next invoice uses: the operator's, with "
                "the overrides applied (tax and SAC are always the operator's).",
            },
        },
    ),
}

PARAMETERS: dict[str, Schema] = {
    "invoice_id": {"name": "invoice_id", "in": "path", "required": True, "schema": INT},
    "mail_id": {"name": "mail_id", "in": "path", "required": True, "schema": INT},
    "period_path": {
        "name": "period",
        "in": "path",
        "required": True,
        "description": "A billing month, YYYY-MM, in the billing timezone.",
        "schema": PERIOD,
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
}

_INVOICE_PATH = "/admin/invoices/{invoice_id}"
_NO_INVOICE = {"404": error("No invoice with that id.")}

PATHS: dict[str, dict[str, Schema]] = {
    TENANT_PATH + "/estimate": {
        "get": op(
            "getTenantEstimate",
            "What the tenant's invoice for a period would say if it closed now: usage so far, "
            "priced as the close prices it (a deleted tenant's too).",
            {"200": json_response("The estimate.", ref("Estimate"))} | BAD_QUERY | NOT_FOUND,
            params=("tenant_id", "period"),
        ),
    },
    TENANT_PATH + "/tariff": {
        "get": op(
            "getTenantTariff",
            "The tenant's tariff overrides and the tariff its next invoice uses.",
            {"200": json_response("The tariff.", ref("Tariff"))} | NOT_FOUND,
            params=("tenant_id",),
        ),
        "put": op(
            "setTenantTariff",
            "Replace the tenant's overrides: prices and free tier, money as decimal strings. "
            "Issued invoices keep their prices.",
            {"200": json_response("The tariff.", ref("Tariff"))} | NOT_FOUND,
            body=ref("TariffOverrides"),
            params=("tenant_id",),
        ),
        "delete": op(
            "clearTenantTariff",
            "Back to the operator's tariff.",
            {"200": json_response("The tariff.", ref("Tariff"))} | NOT_FOUND,
            params=("tenant_id",),
        ),
    },
    "/admin/invoices": {
        "get": op(
            "listInvoices",
            "Invoices by id.",
            {"200": json_response("A page.", ref("InvoicePage"))} | BAD_QUERY,
            params=("tenant_filter", "period", "invoice_status", *PAGE),
        ),
    },
    _INVOICE_PATH: {
        "get": op(
            "getInvoice",
            "One invoice with its document as issued.",
            {"200": json_response("The invoice.", ref("InvoiceDetail"))} | _NO_INVOICE,
            params=("invoice_id",),
        ),
    },
    _INVOICE_PATH + "/pdf": {
        "get": op(
            "getInvoicePdf",
            "The invoice's PDF, checked against the SHA-256 recorded when it was written.",
            {
                "200": {
                    "description": "The PDF, as an attachment named after the number.",
                    "content": {"application/pdf": {"schema": {"type": "string"}}},
                },
                "404": error("No such invoice (NotFound), or no PDF yet (PdfNotReady)."),
                "500": error(
                    "The stored file changed since it was written (PdfChecksumMismatch) or "
                    "cannot be read (PdfMissing)."
                ),
            },
            params=("invoice_id",),
        ),
    },
    _INVOICE_PATH + "/paid": {
        "post": op(
            "markInvoicePaid",
            "Record the invoice as paid.",
            {"200": json_response("The invoice.", ref("Invoice"))}
            | _NO_INVOICE
            | {"409": error("It is paid or void already.")},
            params=("invoice_id",),
        ),
    },
    _INVOICE_PATH + "/void": {
        "post": op(
            "voidInvoice",
            "Void the invoice with a reason; its number stays used.",
            {"200": json_response("The invoice.", ref("Invoice"))}
            | _NO_INVOICE
            | {"409": error("It is void already.")},
            body=ref("VoidInvoice"),
            params=("invoice_id",),
        ),
    },
    _INVOICE_PATH + "/resend": {
        "post": op(
            "resendInvoice",
            "Queue the invoice's email again, due now.",
            {
                "200": json_response("The queued message.", ref("Mail")),
                "404": error("No such invoice (NotFound), or it was never emailed (NoMail)."),
            },
            params=("invoice_id",),
        ),
    },
    "/admin/periods": {
        "get": op(
            "listClosedPeriods",
            "The closed billing periods, oldest first.",
            {"200": json_response("The periods.", ref("ClosedPeriods"))},
        ),
    },
    "/admin/periods/{period}/close": {
        "post": op(
            "closePeriod",
            "Close a period that is over now: issue its missing invoices, PDFs and mail. "
            "Safe to repeat.",
            {
                "200": json_response("What the close did.", ref("CloseReport")),
                "400": error("Not a billing period (InvalidPeriod)."),
                "409": error(
                    "The period is not over yet (PeriodNotOver), or a close is running (Conflict)."
                ),
                "503": error("This gateway closes no periods (CloseUnavailable)."),
            },
            params=("period_path",),
        ),
    },
    "/admin/outbox": {
        "get": op(
            "listOutbox",
            "Queued and sent mail by id; never the message itself.",
            {"200": json_response("A page.", ref("MailPage"))} | BAD_QUERY,
            params=("mail_status", "mail_kind", *PAGE),
        ),
    },
    "/admin/outbox/{mail_id}/resend": {
        "post": op(
            "resendMail",
            "Send a message again (sent or not): pending, due now.",
            {
                "200": json_response("The message.", ref("Mail")),
                "404": error("No message with that id."),
            },
            params=("mail_id",),
        ),
    },
}
