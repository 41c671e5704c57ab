"""Admin billing API: invoices (list, get, PDF, paid, void, resend), estimates, period closes
and the outbox, against a real ledger and a real close at a fixed clock in Asia/Kolkata."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from adminkit import ADMIN_PASSWORD, ADMIN_USER, AdminAPI, Client
from jsonschema import Draft202012Validator

from billing import pricing
from billing.invoice import Invoice, Party, Usage, to_document
from billing.periods import Period, days_in, hour_start, parse_period
from proxy import admin, adminauth, config
from proxy.adminspec import OPENAPI
from proxy.closing import Closer, CloseReport
from proxy.crypto import SecretBox, hash_password
from proxy.ledger import Ledger
from proxy.records import Conflict
from proxy.usage import Batch, CallKey, Counts, ObjectPut

GB = 2**30
#: 11:30 on 15 March 2026 in Kolkata: February is over, March is the current period.
NOW = datetime(2026, 3, 15, 6, 0, tzinfo=UTC)
MARCH_START = datetime(2026, 2, 28, 18, 30, tzinfo=UTC)
FEB_START = datetime(2026, 1, 31, 18, 30, tzinfo=UTC)
SELLER_GSTIN = "29AABCT3518Q1ZS"  # Karnataka
MH_GSTIN = "27AAPFU0939F1ZV"  # Maharashtra
FINANCE = "finance@operator.example"
FIRST = "BF/25-26/000001"  # closed on 15 March 2026: financial year 2025-26


def billing_config(tmp_path: Path, master_key: str, **billing: Any) -> config.Config:
    env = {config.ENV_JWT_SECRET: "test-jwt-secret-" + "x" * 32, config.ENV_MASTER_KEY: master_key}
    table = {
        "finance_emails": [FINANCE],
        "seller": {"name": "Operator Pvt Ltd", "address": "Bengaluru", "gstin": SELLER_GSTIN},
    } | billing
    return config.parse({"ledger": {"path": "l.sqlite3"}, "billing": table}, env, base_dir=tmp_path)


class FakeClose:
    """A close hook that records its periods and raises `error` if given."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.periods: list[Period] = []

    async def __call__(self, period: Period) -> CloseReport:
        self.periods.append(period)
        if self.error is not None:
            raise self.error
        return CloseReport(period.label, 0, 0, False)


Make = Callable[..., Awaitable[AdminAPI]]


@pytest.fixture
async def make(
    tmp_path: Path, master_key: str, aiohttp_client: Callable[..., Awaitable[Client]]
) -> AsyncIterator[Make]:
    """Builds admin apps at the fixed clock `NOW`; `close` defaults to a real Closer."""
    ledgers: list[Ledger] = []

    async def build(close: Any = "real", **billing: Any) -> AdminAPI:
        cfg = billing_config(tmp_path, master_key, **billing)
        ledger = await Ledger.open(
            cfg.ledger_path, SecretBox.from_text(master_key), billing_tz=cfg.billing_timezone
        )
        ledgers.append(ledger)
        if await ledger.admin_password_hash(ADMIN_USER) is None:
            password = hash_password(ADMIN_PASSWORD, log2_n=10)
            await ledger.create_admin(ADMIN_USER, password, now=NOW)
        if close == "real":
            close = Closer(cfg.billing, ledger, lambda: NOW).close
        app = admin.create_app(cfg, ledger, clock=lambda: NOW, close_period=close)
        client = await aiohttp_client(app)
        token, _ = adminauth.mint(cfg.admin_tokens, ADMIN_USER, now=datetime.now(UTC))
        return AdminAPI(client, ledger, cfg, token)

    yield build
    for ledger in ledgers:
        await ledger.close()


@pytest.fixture
async def bapi(make: Make) -> AdminAPI:
    return await make()


def conforms(body: Any, schema: str) -> None:
    Draft202012Validator({**OPENAPI, "$ref": f"#/components/schemas/{schema}"}).validate(body)


