"""Closing a billing period: every tenant's usage priced into an invoice, its PDF, its mail.

Owns: the order of a close and what makes it safe to repeat. For each tenant that existed in
the period (streamed from the ledger a page at a time): read its usage totals, price them
(billing.pricing), issue the invoice (the ledger gives the number and refuses a second invoice
for the same tenant and period), render the PDF from the stored document (billing.invoice_pdf,
deterministic), write it atomically and record its checksum once, queue the mail to finance
(the outbox refuses a second copy; it builds the message from the document and the PDF file
when it sends). A crash anywhere leaves a state the next run completes
without doubling anything; two closes at once produce the same invoices. Does not own: prices
and tax (billing.pricing), numbers (billing.numbering, the ledger's transaction), sending mail
(outbox), when closes run (scheduler).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from billing import invoice_pdf, pricing
from billing.gstin import state_code_of
from billing.invoice import DailyUsage, Invoice, Party, Usage, from_document, to_document
from billing.periods import Period, days_in, financial_year, period_bounds, period_of
from billing.tariffs import with_overrides
from proxy.config_billing import BillingSettings
from proxy.ledger import Ledger
from proxy.ledger_billing import BillingParty, InvoiceRecord
from proxy.log import server_logger

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class CloseReport:
    period: str
    invoices: int  # invoices of the period after the close
    issued: int  # issued by this run
    already_closed: bool


class PeriodNotOver(ValueError):
    """A period can be closed only once it ended (and the grace for in-flight requests passed)."""


class Closer:
    def __init__(
        self,
        settings: BillingSettings,
        ledger: Ledger,
        clock: Clock,
        flush_meter: Callable[[], Awaitable[None]] | None = None,
        page: int = 200,
    ) -> None:
        self._s = settings
        self._ledger = ledger
        self._clock = clock
        self._flush_meter = flush_meter
        self._page = page

    async def close(self, period: Period) -> CloseReport:
        """Issue every invoice of `period` that is not issued yet, then mark it closed."""
        tz = self._s.timezone
        start, end = period_bounds(period, tz)
        now = self._clock()
        if now < end + timedelta(seconds=self._s.close_grace_seconds):
            raise PeriodNotOver(
                f"{period.label} ends at {end.isoformat()}; it can be closed "
                f"{self._s.close_grace_seconds:.0f} s after that"
            )
        already = period.label in await self._ledger.billing.closed_periods()
        if self._flush_meter is not None:
            await self._flush_meter()
        issued = count = 0
        after = 0
        while parties := await self._ledger.billing.parties_for_period(
            start, end, after=after, limit=self._page
        ):
            for party in parties:
                record, new = await self._issue(party, period, start, end, now)
                await self._finish(record)
                issued += new
                count += 1
            after = parties[-1].tenant_id
        await self._ledger.billing.mark_closed(period.label, now=now)
        server_logger.info("period %s closed: %d invoices (%d issued now)", period, count, issued)
        return CloseReport(period.label, count, issued, already)

    async def estimate(self, party: BillingParty, period: Period) -> tuple[Usage, pricing.Priced]:
        """What the tenant's invoice for `period` would say if it closed now: the same usage
        reading and pricing as the close, up to the present (the period's end if it is over)."""
        start, end = period_bounds(period, self._s.timezone)
        now = min(self._clock(), end)
        usage = await self._usage(party.tenant_id, period, start, end, now)
        tariff = with_overrides(self._s.tariff, party.tariff)
        priced = pricing.price(usage, tariff, seller=self._s.seller, buyer=_buyer(party))
        return usage, priced

    async def close_due(self) -> list[CloseReport]:
        """Close every period that is over and not closed yet, oldest first (months missed
        while the service was down included)."""
        now = self._clock()
        closed = set(await self._ledger.billing.closed_periods())
        first = await self._first_period()
        reports: list[CloseReport] = []
        if first is None:
            return reports
        period = first
        last = period_of(now - timedelta(seconds=self._s.close_grace_seconds), self._s.timezone)
        while period < last:
            if period.label not in closed:
                reports.append(await self.close(period))
            period = period.next()
        return reports

    async def _first_period(self) -> Period | None:
        oldest = await self._ledger.billing.oldest_tenant_created_at()
        return None if oldest is None else period_of(oldest, self._s.timezone)

    async def _issue(
        self, party: BillingParty, period: Period, start: datetime, end: datetime, now: datetime
    ) -> tuple[InvoiceRecord, bool]:
        usage = await self._usage(party.tenant_id, period, start, end, now)
        buyer = _buyer(party)
        tariff = with_overrides(self._s.tariff, party.tariff)
        priced = pricing.price(usage, tariff, seller=self._s.seller, buyer=buyer)

        def build(number: str) -> tuple[dict[str, object], str]:
            invoice = Invoice(
                number=number,
                issued_at=now,
                period=period,
                seller=self._s.seller,
                buyer=buyer,
                place_of_supply=priced.place_of_supply,
                lines=priced.lines,
                taxable_value=priced.taxable_value,
                taxes=priced.taxes,
                total=priced.total,
                tax_invoice=priced.tax_invoice,
                daily=usage.daily,
            )
            return to_document(invoice), str(priced.total)

        # Numbered in the financial year of the invoice date (the close), not of the period:
        # March's invoices, issued on 1 April, open the new year's series.
        fy = financial_year(now, self._s.timezone)
        return await self._ledger.billing.issue_invoice(
            party.tenant_id, period.label, financial_year=fy, prefix=self._s.invoice_prefix,
            now=now, build=build,
        )  # fmt: skip

    async def _usage(
        self, tenant_id: int, period: Period, start: datetime, end: datetime, now: datetime
    ) -> Usage:
        tz = self._s.timezone
        calls: dict[str, int] = {}
        bytes_in = bytes_out = 0
        daily_calls: dict[date, int] = {}
        for row in await self._ledger.usage.call_totals("hour", start, end, tenant_id=tenant_id):
            bytes_in += row.bytes_in
            bytes_out += row.bytes_out
            if row.status_class == "5xx":
                continue  # recorded, never billed
            calls[row.billing_class] = calls.get(row.billing_class, 0) + row.calls
            day = datetime.fromisoformat(row.group).astimezone(tz).date()
            daily_calls[day] = daily_calls.get(day, 0) + row.calls
        daily_storage: dict[date, int] = {}
        byte_seconds = 0
        for hour, _, _, seconds in await self._ledger.usage.storage_hours(
            tenant_id, start, end, now=now
        ):
            byte_seconds += seconds
            day = hour.astimezone(tz).date()
            daily_storage[day] = daily_storage.get(day, 0) + seconds
        first = start.astimezone(tz).date()
        daily = tuple(
            DailyUsage(d, daily_storage.get(d, 0), daily_calls.get(d, 0))
            for d in (first + timedelta(days=i) for i in range(days_in(period)))
        )
        return Usage(period, days_in(period), byte_seconds, calls, bytes_out, bytes_in, daily)

    async def _finish(self, record: InvoiceRecord) -> None:
        """The PDF (once) and the mail (once) of an issued invoice. The PDF is made from the
        stored document as issued; once its checksum is recorded the file is the record (a
        newer ReportLab or font could render other bytes), so a rerun reads it back."""
        invoice = from_document(record.document)
        if record.pdf_sha256 is None:
            pdf = await asyncio.to_thread(invoice_pdf.render, invoice, self._s.timezone)
            path = self._pdf_path(record)
            await asyncio.to_thread(_write_atomically, path, pdf)
            await self._ledger.billing.set_pdf(
                record.id, str(path), hashlib.sha256(pdf).hexdigest()
            )
        else:
            assert record.pdf_path is not None
            pdf = await asyncio.to_thread(Path(record.pdf_path).read_bytes)
            if hashlib.sha256(pdf).hexdigest() != record.pdf_sha256:
                raise RuntimeError(f"{record.pdf_path}: does not match its recorded SHA-256")
        recipients = list(self._s.finance_emails)
        if self._s.email_tenants and invoice.buyer.email:
            recipients.append(invoice.buyer.email)
        if not recipients:
            return
        # Queued as a reference: the outbox builds the message from the ledger's document and
        # the stored PDF when it sends (a copy of every PDF in the ledger would double it).
        await self._ledger.billing.enqueue_mail(
            "invoice", record.number, recipients, f"Invoice {record.number} for {invoice.period}",
            b"", now=self._clock(),
        )  # fmt: skip

    def _pdf_path(self, record: InvoiceRecord) -> Path:
        return (
            self._s.invoice_dir / record.financial_year / (record.number.replace("/", "-") + ".pdf")
        )


def _buyer(party: BillingParty) -> Party:
    state = party.billing_state or (state_code_of(party.gstin) if party.gstin else "")
    return Party(
        name=party.billing_name or party.name,
        address=party.billing_address or "",
        state_code=state,
        gstin=party.gstin,
        email=party.billing_email,
    )


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # A name of its own per writer: two closes racing on one invoice write the same bytes,
    # and each must rename a whole file into place.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
