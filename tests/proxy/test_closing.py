"""Closing a period against a real ledger, and the outbox against a real SMTP server (aiosmtpd):
one immutable, gapless invoice per tenant and period, however often or concurrently the close
runs; the free-tier edge pays ₹0.00; missed months close oldest first; numbering restarts with
the financial year; mail to finance survives the SMTP server being down, delivered once."""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from pypdf import PdfReader

from billing import invoice_pdf, mailer
from billing.invoice import Party, Tariff
from billing.invoice_pdf import format_quantity
from billing.money import amount_in_words, format_inr
from billing.periods import Period, hour_start, period_bounds
from proxy.closing import Closer, PeriodNotOver
from proxy.config_billing import BillingSettings
from proxy.ledger import Ledger
from proxy.outbox import Outbox
from proxy.usage import Batch, CallKey, Counts, ObjectPut

IST = ZoneInfo("Asia/Kolkata")
NOV = Period(2026, 11)
NOV_START, NOV_END = period_bounds(NOV, IST)
AFTER_NOV = NOV_END + timedelta(minutes=10)
GB = 2**30
FINANCE = "finance@operator.example"


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def settings(tmp_path: Path, **changes: Any) -> BillingSettings:
    base = BillingSettings(
        timezone=IST,
        close_grace_seconds=300,
        invoice_prefix="BF",
        invoice_dir=tmp_path / "invoices",
        finance_emails=(FINANCE,),
        email_tenants=False,
        seller=Party("Operator Pvt Ltd", "1 MG Road\nBengaluru", "29", None, "ops@op.example"),
        tariff=Tariff(),
        smtp=None,
    )
    return replace(base, **changes)


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    led = await Ledger.open(tmp_path / "ledger.sqlite3", billing_tz=IST)
    yield led
    await led.close()


async def _tenant(ledger: Ledger, name: str, at: datetime = NOV_START - timedelta(days=40)) -> int:
    return (await ledger.create_tenant(name, now=at, billing_email=f"{name}@t.example")).id


async def _calls(
    ledger: Ledger, tenant_id: int, at: datetime, calls: int, status: str = "2xx"
) -> None:
    key = CallKey(hour_start(at, IST), tenant_id, "AKIA", "b", "GetObject", "read", status)
    await ledger.usage.apply(Batch(calls={key: Counts(calls, 0, 0)}))


async def _store(ledger: Ledger, tenant_id: int, bucket: str, size: int, at: datetime) -> None:
    await ledger.register_bucket(bucket, tenant_id, now=at)
    await ledger.usage.apply(Batch(storage=[ObjectPut(at, bucket, "k", size)]))


async def test_close_free_tier_edge_pays_zero_and_one_more_gb_day_pays(
    ledger: Ledger, tmp_path: Path
) -> None:
    """Exactly 1 GB stored all month and 1,000 calls: ₹0.00. Storing 1 GB more for one day
    costs ₹0.25 plus 18% GST (intra-state: CGST + SGST)."""
    edge = await _tenant(ledger, "edge")
    more = await _tenant(ledger, "more")
    await _store(ledger, edge, "edge-b", GB, NOV_START)
    await _calls(ledger, edge, NOV_START + timedelta(days=3), 1000)
    await _calls(ledger, edge, NOV_START + timedelta(days=4), 7, status="5xx")  # never billed
    await _store(ledger, more, "more-b", GB, NOV_START)
    await ledger.usage.apply(
        Batch(storage=[ObjectPut(NOV_START + timedelta(days=10), "more-b", "k2", GB)])
    )
    await ledger.usage.apply(
        Batch(storage=[ObjectPut(NOV_START + timedelta(days=11), "more-b", "k2", 0)])
    )
    report = await Closer(settings(tmp_path), ledger, Clock(AFTER_NOV)).close(NOV)
    assert (report.invoices, report.issued) == (2, 2)
    invoices = {i.tenant_id: i for i in await ledger.billing.list_invoices(period="2026-11")}
    assert invoices[edge].total == "0.00"
    doc = invoices[more].document
    assert doc["taxable_value"] == "0.25"
    assert [(t["name"], t["amount"]) for t in doc["taxes"]] == [("CGST", "0.02"), ("SGST", "0.02")]
    assert invoices[more].total == "0.29"