async def send(api: AdminAPI, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    """The JSON body; an error body is checked against the Error schema."""
    resp = await api.call(method, path, body)
    assert resp.status == status, await resp.text()
    answer = await resp.json()
    if status >= 400:
        conforms(answer, "Error")
    return answer


async def error_code(api: AdminAPI, method: str, path: str, status: int, body: Any = None) -> str:
    code: str = (await send(api, method, path, body, status))["error"]["code"]
    return code


async def tenant(api: AdminAPI, name: str = "acme", **fields: Any) -> int:
    made = await api.ledger.create_tenant(name, now=datetime(2026, 1, 1, tzinfo=UTC), **fields)
    return made.id


async def use(
    api: AdminAPI,
    tenant_id: int,
    since: datetime,
    stored: int,
    calls: dict[tuple[str, str], int],
    bytes_out: int = 0,
) -> None:
    """A bucket holding `stored` bytes from `since`, and calls {(class, status class): n} made
    an hour after `since`."""
    bucket = f"b{tenant_id}-{since.month}"
    await api.ledger.register_bucket(bucket, tenant_id, now=since)
    batch = Batch(storage=[ObjectPut(since, bucket, "object", stored)])
    hour = hour_start(since + timedelta(hours=1), api.cfg.billing_timezone)
    for (cls, status), n in calls.items():
        key = CallKey(hour, tenant_id, "AKIAAAAAAAAAAAAAAAAA", bucket, "Op", cls, status)
        batch.calls[key] = Counts(n, 0, bytes_out if status == "2xx" and cls == "read" else 0)
    await api.ledger.usage.apply(batch)


async def issue(api: AdminAPI, tenant_id: int, period: str = "2026-01") -> dict[str, Any]:
    """An invoice issued straight through the ledger: no PDF, no mail."""
    seller = api.cfg.billing.seller
    month = parse_period(period)
    usage = Usage(month, days_in(month), 0, {}, 0)
    priced = pricing.price(usage, api.cfg.billing.tariff, seller=seller, buyer=seller)

    def build(number: str) -> tuple[dict[str, Any], str]:
        invoice = Invoice(
            number, NOW, usage.period, seller, Party("Acme", state_code="29"),
            priced.place_of_supply, priced.lines, priced.taxable_value, priced.taxes,
            priced.total, priced.tax_invoice,
        )  # fmt: skip
        return to_document(invoice), str(priced.total)

    record, _ = await api.ledger.billing.issue_invoice(
        tenant_id, period, financial_year="25-26", prefix="BF", now=NOW, build=build
    )
    return {"id": record.id, "number": record.number}


async def closed_february(api: AdminAPI) -> list[dict[str, Any]]:
    """Two tenants with February usage, February closed; their invoices, by id."""
    a = await tenant(api, "acme", gstin=MH_GSTIN)
    b = await tenant(api, "beta", billing_state="29", billing_email="ap@beta.example")
    await use(api, a, FEB_START, 3 * GB, {("write", "2xx"): 1500, ("read", "2xx"): 700})
    await use(api, b, FEB_START + timedelta(days=10), GB // 2, {("read", "2xx"): 10})
    report = await send(api, "POST", "/admin/periods/2026-02/close")
    assert report == {"period": "2026-02", "invoices": 2, "issued": 2, "already_closed": False}
    page = await send(api, "GET", "/admin/invoices")
    items: list[dict[str, Any]] = page["items"]
    return items


# -- closing ----------------------------------------------------------------------------------


async def test_close_period_issues_invoices_once_and_lists_the_period(bapi: AdminAPI) -> None:
    await closed_february(bapi)
    conforms(await send(bapi, "GET", "/admin/periods"), "ClosedPeriods")
    again = await send(bapi, "POST", "/admin/periods/2026-02/close")
    assert again == {"period": "2026-02", "invoices": 2, "issued": 0, "already_closed": True}
    conforms(again, "CloseReport")
    assert await send(bapi, "GET", "/admin/periods") == {"closed": ["2026-02"]}


async def test_close_current_period_409_period_not_over(bapi: AdminAPI) -> None:
    assert await error_code(bapi, "POST", "/admin/periods/2026-03/close", 409) == "PeriodNotOver"
    assert await send(bapi, "GET", "/admin/periods") == {"closed": []}


@pytest.mark.parametrize("period", ["2026-13", "26-02", "2026-2", "9999-12", "0000-01"])
async def test_close_bad_period_400(make: Make, period: str) -> None:
    close = FakeClose()
    api = await make(close)
    assert await error_code(api, "POST", f"/admin/periods/{period}/close", 400) == "InvalidPeriod"
    assert close.periods == []


async def test_close_without_closer_503(make: Make) -> None:
    api = await make(None)
    assert await error_code(api, "POST", "/admin/periods/2026-02/close", 503) == (
        "CloseUnavailable"
    )


async def test_close_while_another_runs_409_conflict(make: Make) -> None:
    close = FakeClose(Conflict("a period close is running already"))
    api = await make(close)
    assert await error_code(api, "POST", "/admin/periods/2026-02/close", 409) == "Conflict"
    assert close.periods == [Period(2026, 2)]


async def test_close_with_body_fields_422(make: Make) -> None:
    api = await make(FakeClose())
    path = "/admin/periods/2026-02/close"
    assert await error_code(api, "POST", path, 422, {"force": True}) == "UnknownField"


# -- invoices ---------------------------------------------------------------------------------


async def test_invoices_list_after_close_shapes_and_links(bapi: AdminAPI) -> None:
    items = await closed_february(bapi)
    conforms({"items": items, "next": None}, "InvoicePage")
    first = items[0]
    record = await bapi.ledger.billing.get_invoice(first["id"])
    assert record is not None and record.pdf_sha256 is not None
    assert first == {
        "id": record.id,
        "number": FIRST,
        "tenant_id": record.tenant_id,
        "period": "2026-02",
        "issued_at": "2026-03-15T06:00:00Z",
        "total": record.total,
        "status": "issued",
        "paid_at": None,
        "void_reason": None,
        "pdf_sha256": record.pdf_sha256,
        "links": {
            "self": f"/admin/invoices/{record.id}",
            "pdf": f"/admin/invoices/{record.id}/pdf",
        },
    }
    assert Decimal(first["total"]) > 0
    assert [i["number"] for i in items] == [FIRST, "BF/25-26/000002"]


async def test_invoices_list_filters_and_pages(bapi: AdminAPI) -> None:
    a, b = await tenant(bapi, "a"), await tenant(bapi, "b")
    ids = [
        (await issue(bapi, t, p))["id"] for t, p in ((a, "2026-01"), (b, "2026-01"), (a, "2026-02"))
    ]
    await send(bapi, "POST", f"/admin/invoices/{ids[1]}/paid")

    async def listed(query: str) -> list[int]:
        return [i["id"] for i in (await send(bapi, "GET", f"/admin/invoices?{query}"))["items"]]

    assert await listed(f"tenant_id={a}") == [ids[0], ids[2]]
    assert await listed("period=2026-01") == ids[:2]
    assert await listed("status=paid") == [ids[1]]
    assert await listed(f"tenant_id={a}&period=2026-02&status=issued") == [ids[2]]
    assert await listed("tenant_id=999") == []
    page = await send(bapi, "GET", "/admin/invoices?limit=2")
    assert ([i["id"] for i in page["items"]], page["next"]) == (ids[:2], str(ids[1]))
    rest = await send(bapi, "GET", f"/admin/invoices?limit=2&after={page['next']}")
    assert ([i["id"] for i in rest["items"]], rest["next"]) == ([ids[2]], None)
    assert rest["items"][0]["links"]["pdf"] is None


@pytest.mark.parametrize(
    "query",
    ["tenant_id=x", "tenant_id=-1", "period=2026-13", "period=March", "status=open", "limit=0",
     "after=z"],
)  # fmt: skip
async def test_invoices_list_bad_query_400(bapi: AdminAPI, query: str) -> None:
    assert await error_code(bapi, "GET", f"/admin/invoices?{query}", 400) == "InvalidQuery"


async def test_invoice_get_has_its_document(bapi: AdminAPI) -> None:
    items = await closed_february(bapi)
    body = await send(bapi, "GET", f"/admin/invoices/{items[0]['id']}")
    conforms(body, "InvoiceDetail")
    record = await bapi.ledger.billing.get_invoice(items[0]["id"])
    assert record is not None
    assert body == items[0] | {"document": record.document}
    doc = body["document"]
    assert (doc["number"], doc["total"], doc["period"]) == (FIRST, body["total"], "2026-02")
    assert doc["buyer"]["gstin"] == MH_GSTIN and doc["place_of_supply"] == "27"
    assert [t["name"] for t in doc["taxes"]] == ["IGST"]  # Maharashtra buyer, Karnataka seller


@pytest.mark.parametrize("suffix", ["", "/pdf"])
async def test_invoice_unknown_id_404(bapi: AdminAPI, suffix: str) -> None:
    assert await error_code(bapi, "GET", f"/admin/invoices/42{suffix}", 404) == "NotFound"


@pytest.mark.parametrize("action", ["paid", "void", "resend"])
async def test_invoice_action_unknown_id_404(bapi: AdminAPI, action: str) -> None:
    body = {"reason": "typo"} if action == "void" else None
    path = f"/admin/invoices/42/{action}"
    assert await error_code(bapi, "POST", path, 404, body) == "NotFound"


async def test_invoice_pdf_served_with_checked_checksum(bapi: AdminAPI) -> None:
    items = await closed_february(bapi)
    resp = await bapi.call("GET", f"/admin/invoices/{items[0]['id']}/pdf")
    assert resp.status == 200
    data = await resp.read()
    assert data.startswith(b"%PDF-")
    assert hashlib.sha256(data).hexdigest() == items[0]["pdf_sha256"]
    assert resp.headers["Content-Type"] == "application/pdf"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="BF-25-26-000001.pdf"'


def flip_a_bit(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:200] + bytes([data[200] ^ 1]) + data[201:])


async def test_invoice_pdf_tampered_file_500_and_logged(
    bapi: AdminAPI, caplog: pytest.LogCaptureFixture
) -> None:
    items = await closed_february(bapi)
    record = await bapi.ledger.billing.get_invoice(items[0]["id"])
    assert record is not None and record.pdf_path is not None
    await asyncio.to_thread(flip_a_bit, Path(record.pdf_path))
    caplog.set_level("ERROR", logger="billflow.admin")
    code = await error_code(bapi, "GET", f"/admin/invoices/{record.id}/pdf", 500)
    assert code == "PdfChecksumMismatch"
    assert any("was changed" in r.getMessage() for r in caplog.records)


async def test_invoice_pdf_file_gone_500(bapi: AdminAPI) -> None:
    items = await closed_february(bapi)
    record = await bapi.ledger.billing.get_invoice(items[0]["id"])
    assert record is not None and record.pdf_path is not None
    await asyncio.to_thread(os.remove, record.pdf_path)
    assert await error_code(bapi, "GET", f"/admin/invoices/{record.id}/pdf", 500) == "PdfMissing"


async def test_invoice_pdf_not_rendered_404(bapi: AdminAPI) -> None:
    invoice = await issue(bapi, await tenant(bapi))
    path = f"/admin/invoices/{invoice['id']}/pdf"
    assert await error_code(bapi, "GET", path, 404) == "PdfNotReady"


async def test_invoice_paid_then_paid_again_409(bapi: AdminAPI) -> None:
    invoice = await issue(bapi, await tenant(bapi))
    path = f"/admin/invoices/{invoice['id']}/paid"
    body = await send(bapi, "POST", path)
    conforms(body, "Invoice")
    assert (body["status"], body["paid_at"]) == ("paid", "2026-03-15T06:00:00Z")
    assert await error_code(bapi, "POST", path, 409) == "Conflict"


async def test_invoice_void_keeps_reason_then_void_or_paid_again_409(bapi: AdminAPI) -> None:
    invoice = await issue(bapi, await tenant(bapi))
    path = f"/admin/invoices/{invoice['id']}"
    body = await send(bapi, "POST", path + "/void", {"reason": "  wrong tenant  "})
    assert (body["status"], body["void_reason"], body["number"]) == (
        "void",
        "wrong tenant",
        invoice["number"],
    )
    assert await error_code(bapi, "POST", path + "/void", 409, {"reason": "again"}) == "Conflict"
    assert await error_code(bapi, "POST", path + "/paid", 409) == "Conflict"
    assert (await send(bapi, "GET", path))["status"] == "void"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (None, "MissingField"),
        ({}, "MissingField"),
        ({"reason": ""}, "InvalidField"),
        ({"reason": "   "}, "InvalidField"),
        ({"reason": "x" * 501}, "InvalidField"),
        ({"reason": 5}, "InvalidField"),
        ({"reason": "ok", "by": "me"}, "UnknownField"),
    ],
)
async def test_invoice_void_bad_reason_422_unchanged(bapi: AdminAPI, body: Any, code: str) -> None:
    invoice = await issue(bapi, await tenant(bapi))
    path = f"/admin/invoices/{invoice['id']}"
    assert await error_code(bapi, "POST", path + "/void", 422, body) == code
    assert (await send(bapi, "GET", path))["status"] == "issued"


