"""Admin routes for billing (issue 8): invoices, their PDFs and payment status, a tenant's running
estimate, closing a period on demand, and the mail outbox.

Owns: these handlers, their inputs, and the `CLOSE_PERIOD` hook `admin.create_app` is given.
Thin: `ledger.billing` answers, and the estimate is `closing.Closer.estimate`, the same usage
reading and pricing as the close. Does not own: prices and tax (billing.pricing), issuing
invoices or rendering their PDFs (closing), sending mail (outbox, on its schedule), error
rendering or authentication (admin.py).

Money goes out as decimal strings of rupees ("1234.50"), never JSON numbers. A PDF is served
only when its bytes still hash to the SHA-256 the ledger recorded when it was written: a file
changed on disk is an incident to investigate, not an invoice to send.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from billing.invoice import Line, Tariff, TaxLine
from billing.periods import Period, parse_period, period_bounds, period_of
from billing.tariffs import check_overrides, with_overrides
from proxy.adminhttp import (
    CLOCK,
    CONFIG,
    LEDGER,
    AdminError,
    Field,
    iso,
    page,
    page_after_int,
    page_limit,
    path_int,
    read_body,
)
from proxy.admintenants import TENANT
from proxy.closing import Closer, CloseReport, PeriodNotOver
from proxy.ledger_billing import InvoiceRecord, Mail
from proxy.log import admin_logger

routes = web.RouteTableDef()

ClosePeriod = Callable[[Period], Awaitable[CloseReport]]
#: Closes one period now, under the scheduler's lease (see admin.create_app).
CLOSE_PERIOD: web.AppKey[ClosePeriod] = web.AppKey("close_period")

INVOICE = "/admin/invoices/{invoice_id:[0-9]{1,18}}"
INVOICE_STATUSES = ("issued", "paid", "void")
MAIL_STATUSES = ("pending", "sent")
MAX_VOID_REASON = 500
_ID = re.compile(r"[0-9]{1,18}")
_KIND = re.compile(r"[a-z0-9_-]{1,40}")
_VOID = {"reason": Field(str, required=True)}


def invoice_json(r: InvoiceRecord) -> dict[str, Any]:
    path = f"/admin/invoices/{r.id}"
    return {
        "id": r.id,
        "number": r.number,
        "tenant_id": r.tenant_id,
        "period": r.period,
        "issued_at": iso(r.issued_at),
        "total": r.total,
        "status": r.status,
        "paid_at": iso(r.paid_at),
        "void_reason": r.void_reason,
        "pdf_sha256": r.pdf_sha256,
        "links": {"self": path, "pdf": None if r.pdf_sha256 is None else f"{path}/pdf"},
    }


def mail_json(m: Mail) -> dict[str, Any]:
    return {
        "id": m.id,
        "kind": m.kind,
        "ref": m.ref,
        "recipients": m.recipients,
        "subject": m.subject,
        "status": m.status,
        "attempts": m.attempts,
        "next_attempt_at": iso(m.next_attempt_at),
        "last_error": m.last_error,
        "created_at": iso(m.created_at),
        "sent_at": iso(m.sent_at),
    }


def _line_json(line: Line) -> dict[str, Any]:
    return {k: v if isinstance(v, str) else str(v) for k, v in asdict(line).items()}


def _tax_json(tax: TaxLine) -> dict[str, Any]:
    return {"name": tax.name, "rate_percent": str(tax.rate_percent), "amount": str(tax.amount)}


def _now(request: web.Request) -> datetime:
    return request.app[CLOCK]().astimezone(UTC)


def _period(request: web.Request, text: str, code: str = "InvalidQuery") -> Period:
    """A YYYY-MM billing month whose bounds exist (9999-12 ends past datetime's range)."""
    try:
        period = parse_period(text)
        period_bounds(period, request.app[CONFIG].billing.timezone)
    except (ValueError, OverflowError) as e:
        raise AdminError(400, code, f"bad period: {e}") from None
    return period


def _query_choice(request: web.Request, name: str, choices: tuple[str, ...]) -> str | None:
    value = request.query.get(name)
    if value is not None and value not in choices:
        raise AdminError(400, "InvalidQuery", f"{name} must be one of {', '.join(choices)}")
    return value


async def _invoice_or_404(request: web.Request) -> InvoiceRecord:
    invoice_id = path_int(request, "invoice_id")
    record = await request.app[LEDGER].billing.get_invoice(invoice_id)
    if record is None:
        raise AdminError(404, "NotFound", f"no invoice with id {invoice_id}")
    return record


@routes.get("/admin/invoices")
async def list_invoices(request: web.Request) -> web.Response:
    """Invoices by id, filtered by `?tenant_id` (a deleted tenant's too), `?period`, `?status`."""
    limit, after = page_limit(request), page_after_int(request)
    tenant = request.query.get("tenant_id")
    if tenant is not None and not _ID.fullmatch(tenant):
        raise AdminError(400, "InvalidQuery", f"tenant_id must be a tenant id, got {tenant!r}")
    period = request.query.get("period")
    records = await request.app[LEDGER].billing.list_invoices(
        tenant_id=None if tenant is None else int(tenant),
        period=None if period is None else _period(request, period).label,
        status=_query_choice(request, "status", INVOICE_STATUSES),
        after=after,
        limit=limit + 1,
    )
    return page(records, limit, invoice_json, lambda r: r.id)


@routes.get(INVOICE)
async def get_invoice(request: web.Request) -> web.Response:
    """One invoice and its document as issued (the status lives beside it, not in it)."""
    record = await _invoice_or_404(request)
    return web.json_response(invoice_json(record) | {"document": record.document})


@routes.get(INVOICE + "/pdf")
async def invoice_pdf(request: web.Request) -> web.Response:
    """The PDF written at the close, after checking it still has the recorded SHA-256."""
    record = await _invoice_or_404(request)
    if record.pdf_sha256 is None or record.pdf_path is None:
        raise AdminError(404, "PdfNotReady", f"invoice {record.number} has no PDF yet")
    try:
        data = await asyncio.to_thread(Path(record.pdf_path).read_bytes)
    except OSError as e:
        admin_logger.error("invoice %s: cannot read its PDF: %s", record.number, e)
        raise AdminError(
            500, "PdfMissing", "the invoice's PDF cannot be read; see the log"
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != record.pdf_sha256:
        admin_logger.error(
            "invoice %s: the stored file %s was changed: its SHA-256 is %s, the ledger "
            "recorded %s",
            record.number, record.pdf_path, digest, record.pdf_sha256,
        )  # fmt: skip
        raise AdminError(
            500, "PdfChecksumMismatch", "the stored PDF does not match its recorded SHA-256"
        )
    filename = record.number.replace("/", "-") + ".pdf"  # numbers are [A-Za-z0-9/-] only
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "ETag": f'"{digest}"',
    }
    return web.Response(body=data, content_type="application/pdf", headers=headers)


@routes.post(INVOICE + "/paid")
async def mark_paid(request: web.Request) -> web.Response:
    """issued -> paid; 409 Conflict when it is paid or void already."""
    await read_body(request, {})
    record = await request.app[LEDGER].billing.mark_paid(
        path_int(request, "invoice_id"), now=_now(request)
    )
    return web.json_response(invoice_json(record))


@routes.post(INVOICE + "/void")
async def void_invoice(request: web.Request) -> web.Response:
    """Void with a reason (1 to 500 characters); the number stays used. 409 when void already."""
    body = await read_body(request, _VOID)
    reason = body["reason"].strip()
    if not 1 <= len(reason) <= MAX_VOID_REASON:
        raise AdminError(
            422, "InvalidField", f"field 'reason' must be 1 to {MAX_VOID_REASON} characters"
        )
    record = await request.app[LEDGER].billing.void(
        path_int(request, "invoice_id"), reason, now=_now(request)
    )
    return web.json_response(invoice_json(record))


@routes.post(INVOICE + "/resend")
async def resend_invoice(request: web.Request) -> web.Response:
    """Queue the invoice's email again, due now (the outbox job sends it); 404 NoMail when the
    close queued none (no finance address and no tenant email)."""
    await read_body(request, {})
    record = await _invoice_or_404(request)
    billing = request.app[LEDGER].billing
    found = await billing.mail_for("invoice", record.number)
    if found is None:
        raise AdminError(404, "NoMail", f"invoice {record.number} was never queued for email")
    return web.json_response(mail_json(await billing.resend(found.id, now=_now(request))))


@routes.get(TENANT + "/estimate")
async def tenant_estimate(request: web.Request) -> web.Response:
    """What the tenant's invoice for `?period` (default: the current one) would say if the
    period closed now: usage so far (as far as the meter has flushed it), priced as the close
    prices it. A deleted tenant's estimate is still there for the periods it was a tenant in."""
    cfg, now = request.app[CONFIG].billing, _now(request)
    text = request.query.get("period")
    period = period_of(now, cfg.timezone) if text is None else _period(request, text)
    start, end = period_bounds(period, cfg.timezone)
    if start > now:
        raise AdminError(400, "InvalidQuery", f"period {period} has not started yet")
    tenant_id = path_int(request, "tenant_id")
    party = await request.app[LEDGER].billing.party(tenant_id)
    if party is None:
        raise AdminError(404, "NotFound", f"no tenant with id {tenant_id}")
    closer = Closer(cfg, request.app[LEDGER], lambda: now)
    usage, priced = await closer.estimate(party, period)
    body = {
        "tenant_id": tenant_id,
        "period": period.label,
        "start": iso(start),
        "end": iso(end),
        "as_of": iso(min(now, end)),
        "usage": {
            "byte_seconds": usage.byte_seconds,
            "billable_calls": usage.billable_calls,
            "bytes_in": usage.bytes_in,
            "bytes_out": usage.bytes_out,
        },
        "lines": [_line_json(line) for line in priced.lines],
        "taxable_value": str(priced.taxable_value),
        "taxes": [_tax_json(tax) for tax in priced.taxes],
        "total": str(priced.total),
        "place_of_supply": priced.place_of_supply,
        "tax_invoice": priced.tax_invoice,
    }
    return web.json_response(body)


@routes.get("/admin/periods")
async def list_periods(request: web.Request) -> web.Response:
    """The closed periods, oldest first."""
    closed = await request.app[LEDGER].billing.closed_periods()
    return web.json_response({"closed": closed})


@routes.post("/admin/periods/{period}/close")
async def close_period(request: web.Request) -> web.Response:
    """Close a period that is over now, in this request: issue its missing invoices, their
    PDFs and mail. Safe to repeat (`already_closed`). 409 PeriodNotOver before its end (and
    grace), 409 Conflict while another close runs, 503 CloseUnavailable without a closer."""
    await read_body(request, {})
    period = _period(request, request.match_info["period"], "InvalidPeriod")
    close = request.app.get(CLOSE_PERIOD)
    if close is None:
        raise AdminError(503, "CloseUnavailable", "this gateway runs no period closes")
    try:
        report = await close(period)
    except PeriodNotOver as e:
        raise AdminError(409, "PeriodNotOver", str(e)) from None
    return web.json_response(asdict(report))


@routes.get("/admin/outbox")
async def list_outbox(request: web.Request) -> web.Response:
    """Queued and sent mail by id, filtered by `?status` and `?kind`; never the message body."""
    limit, after = page_limit(request), page_after_int(request)
    kind = request.query.get("kind")
    if kind is not None and not _KIND.fullmatch(kind):
        raise AdminError(400, "InvalidQuery", f"kind must be a mail kind, got {kind[:41]!r}")
    mail = await request.app[LEDGER].billing.list_mail(
        status=_query_choice(request, "status", MAIL_STATUSES),
        kind=kind,
        after=after,
        limit=limit + 1,
    )
    return page(mail, limit, mail_json, lambda m: m.id)


@routes.post("/admin/outbox/{mail_id:[0-9]{1,18}}/resend")
async def resend_mail(request: web.Request) -> web.Response:
    """Back to pending, due now, whether it was sent or not."""
    await read_body(request, {})
    mail = await request.app[LEDGER].billing.resend(path_int(request, "mail_id"), now=_now(request))
    return web.json_response(mail_json(mail))


# -- per-tenant tariff ------------------------------------------------------------------------

_TARIFF = {
    "free_storage_gb": Field(str),
    "free_calls": Field(int),
    "inr_per_gb_day": Field(str),
    "inr_per_gb_egress": Field(str),
    "inr_per_call": Field(dict),
}


def tariff_json(overrides: dict[str, Any] | None, effective: Tariff) -> dict[str, Any]:
    return {
        "overrides": overrides or {},
        "effective": {
            "free_storage_gb": str(effective.free_storage_gb),
            "free_calls": effective.free_calls,
            "inr_per_gb_day": str(effective.inr_per_gb_day),
            "inr_per_call": {c: str(p) for c, p in sorted(effective.inr_per_call.items())},
            "inr_per_gb_egress": str(effective.inr_per_gb_egress),
            "sac": effective.sac,
            "tax_enabled": effective.tax_enabled,
            "tax_rate_percent": str(effective.tax_rate_percent),
        },
    }


async def _tariff_answer(request: web.Request, tenant_id: int) -> web.Response:
    party = await request.app[LEDGER].billing.party(tenant_id)
    if party is None:
        raise AdminError(404, "NotFound", f"no tenant with id {tenant_id}")
    base = request.app[CONFIG].billing.tariff
    return web.json_response(tariff_json(party.tariff, with_overrides(base, party.tariff)))


@routes.get(TENANT + "/tariff")
async def get_tariff(request: web.Request) -> web.Response:
    """The tenant's overrides and the tariff its next invoice will use."""
    return await _tariff_answer(request, path_int(request, "tenant_id"))


@routes.put(TENANT + "/tariff")
async def set_tariff(request: web.Request) -> web.Response:
    """Replace the tenant's overrides (prices and free tier; tax stays the operator's). Money as
    decimal strings. Invoices already issued keep their prices."""
    tenant_id = path_int(request, "tenant_id")
    body = await read_body(request, _TARIFF)
    try:
        overrides = check_overrides(body)
    except ValueError as e:
        raise AdminError(422, "InvalidField", str(e)) from None
    await request.app[LEDGER].billing.set_tariff(tenant_id, overrides)
    return await _tariff_answer(request, tenant_id)


@routes.delete(TENANT + "/tariff")
async def clear_tariff(request: web.Request) -> web.Response:
    """Back to the operator's tariff."""
    tenant_id = path_int(request, "tenant_id")
    await request.app[LEDGER].billing.set_tariff(tenant_id, None)
    return await _tariff_answer(request, tenant_id)