async def test_close_twice_and_concurrently_same_gapless_invoices(
    ledger: Ledger, tmp_path: Path
) -> None:
    ids = [await _tenant(ledger, f"t{n}") for n in range(5)]
    for n, tenant_id in enumerate(ids):
        await _calls(ledger, tenant_id, NOV_START + timedelta(hours=n), 2000 + n)
    s = settings(tmp_path)
    reports = await asyncio.gather(
        Closer(s, ledger, Clock(AFTER_NOV), page=2).close(NOV),
        Closer(s, ledger, Clock(AFTER_NOV), page=3).close(NOV),
    )
    assert sum(r.issued for r in reports) == 5
    first = await ledger.billing.list_invoices(period="2026-11")
    assert sorted(i.number for i in first) == [f"BF/26-27/00000{n}" for n in range(1, 6)]
    again = await Closer(s, ledger, Clock(AFTER_NOV + timedelta(days=1))).close(NOV)
    assert (again.issued, again.already_closed) == (0, True)
    assert await ledger.billing.list_invoices(period="2026-11") == first


async def test_close_pdf_written_once_with_checksum_and_readable(
    ledger: Ledger, tmp_path: Path
) -> None:
    tenant = await _tenant(ledger, "pdf")
    await _calls(ledger, tenant, NOV_START + timedelta(days=1), 123_456)
    await Closer(settings(tmp_path), ledger, Clock(AFTER_NOV)).close(NOV)
    (record,) = await ledger.billing.list_invoices()
    assert record.pdf_path is not None and record.pdf_sha256 is not None
    pdf = await asyncio.to_thread(Path(record.pdf_path).read_bytes)
    assert hashlib.sha256(pdf).hexdigest() == record.pdf_sha256
    text = "".join(page.extract_text() for page in PdfReader(Path(record.pdf_path)).pages)
    assert record.number in text and "998315" in text
    # Usage arriving after the close changes nothing issued: not the document, not the PDF.
    await _calls(ledger, tenant, NOV_END - timedelta(minutes=1), 10_000)
    await Closer(settings(tmp_path), ledger, Clock(AFTER_NOV + timedelta(hours=1))).close(NOV)
    (after,) = await ledger.billing.list_invoices()
    assert after.document == record.document
    assert await asyncio.to_thread(Path(record.pdf_path).read_bytes) == pdf


async def test_close_period_not_over_refused(ledger: Ledger, tmp_path: Path) -> None:
    await _tenant(ledger, "early")
    with pytest.raises(PeriodNotOver):
        await Closer(settings(tmp_path), ledger, Clock(NOV_END + timedelta(seconds=10))).close(NOV)


async def test_close_due_closes_missed_months_oldest_first(ledger: Ledger, tmp_path: Path) -> None:
    await _tenant(ledger, "old", at=datetime(2026, 8, 20, tzinfo=UTC))
    reports = await Closer(settings(tmp_path), ledger, Clock(AFTER_NOV)).close_due()
    assert [r.period for r in reports] == ["2026-08", "2026-09", "2026-10", "2026-11"]
    numbers = [i.number for i in await ledger.billing.list_invoices()]
    assert numbers == [f"BF/26-27/00000{n}" for n in range(1, 5)]


async def test_close_march_numbers_in_the_new_financial_year(
    ledger: Ledger, tmp_path: Path
) -> None:
    """Invoices issued on 1 April for March open the new year's series at 000001."""
    await _tenant(ledger, "fy", at=datetime(2027, 2, 10, tzinfo=UTC))
    s = settings(tmp_path)
    await Closer(s, ledger, Clock(datetime(2027, 3, 1, 1, tzinfo=IST))).close(Period(2027, 2))
    await Closer(s, ledger, Clock(datetime(2027, 4, 1, 1, tzinfo=IST))).close(Period(2027, 3))
    numbers = [i.number for i in await ledger.billing.list_invoices()]
    assert numbers == ["BF/26-27/000001", "BF/27-28/000001"]