async def test_invoice_resend_requeues_its_mail(bapi: AdminAPI) -> None:
    items = await closed_february(bapi)
    mail = (await bapi.ledger.billing.list_mail(kind="invoice"))[1]
    assert mail.ref == items[1]["number"]
    await bapi.ledger.billing.mail_sent(mail.id, now=NOW - timedelta(minutes=5))
    body = await send(bapi, "POST", f"/admin/invoices/{items[1]['id']}/resend")
    conforms(body, "Mail")
    assert (body["id"], body["status"], body["next_attempt_at"]) == (
        mail.id,
        "pending",
        "2026-03-15T06:00:00Z",
    )
    assert body["recipients"] == [FINANCE]


async def test_invoice_resend_never_mailed_404_no_mail(bapi: AdminAPI) -> None:
    invoice = await issue(bapi, await tenant(bapi))
    path = f"/admin/invoices/{invoice['id']}/resend"
    assert await error_code(bapi, "POST", path, 404) == "NoMail"


# -- outbox -----------------------------------------------------------------------------------


async def test_outbox_lists_filters_and_resends(bapi: AdminAPI) -> None:
    items = await closed_february(bapi)
    await bapi.ledger.billing.enqueue_mail(
        "alert", "1/2026-03/storage/80", [FINANCE], "Alert", b"x", now=NOW
    )
    page = await send(bapi, "GET", "/admin/outbox")
    conforms(page, "MailPage")
    assert [(m["kind"], m["ref"]) for m in page["items"]] == [
        ("invoice", items[0]["number"]),
        ("invoice", items[1]["number"]),
        ("alert", "1/2026-03/storage/80"),
    ]
    first = page["items"][0]
    assert (first["status"], first["attempts"], first["sent_at"]) == ("pending", 0, None)
    await bapi.ledger.billing.mail_sent(first["id"], now=NOW)

    async def refs(query: str) -> list[str]:
        return [m["ref"] for m in (await send(bapi, "GET", f"/admin/outbox?{query}"))["items"]]

    assert await refs("kind=alert") == ["1/2026-03/storage/80"]
    assert await refs("status=sent") == [items[0]["number"]]
    assert await refs("status=pending&kind=invoice") == [items[1]["number"]]
    paged = await send(bapi, "GET", "/admin/outbox?limit=1")
    assert paged["next"] == str(first["id"])
    body = await send(bapi, "POST", f"/admin/outbox/{first['id']}/resend")
    assert (body["status"], body["attempts"], body["next_attempt_at"]) == (
        "pending",
        1,
        "2026-03-15T06:00:00Z",
    )


