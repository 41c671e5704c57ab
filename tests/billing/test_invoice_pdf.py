"""billing/invoice_pdf.py: what a rendered invoice says (read back with pypdf), and that the
same Invoice always gives the same bytes."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import reportlab
from pypdf import PdfReader
from reportlab.pdfbase.ttfonts import TTFont

from billing.invoice import DailyUsage, Invoice, InvoiceStatus, Line, Party, TaxLine
from billing.invoice_pdf import (
    FALLBACK_RUPEE,
    RUPEE_FONT_CANDIDATES,
    Fonts,
    choose_fonts,
    format_quantity,
    format_rate,
    render,
)
from billing.periods import Period

ROOT = Path(__file__).resolve().parents[2]
GB_DAY = 2**30 * 86_400

SELLER = Party(
    "BillFlow Storage Pvt Ltd",
    "4th Floor, Tower B\nBandra Kurla Complex\nMumbai 400051",
    "27",
    "27AAPFU0939F1ZV",
)
BUYER_MH = Party("Acme & Sons <Pvt> Ltd", "12 Linking Road\nMumbai 400050", "27", "27AABCT1234H1ZM")
BUYER_KA = Party("Bengal Bytes LLP", "12 MG Road\nBengaluru 560001", "29", "29AAGCB7383J1Z4")
DAILY = tuple(DailyUsage(date(2026, 11, day), day * GB_DAY // 2, day * 150) for day in range(1, 31))
LINES = (
    Line(
        "Storage",
        "998315",
        "GB-day",
        Decimal("400030.000000"),
        Decimal("30.000000"),
        Decimal("400000.000000"),
        Decimal("0.25"),
        Decimal("100000.00"),
    ),
    Line(
        "API calls (write)",
        "998315",
        "call",
        Decimal("467890"),
        Decimal("1000"),
        Decimal("466890"),
        Decimal("0.001"),
        Decimal("466.89"),
    ),
    Line(
        "Egress",
        "998315",
        "GB",
        Decimal("12.5"),
        Decimal("0"),
        Decimal("12.5"),
        Decimal("0"),
        Decimal("0.00"),
    ),
)
# The tax invoice: 1,00,466.89 taxable, 18% GST on it, 1,18,550.93 in all.
INTRA_STATE = Invoice(
    number="BF/26-27/000123",
    issued_at=datetime(2026, 11, 30, 19, 0, tzinfo=UTC),  # 01 Dec 2026, 00:30 in Kolkata
    period=Period(2026, 11),
    seller=SELLER,
    buyer=BUYER_MH,
    place_of_supply="27",
    lines=LINES,
    taxable_value=Decimal("100466.89"),
    taxes=(
        TaxLine("CGST", Decimal("9"), Decimal("9042.02")),
        TaxLine("SGST", Decimal("9"), Decimal("9042.02")),
    ),
    total=Decimal("118550.93"),
    tax_invoice=True,
    daily=DAILY,
)
INTER_STATE = replace(
    INTRA_STATE,
    buyer=BUYER_KA,
    place_of_supply="29",
    taxes=(TaxLine("IGST", Decimal("18"), Decimal("18084.04")),),
)
PLAIN = replace(
    INTRA_STATE,
    place_of_supply="",
    taxes=(),
    total=Decimal("100466.89"),
    tax_invoice=False,
)
WORDS = "Rupees One Lakh Eighteen Thousand Five Hundred Fifty and Ninety-Three Paise Only"


def text_of(pdf: bytes) -> str:
    """All pages' text, whitespace collapsed: table cells come out one per line."""
    reader = PdfReader(io.BytesIO(pdf))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def pages_of(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


def test_render_intra_state_tax_invoice_shows_rule_46_fields_in_order() -> None:
    pdf = render(INTRA_STATE)
    text = text_of(pdf)
    in_order = [
        "Tax Invoice",
        "ISSUED",
        "BillFlow Storage Pvt Ltd",
        "GSTIN: 27AAPFU0939F1ZV",
        "Acme & Sons <Pvt> Ltd",
        "State: Maharashtra (27) GSTIN: 27AABCT1234H1ZM",
        "Invoice number BF/26-27/000123",
        "Invoice date 01 Dec 2026",
        "Billing period November 2026 (01 Nov 2026 \u2013 30 Nov 2026)",
        "Place of supply Maharashtra (27)",
        "Storage 998315 4,00,030.000000 \u2212 30.000000 4,00,000.000000 GB-day ₹0.25 ₹1,00,000.00",
        "API calls (write) 998315 4,67,890 \u2212 1,000 4,66,890 call ₹0.001 ₹466.89",
        "Egress 998315 12.500000 \u2212 0.000000 12.500000 GB ₹0.00 ₹0.00",
        "Taxable value ₹1,00,466.89",
        "CGST 9% ₹9,042.02",
        "SGST 9% ₹9,042.02",
        "Total ₹1,18,550.93",
        WORDS,
        "Payment status: Unpaid",
        "Daily usage",
        "Storage, GB-days per day",
        "Calls per day",
    ]
    positions = [text.find(part) for part in in_order]
    assert -1 not in positions, [part for part in in_order if part not in text]
    assert positions == sorted(positions)
    assert "IGST" not in text
    assert pdf.startswith(b"%PDF-")
    assert pages_of(pdf) == 1


def test_render_inter_state_tax_invoice_shows_igst_only() -> None:
    text = text_of(render(INTER_STATE))
    for part in (
        "GSTIN: 27AAPFU0939F1ZV",
        "State: Karnataka (29) GSTIN: 29AAGCB7383J1Z4",
        "Place of supply Karnataka (29)",
        "IGST 18% ₹18,084.04",
        "Total ₹1,18,550.93",
        WORDS,
    ):
        assert part in text
    assert "CGST" not in text and "SGST" not in text


def test_render_tax_off_is_a_plain_invoice_without_gst_rows() -> None:
    text = text_of(render(PLAIN))
    assert text.startswith("BF/26-27/000123 · page 1 Invoice ")  # the footer is drawn first
    assert "Tax Invoice" not in text
    assert "Place of supply" not in text
    assert "Subtotal ₹1,00,466.89 Total ₹1,00,466.89" in text
    assert "Rupees One Lakh Four Hundred Sixty-Six and Eighty-Nine Paise Only" in text
    assert "GST" not in text.replace("GSTIN", "")


@pytest.mark.parametrize(
    ("status", "reason", "badge", "payment"),
    [
        ("issued", None, "ISSUED", "Payment status: Unpaid"),
        ("paid", None, "PAID", "Payment status: Paid"),
        (
            "void",
            "duplicate of BF/26-27/000122",
            "VOID: duplicate of BF/26-27/000122",
            "Payment status: Void \u2013 not payable (duplicate of BF/26-27/000122)",
        ),
        ("void", None, "VOID: no reason given", "Payment status: Void"),
    ],
    ids=["issued", "paid", "void", "void-without-reason"],
)
def test_render_status_shows_badge_and_payment_line(
    status: InvoiceStatus, reason: str | None, badge: str, payment: str
) -> None:
    invoice = replace(INTRA_STATE, status=status, void_reason=reason)
    text = text_of(render(invoice))
    assert text.index("Tax Invoice") < text.index(badge) < text.index("Supplier")
    assert payment in text


def test_render_tax_invoice_without_place_of_supply_says_not_stated() -> None:
    text = text_of(render(replace(INTRA_STATE, place_of_supply="")))
    assert "Place of supply Not stated" in text


def test_render_unregistered_buyer_says_so() -> None:
    buyer = Party("Ravi Kumar", "Flat 4, Shanti Niwas\nPune 411001", "27", None)
    text = text_of(render(replace(INTRA_STATE, buyer=buyer)))
    assert (
        "Ravi Kumar Flat 4, Shanti Niwas Pune 411001 State: Maharashtra (27) GSTIN: Unregistered"
        in text
    )


def test_render_same_invoice_twice_gives_identical_bytes() -> None:
    assert render(INTRA_STATE) == render(INTRA_STATE)
    assert render(INTRA_STATE) != render(replace(INTRA_STATE, number="BF/26-27/000124"))


def test_render_in_fresh_processes_gives_identical_bytes() -> None:
    """Nothing depends on hash seeds, object ids or the clock: the stored checksum holds."""
    script = "import pickle, sys; from billing.invoice_pdf import render; "
    script += "sys.stdout.buffer.write(render(pickle.load(sys.stdin.buffer)))"
    outputs = [
        subprocess.run(
            [sys.executable, "-c", script],
            input=pickle.dumps(INTRA_STATE),
            capture_output=True,
            check=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    ]
    assert outputs[0] == outputs[1] == render(INTRA_STATE)


def test_render_dates_come_from_issued_at_in_the_billing_timezone() -> None:
    metadata = PdfReader(io.BytesIO(render(INTRA_STATE))).metadata
    assert metadata is not None
    assert metadata.creation_date_raw == metadata.modification_date_raw
    assert metadata.creation_date_raw == "D:20261201003000+05'30'"
    assert metadata.title == "Tax Invoice BF/26-27/000123"


@pytest.mark.parametrize(
    ("zone", "date_text", "stamp"),
    [
        ("UTC", "30 Nov 2026", "D:20261130190000+00'00'"),
        ("America/New_York", "30 Nov 2026", "D:20261130140000-05'00'"),
        ("Asia/Kathmandu", "01 Dec 2026", "D:20261201004500+05'45'"),
    ],
)
def test_render_tz_sets_printed_date_and_pdf_stamp(zone: str, date_text: str, stamp: str) -> None:
    pdf = render(INTRA_STATE, ZoneInfo(zone))
    assert f"Invoice date {date_text}" in text_of(pdf)
    metadata = PdfReader(io.BytesIO(pdf)).metadata
    assert metadata is not None and metadata.creation_date_raw == stamp


def test_render_naive_issued_at_raises() -> None:
    with pytest.raises(ValueError, match="aware"):
        render(replace(INTRA_STATE, issued_at=datetime(2026, 12, 1)))


def test_render_zero_usage_renders_zero_total() -> None:
    zero = tuple(
        replace(line, used=Decimal(0), billable=Decimal(0), amount=Decimal("0.00"))
        for line in LINES
    )
    invoice = replace(
        INTRA_STATE,
        lines=zero,
        taxable_value=Decimal("0.00"),
        taxes=tuple(replace(tax, amount=Decimal("0.00")) for tax in INTRA_STATE.taxes),
        total=Decimal("0.00"),
        daily=tuple(DailyUsage(day.day, 0, 0) for day in DAILY),
    )
    text = text_of(render(invoice))
    assert "Total ₹0.00 Rupees Zero Only" in text
    assert "No usage recorded" not in text  # an all-zero month still gets its (flat) chart


def test_render_no_daily_series_says_no_usage_recorded() -> None:
    pdf = render(replace(INTRA_STATE, lines=(), daily=()))
    assert "Daily usage No usage recorded" in text_of(pdf)
    assert pages_of(pdf) == 1


def test_render_long_address_and_many_days_fit_two_pages() -> None:
    address = "\n".join(
        f"Building {i}, a very long street name that goes on and on, Locality {i}, Karnataka"
        for i in range(12)
    )
    buyer = replace(BUYER_KA, address=address + "\n" + "X" * 300)
    daily = tuple(
        DailyUsage(date(2026, 1, 1) + timedelta(days=i), (i % 50) * 10**15, 10**7 + i)
        for i in range(400)
    )
    pdf = render(replace(INTER_STATE, buyer=buyer, daily=daily))
    text = text_of(pdf)
    assert 1 <= pages_of(pdf) <= 2
    assert "Locality 11, Karnataka" in text
    assert "1,00,00,000" in text  # the calls axis, Indian grouping


def test_choose_fonts_without_candidates_falls_back_to_vera_and_rs() -> None:
    assert choose_fonts(()) == Fonts("Vera", "VeraBd", FALLBACK_RUPEE)


def test_choose_fonts_skips_a_missing_candidate(tmp_path: Path) -> None:
    assert choose_fonts([(tmp_path / "a.ttf", tmp_path / "b.ttf")]).rupee == FALLBACK_RUPEE


def test_choose_fonts_skips_a_font_without_the_rupee_sign() -> None:
    vera = Path(reportlab.__file__).parent / "fonts"
    candidate = (vera / "Vera.ttf", vera / "VeraBd.ttf")
    assert choose_fonts([candidate]).rupee == FALLBACK_RUPEE


def test_render_unregistered_fonts_raise() -> None:
    with pytest.raises(ValueError, match="choose_fonts"):
        render(INTRA_STATE, fonts=Fonts("NoSuchSans", "NoSuchSans-Bold", "Rs."))


def test_bundled_vera_lacks_the_rupee_sign() -> None:
    """Why the fallback writes "Rs.": no font shipped with ReportLab has U+20B9."""
    assert ord("₹") not in TTFont("Vera", "Vera.ttf").face.charToGlyph


@pytest.mark.skipif(
    not any(regular.is_file() for regular, _ in RUPEE_FONT_CANDIDATES),
    reason="no DejaVu Sans installed",
)
def test_choose_fonts_prefers_an_installed_font_with_the_rupee_sign() -> None:
    assert choose_fonts().rupee == "₹"


def test_render_fallback_fonts_write_rs() -> None:
    text = text_of(render(INTRA_STATE, fonts=choose_fonts(())))
    assert "Total Rs.1,18,550.93" in text
    assert "Rs.0.001 Rs.466.89" in text
    assert "₹" not in text


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        ("0.001", "₹0.001"),
        ("0.25", "₹0.25"),
        ("0.250", "₹0.25"),  # trailing zeros past the paisa are dropped
        ("0", "₹0.00"),
        ("2", "₹2.00"),
        ("1E+2", "₹100.00"),
        ("0.0000125", "₹0.0000125"),
        ("123456.5", "₹1,23,456.50"),
        ("-1.5", "-₹1.50"),
    ],
    ids=["0.001", "0.25", "0.250", "0", "2", "1E+2", "0.0000125", "123456.5", "-1.5"],
)
def test_format_rate_keeps_its_own_decimals(rate: str, expected: str) -> None:
    assert format_rate(Decimal(rate)) == expected
    assert format_rate(Decimal(rate), "Rs.") == expected.replace("₹", "Rs.")


@pytest.mark.parametrize("rate", ["NaN", "Infinity"])
def test_format_rate_not_finite_raises(rate: str) -> None:
    with pytest.raises(ValueError, match="finite"):
        format_rate(Decimal(rate))


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        ("30", "GB-day", "30.000000"),
        ("1234567.1234565", "GB-day", "12,34,567.123457"),  # half up at the 6th decimal
        ("0.5", "GB", "0.500000"),
        ("1000", "call", "1,000"),
        ("12345678", "call", "1,23,45,678"),
        ("0", "call", "0"),
    ],
)
def test_format_quantity_by_unit(value: str, unit: str, expected: str) -> None:
    assert format_quantity(Decimal(value), unit) == expected