async def test_close_deleted_and_suspended_tenants_still_invoiced(
    ledger: Ledger, tmp_path: Path
) -> None:
    gone = await _tenant(ledger, "gone")
    paused = await _tenant(ledger, "paused")
    await _calls(ledger, gone, NOV_START + timedelta(days=2), 5000)
    await ledger.delete_tenant(gone, now=NOV_START + timedelta(days=9))
    await ledger.set_tenant_status(paused, "suspended", now=NOV_START + timedelta(days=9))
    await Closer(settings(tmp_path), ledger, Clock(AFTER_NOV)).close(NOV)
    invoices = {i.tenant_id: i for i in await ledger.billing.list_invoices()}
    assert set(invoices) == {gone, paused}
    assert invoices[gone].document["buyer"]["name"] == "gone"
    assert invoices[gone].total == "4.72"  # 4,000 calls over the free 1,000 at ₹0.001 + 18%


@pytest.mark.parametrize(("period", "days"), [(Period(2027, 2), 28), (Period(2026, 12), 31)])
async def test_close_month_length_sets_the_free_storage(
    ledger: Ledger, tmp_path: Path, period: Period, days: int
) -> None:
    """Exactly 1 GB all month: used = free = days in the month, in GB-days; ₹0.00."""
    start, end = period_bounds(period, IST)
    tenant = await _tenant(ledger, "edge", at=start - timedelta(days=1))
    await _store(ledger, tenant, "edge-b", GB, start)
    await Closer(settings(tmp_path), ledger, Clock(end + timedelta(hours=1))).close(period)
    (record,) = await ledger.billing.list_invoices()
    storage = record.document["lines"][0]
    assert (Decimal(storage["used"]), Decimal(storage["free"])) == (Decimal(days), Decimal(days))
    assert record.total == "0.00"


async def test_close_tenant_created_mid_month_gets_the_whole_free_tier(
    ledger: Ledger, tmp_path: Path
) -> None:
    """The free tier is per calendar month and not prorated: a tenant that arrives on the
    20th still has 30 free GB-days (and 1,000 calls) in November."""
    arrived = NOV_START + timedelta(days=19)
    tenant = await _tenant(ledger, "late", at=arrived)
    await _store(ledger, tenant, "late-b", 2 * GB, arrived)  # 2 GB x 11 days = 22 GB-days
    await _calls(ledger, tenant, arrived + timedelta(hours=2), 1000)
    await Closer(settings(tmp_path), ledger, Clock(AFTER_NOV)).close(NOV)
    (record,) = await ledger.billing.list_invoices()
    storage = record.document["lines"][0]
    assert (Decimal(storage["used"]), Decimal(storage["free"])) == (Decimal(22), Decimal(30))
    assert record.total == "0.00"


async def test_close_pdf_text_states_every_figure_of_the_ledger_document(
    ledger: Ledger, tmp_path: Path
) -> None:
    """Read the issued PDF back: the number, parties, every line's SAC, quantities, rate and
    amount, the taxable value, each tax and the total, as the ledger holds them."""
    tenant = await _tenant(ledger, "figures")
    await _store(ledger, tenant, "fig-b", 5 * GB, NOV_START + timedelta(days=2))
    await _calls(ledger, tenant, NOV_START + timedelta(days=3), 54_321)
    await Closer(settings(tmp_path), ledger, Clock(AFTER_NOV)).close(NOV)
    (record,) = await ledger.billing.list_invoices()
    reader = PdfReader(str(record.pdf_path))
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    doc = record.document
    inr = lambda v: format_inr(Decimal(v)).replace("₹", "")  # noqa: E731
    expected = [record.number, doc["seller"]["name"], doc["buyer"]["name"], inr(doc["total"]),
                inr(doc["taxable_value"]), amount_in_words(Decimal(doc["total"]))]  # fmt: skip
    for line in doc["lines"]:
        expected += [line["sac"], line["description"], inr(line["amount"])]
        expected.append(format_quantity(Decimal(line["used"]), line["unit"]))
    for tax in doc["taxes"]:
        expected += [tax["name"], inr(tax["amount"])]
    missing = [e for e in expected if e not in text]
    assert not missing, f"not in the PDF: {missing}\n{text}"