@pytest.mark.parametrize("query", ["status=failed", "kind=", "kind=Invoice", "limit=1001"])
async def test_outbox_bad_query_400(bapi: AdminAPI, query: str) -> None:
    assert await error_code(bapi, "GET", f"/admin/outbox?{query}", 400) == "InvalidQuery"


async def test_outbox_resend_unknown_404(bapi: AdminAPI) -> None:
    assert await error_code(bapi, "POST", "/admin/outbox/7/resend", 404) == "NotFound"


# -- estimates --------------------------------------------------------------------------------


def priced_json(priced: pricing.Priced) -> dict[str, Any]:
    lines = [
        {k: str(getattr(x, k)) for k in ("used", "free", "billable", "rate", "amount")}
        | {"description": x.description, "sac": x.sac, "unit": x.unit}
        for x in priced.lines
    ]
    taxes = [
        {"name": t.name, "rate_percent": str(t.rate_percent), "amount": str(t.amount)}
        for t in priced.taxes
    ]
    return {
        "lines": lines,
        "taxable_value": str(priced.taxable_value),
        "taxes": taxes,
        "total": str(priced.total),
        "place_of_supply": priced.place_of_supply,
        "tax_invoice": priced.tax_invoice,
    }


async def test_estimate_current_period_equals_pricing_of_the_same_usage(bapi: AdminAPI) -> None:
    """3 GB kept since March began, 2,000 writes, 600 reads (and 5xx, never billed)."""
    t = await tenant(bapi, gstin=MH_GSTIN, billing_name="Acme Ltd")
    calls = {("write", "2xx"): 2000, ("read", "2xx"): 600, ("read", "5xx"): 40}
    await use(bapi, t, MARCH_START, 3 * GB, calls, bytes_out=5 * GB)
    body = await send(bapi, "GET", f"/admin/tenants/{t}/estimate")
    conforms(body, "Estimate")
    seconds = int((NOW - MARCH_START).total_seconds())
    usage = Usage(Period(2026, 3), 31, 3 * GB * seconds, {"write": 2000, "read": 600}, 5 * GB)
    buyer = Party("Acme Ltd", state_code="27", gstin=MH_GSTIN)
    expected = pricing.price(usage, bapi.cfg.billing.tariff, seller=bapi.cfg.billing.seller,
                             buyer=buyer)  # fmt: skip
    assert body == {
        "tenant_id": t,
        "period": "2026-03",
        "start": "2026-02-28T18:30:00Z",
        "end": "2026-03-31T18:30:00Z",
        "as_of": "2026-03-15T06:00:00Z",
        "usage": {
            "byte_seconds": 3 * GB * seconds,
            "billable_calls": {"write": 2000, "read": 600},
            "bytes_in": 0,
            "bytes_out": 5 * GB,
        },
    } | priced_json(expected)
    assert (body["place_of_supply"], [x["name"] for x in body["taxes"]]) == ("27", ["IGST"])
    assert Decimal(body["total"]) > 0


