"""The invoice as plain values: what pricing produces, the ledger stores, the PDF shows and the
mail carries. Pure data; no rules beyond each value's own shape.

Owns: `Party` (seller or buyer block), `Tariff` (prices, free tier, tax settings), `Usage` (a
tenant's totals for one period, in ints with their units), `Line` and `TaxLine` (priced rows,
amounts already rounded by `money.round_line`), `DailyUsage` (the chart's series) and `Invoice`.
Also the stored form (`to_document`/`from_document`): the ledger keeps each issued invoice as
that JSON, and the PDF is always made from it. Does not own: computing lines or tax (pricing),
numbers (numbering), rendering (invoice_pdf), storage (the ledger in `proxy`).

Money is `Decimal` (rupees, rounded to the paisa where it is an amount), never float.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from billing.periods import Period, parse_period

InvoiceStatus = Literal["issued", "paid", "void"]


@dataclass(frozen=True)
class Party:
    """A seller or buyer block. `state_code` is the two-digit GST state code ("" when unknown:
    outside India, or a buyer who gave none); `gstin` is validated by billing.gstin."""

    name: str
    address: str = ""  # several lines, "\n"-separated
    state_code: str = ""
    gstin: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Tariff:
    """Prices and tax settings (config.toml [billing.tariff], per-tenant overrides on top).
    The defaults are the seed's: 1 GB and 1,000 calls free per month, storage ₹0.25 per GB
    per day, ₹0.001 per billable call, egress ₹0 per GB (still shown), GST 18% under SAC 998315."""

    currency: str = "INR"
    free_storage_gb: Decimal = Decimal("1")  # per month; free GB-days = this x days in period
    free_calls: int = 1000  # per month, across billing classes
    inr_per_gb_day: Decimal = Decimal("0.25")
    #: billing class -> rupees per billable call; a class not listed is free.
    inr_per_call: dict[str, Decimal] = field(
        default_factory=lambda: {"write": Decimal("0.001"), "read": Decimal("0.001")}
    )
    inr_per_gb_egress: Decimal = Decimal("0")
    sac: str = "998315"  # hosting and IT infrastructure provisioning services
    tax_enabled: bool = True  # False: a plain invoice, no GST
    tax_rate_percent: Decimal = Decimal("18")


@dataclass(frozen=True)
class DailyUsage:
    """One day of the period in the billing timezone, for the chart."""

    day: date
    byte_seconds: int
    calls: int


@dataclass(frozen=True)
class Usage:
    """What a tenant used in a period. Calls are billable calls (5xx answers excluded) per
    billing class; byte-seconds of storage integrated over the period."""

    period: Period
    days: int  # days in the period
    byte_seconds: int
    billable_calls: dict[str, int]
    bytes_out: int
    bytes_in: int = 0
    daily: tuple[DailyUsage, ...] = ()


@dataclass(frozen=True)
class Line:
    """One priced row. `used` minus `free` (never below zero) is `billable`; `amount` is
    `billable x rate`, rounded to the paisa."""

    description: str
    sac: str
    unit: str  # "GB-day", "call", "GB"
    used: Decimal
    free: Decimal
    billable: Decimal
    rate: Decimal  # rupees per unit
    amount: Decimal


@dataclass(frozen=True)
class TaxLine:
    name: Literal["CGST", "SGST", "IGST"]
    rate_percent: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Invoice:
    number: str
    issued_at: datetime  # aware
    period: Period
    seller: Party
    buyer: Party
    place_of_supply: str  # two-digit state code, "" when tax is off or unknown
    lines: tuple[Line, ...]
    taxable_value: Decimal  # sum of the rounded lines
    taxes: tuple[TaxLine, ...]
    total: Decimal
    tax_invoice: bool  # False: tax switched off, a plain invoice
    status: InvoiceStatus = "issued"
    void_reason: str | None = None
    daily: tuple[DailyUsage, ...] = ()


# -- the stored form: a JSON object the ledger keeps, from which the PDF is always re-made ----


def to_document(invoice: Invoice) -> dict[str, Any]:
    """The invoice as JSON-ready values: Decimals as strings (exact), times as ISO 8601."""

    def party(p: Party) -> dict[str, Any]:
        return {"name": p.name, "address": p.address, "state_code": p.state_code,
                "gstin": p.gstin, "email": p.email}  # fmt: skip

    return {
        "number": invoice.number,
        "issued_at": invoice.issued_at.isoformat(),
        "period": invoice.period.label,
        "seller": party(invoice.seller),
        "buyer": party(invoice.buyer),
        "place_of_supply": invoice.place_of_supply,
        "lines": [
            {
                "description": x.description,
                "sac": x.sac,
                "unit": x.unit,
                "used": str(x.used),
                "free": str(x.free),
                "billable": str(x.billable),
                "rate": str(x.rate),
                "amount": str(x.amount),
            }
            for x in invoice.lines
        ],
        "taxable_value": str(invoice.taxable_value),
        "taxes": [
            {"name": t.name, "rate_percent": str(t.rate_percent), "amount": str(t.amount)}
            for t in invoice.taxes
        ],
        "total": str(invoice.total),
        "tax_invoice": invoice.tax_invoice,
        "daily": [
            {"day": d.day.isoformat(), "byte_seconds": d.byte_seconds, "calls": d.calls}
            for d in invoice.daily
        ],
    }


def from_document(doc: dict[str, Any], *, status: InvoiceStatus = "issued",
                  void_reason: str | None = None) -> Invoice:  # fmt: skip
    """The inverse of `to_document`; the status lives beside the document, not in it (the
    document never changes once issued)."""
    return Invoice(
        number=doc["number"],
        issued_at=datetime.fromisoformat(doc["issued_at"]),
        period=parse_period(doc["period"]),
        seller=Party(**doc["seller"]),
        buyer=Party(**doc["buyer"]),
        place_of_supply=doc["place_of_supply"],
        lines=tuple(
            Line(
                x["description"],
                x["sac"],
                x["unit"],
                Decimal(x["used"]),
                Decimal(x["free"]),
                Decimal(x["billable"]),
                Decimal(x["rate"]),
                Decimal(x["amount"]),
            )
            for x in doc["lines"]
        ),
        taxable_value=Decimal(doc["taxable_value"]),
        taxes=tuple(
            TaxLine(t["name"], Decimal(t["rate_percent"]), Decimal(t["amount"]))
            for t in doc["taxes"]
        ),
        total=Decimal(doc["total"]),
        tax_invoice=doc["tax_invoice"],
        status=status,
        void_reason=void_reason,
        daily=tuple(
            DailyUsage(date.fromisoformat(d["day"]), d["byte_seconds"], d["calls"])
            for d in doc["daily"]
        ),
    )