# -- the outbox against a real SMTP server ----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Inbox:
    received: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp_port() -> Iterator[int]:
    yield _free_port()


async def test_outbox_smtp_down_then_up_delivered_exactly_once(
    ledger: Ledger, tmp_path: Path, smtp_port: int
) -> None:
    tenant = await _tenant(ledger, "mail")
    await _calls(ledger, tenant, NOV_START + timedelta(days=1), 3000)
    clock = Clock(AFTER_NOV)
    await Closer(settings(tmp_path), ledger, clock).close(NOV)
    smtp = mailer.SmtpSettings(
        host="127.0.0.1", port=smtp_port, security="none", username=None, password=None,
        from_address="billing@op.example", timeout_seconds=5,
    )  # fmt: skip
    outbox = Outbox(ledger, smtp, clock)
    assert await outbox.deliver_due() == 0  # nothing listens yet
    (mail,) = await ledger.billing.list_mail()
    assert (mail.status, mail.attempts) == ("pending", 1) and mail.last_error
    assert await outbox.deliver_due() == 0  # not due again before its retry time
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port, server_hostname="mx.test")
    controller.start()
    try:
        clock.at += timedelta(minutes=1)
        assert await outbox.deliver_due() == 1
        assert await outbox.deliver_due() == 0
    finally:
        controller.stop()
    (received,) = inbox.received
    message = email.message_from_bytes(received, policy=email.policy.default)
    (record,) = await ledger.billing.list_invoices()
    assert record.number in str(message["Subject"]) and message["To"] == FINANCE
    (attachment,) = message.iter_attachments()
    assert attachment.get_content() == await asyncio.to_thread(
        Path(str(record.pdf_path)).read_bytes
    )
    (sent,) = await ledger.billing.list_mail()
    assert sent.status == "sent" and sent.attempts == 2


async def test_close_crash_mid_way_rerun_completes_same_invoices(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A close that dies after issuing some invoices (here: the third PDF fails to render)
    leaves issued invoices without PDFs; the rerun renders those, issues the rest, and the
    numbers stay gapless, one per tenant."""
    ids = [await _tenant(ledger, f"c{n}") for n in range(5)]
    for tenant_id in ids:
        await _calls(ledger, tenant_id, NOV_START + timedelta(days=1), 1500)
    real = invoice_pdf.render
    renders = 0

    def flaky(*args: Any, **kwargs: Any) -> bytes:
        nonlocal renders
        renders += 1
        if renders == 3:
            raise RuntimeError("power cut")
        return real(*args, **kwargs)

    monkeypatch.setattr(invoice_pdf, "render", flaky)
    with pytest.raises(RuntimeError, match="power cut"):
        await Closer(settings(tmp_path), ledger, Clock(AFTER_NOV)).close(NOV)
    partial = await ledger.billing.list_invoices()
    assert len(partial) == 3 and partial[-1].pdf_sha256 is None
    assert "2026-11" not in await ledger.billing.closed_periods()
    report = await Closer(settings(tmp_path), ledger, Clock(AFTER_NOV)).close(NOV)
    assert (report.invoices, report.issued) == (5, 2)
    final = await ledger.billing.list_invoices()
    assert [i.number for i in final] == [f"BF/26-27/00000{n}" for n in range(1, 6)]
    assert sorted(i.tenant_id for i in final) == ids
    assert all(i.pdf_sha256 for i in final)
    assert len(await ledger.billing.list_mail(kind="invoice")) == 5