async def test_estimate_same_state_splits_cgst_sgst(bapi: AdminAPI) -> None:
    t = await tenant(bapi, billing_state="29")
    await use(bapi, t, MARCH_START, 4 * GB, {("write", "2xx"): 5000})
    body = await send(bapi, "GET", f"/admin/tenants/{t}/estimate?period=2026-03")
    assert [x["name"] for x in body["taxes"]] == ["CGST", "SGST"]
    assert body["place_of_supply"] == "29"


async def test_estimate_of_a_closed_period_matches_its_invoice(bapi: AdminAPI) -> None:
    items = await closed_february(bapi)
    for item in items:
        body = await send(
            bapi, "GET", f"/admin/tenants/{item['tenant_id']}/estimate?period=2026-02"
        )
        doc = (await send(bapi, "GET", f"/admin/invoices/{item['id']}"))["document"]
        assert body["as_of"] == "2026-02-28T18:30:00Z"  # the period's end
        keys = ("lines", "taxable_value", "taxes", "total", "place_of_supply", "tax_invoice")
        assert {k: body[k] for k in keys} == {k: doc[k] for k in keys}
        assert body["total"] == item["total"]


async def test_estimate_deleted_tenant_still_answers(bapi: AdminAPI) -> None:
    t = await tenant(bapi)
    await bapi.ledger.delete_tenant(t, now=NOW)
    body = await send(bapi, "GET", f"/admin/tenants/{t}/estimate")
    assert (body["tenant_id"], body["total"]) == (t, "0.00")


@pytest.mark.parametrize(
    "query", ["period=2026-13", "period=x", "period=2026-04", "period=9999-12"]
)
async def test_estimate_bad_or_future_period_400(bapi: AdminAPI, query: str) -> None:
    t = await tenant(bapi)
    assert await error_code(bapi, "GET", f"/admin/tenants/{t}/estimate?{query}", 400) == (
        "InvalidQuery"
    )


async def test_estimate_unknown_tenant_404(bapi: AdminAPI) -> None:
    assert await error_code(bapi, "GET", "/admin/tenants/99/estimate", 404) == "NotFound"


# -- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/admin/invoices"),
        ("GET", "/admin/invoices/1"),
        ("GET", "/admin/invoices/1/pdf"),
        ("POST", "/admin/invoices/1/paid"),
        ("POST", "/admin/invoices/1/void"),
        ("POST", "/admin/invoices/1/resend"),
        ("GET", "/admin/tenants/1/estimate"),
        ("GET", "/admin/periods"),
        ("POST", "/admin/periods/2026-02/close"),
        ("GET", "/admin/outbox"),
        ("POST", "/admin/outbox/1/resend"),
    ],
)
async def test_billing_routes_need_a_token(make: Make, method: str, path: str) -> None:
    close = FakeClose()
    api = await make(close)
    resp = await api.client.request(method, path)
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "MissingToken"
    assert close.periods == []


# -- per-tenant tariff ------------------------------------------------------------------------


async def test_tariff_override_set_read_used_by_the_close_and_cleared(bapi: AdminAPI) -> None:
    """An override changes the tenant's next invoice (calls at ₹0.002 instead of ₹0.001);
    clearing it returns the operator's tariff."""
    cheap = await tenant(bapi, "cheap", billing_state="29")
    dear = await tenant(bapi, "dear", billing_state="29")
    for t in (cheap, dear):
        await use(bapi, t, FEB_START, 0, {("write", "2xx"): 11_000})
    answer = await send(
        bapi, "PUT", f"/admin/tenants/{dear}/tariff", {"inr_per_call": {"write": "0.002"}}
    )
    conforms(answer, "Tariff")
    assert answer["overrides"] == {"inr_per_call": {"write": "0.002"}}
    assert answer["effective"]["inr_per_call"] == {"read": "0.001", "write": "0.002"}
    await send(bapi, "POST", "/admin/periods/2026-02/close")
    totals = {
        i["tenant_id"]: i["total"] for i in (await send(bapi, "GET", "/admin/invoices"))["items"]
    }
    assert totals == {cheap: "11.80", dear: "23.60"}  # 10,000 billable calls + 18% GST
    cleared = await send(bapi, "DELETE", f"/admin/tenants/{dear}/tariff")
    assert cleared["overrides"] == {} and cleared["effective"]["inr_per_call"]["write"] == "0.001"


@pytest.mark.parametrize(
    "body",
    [{"inr_per_gb_day": 0.2}, {"tax_rate_percent": "5"}, {"inr_per_call": {"write": "-1"}}],
)
async def test_tariff_bad_override_422(bapi: AdminAPI, body: dict[str, Any]) -> None:
    t = await tenant(bapi, "bad")
    assert await error_code(bapi, "PUT", f"/admin/tenants/{t}/tariff", 422, body) in (
        "InvalidField", "UnknownField",
    )  # fmt: skip


async def test_tariff_unknown_tenant_404(bapi: AdminAPI) -> None:
    assert await error_code(bapi, "GET", "/admin/tenants/999/tariff", 404) == "NotFound"
    assert await error_code(bapi, "PUT", "/admin/tenants/999/tariff", 404, {}) == "NotFound"
