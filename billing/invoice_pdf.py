"""An `Invoice` as a one- or two-page A4 PDF, laid out as CGST Rule 46 lists a tax invoice.

Owns: the layout (title and status, supplier and recipient, number, date, period and place of
supply, line items, taxes, total in figures and words, payment status, a daily-usage chart), how
quantities and rates are written, and which font carries the rupee sign. Does not own: any
figure on the page (pricing computed and rounded them; `money` formats amounts), numbering, or
storing the bytes (the ledger keeps them with a checksum).

Deterministic: the same Invoice, timezone and fonts give byte-identical PDFs. ReportLab's
invariant mode fixes the document ID and timestamp, and the date formatter stamps
CreationDate/ModDate with `issued_at`. The bytes also depend on the ReportLab and zlib versions
and the font file, so the stored PDF is the record: never re-render to verify a checksum.

Fonts: no font shipped with ReportLab has U+20B9 (its Vera family lacks it), so the rupee sign
needs a system TTF. `choose_fonts` takes the first pair in `RUPEE_FONT_CANDIDATES` (DejaVu
Sans) that exists and has the glyph, and otherwise falls back to ReportLab's bundled Vera with
"Rs." written for "₹" (`FALLBACK_RUPEE`), so a PDF renders everywhere.
"""

from __future__ import annotations

import functools
import io
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from reportlab.graphics import shapes
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from billing.gstin import STATES
from billing.invoice import DailyUsage, Invoice, Line, Party
from billing.money import GB_BYTES, amount_in_words, format_inr, money_context
from billing.periods import days_in

__all__ = [
    "BILLING_TZ",
    "FALLBACK_RUPEE",
    "RUPEE_FONT_CANDIDATES",
    "Fonts",
    "choose_fonts",
    "default_fonts",
    "format_quantity",
    "format_rate",
    "render",
]

BILLING_TZ = ZoneInfo("Asia/Kolkata")

#: (regular, bold) TTFs with U+20B9, tried in order: Debian/Ubuntu, Fedora, Alpine/Arch paths.
RUPEE_FONT_CANDIDATES: tuple[tuple[Path, Path], ...] = tuple(
    (Path(folder, "DejaVuSans.ttf"), Path(folder, "DejaVuSans-Bold.ttf"))
    for folder in (
        "/usr/share/fonts/truetype/dejavu",
        "/usr/share/fonts/dejavu-sans-fonts",
        "/usr/share/fonts/dejavu",
        "/usr/share/fonts/TTF",
    )
)
#: Written for "₹" when no candidate font is installed; Vera is bundled with ReportLab.
FALLBACK_RUPEE = "Rs."
_FALLBACK_FONTS = ("Vera", "Vera.ttf", "VeraBd", "VeraBd.ttf")

#: ReportLab keeps per-document state on shared font objects and module globals, and renders are
#: pure Python (the GIL allows no parallelism anyway), so callers' threads take turns.
_RENDER_LOCK = threading.Lock()

_RUPEE = "\u20b9"
_MINUS = "\u2212"  # a typographic minus for the free-tier deduction; Vera and DejaVu have it
_EN_DASH = "\u2013"
_GB_DAY = GB_BYTES * 86_400  # byte-seconds in one GB-day
_MONTHS = (
    "January February March April May June July August September October November December"
).split()
# Dates are spelled here, never with strftime: its month names follow the process locale.
_PLACES = {"call": 0}  # decimals per unit; GB-day and GB quantities show 6
_DEFAULT_PLACES = 6

_MARGIN = 15 * mm
_WIDTH = A4[0] - 2 * _MARGIN - 12  # inside the frame's default 6 pt padding
_GREY = colors.HexColor("#666666")
_RULE = colors.HexColor("#BBBBBB")
_BADGE = {"issued": "#1F5FAD", "paid": "#1E7B34", "void": "#B3261E"}


@dataclass(frozen=True)
class Fonts:
    """Registered ReportLab font names and how the rupee sign is written with them."""

    regular: str
    bold: str
    rupee: str  # "₹", or FALLBACK_RUPEE when the font lacks the glyph


def choose_fonts(candidates: Iterable[tuple[Path, Path]] = RUPEE_FONT_CANDIDATES) -> Fonts:
    """Register the first (regular, bold) pair that exists and has "₹"; else bundled Vera."""
    for regular, bold in candidates:
        if not (regular.is_file() and bold.is_file()):
            continue
        faces = [TTFont(path.stem, str(path)) for path in (regular, bold)]
        if all(ord(_RUPEE) in face.face.charToGlyph for face in faces):
            for face in faces:
                pdfmetrics.registerFont(face)
            return Fonts(regular.stem, bold.stem, _RUPEE)
    name, file, bold_name, bold_file = _FALLBACK_FONTS
    pdfmetrics.registerFont(TTFont(name, file))
    pdfmetrics.registerFont(TTFont(bold_name, bold_file))
    return Fonts(name, bold_name, FALLBACK_RUPEE)


@functools.cache
def default_fonts() -> Fonts:
    """`choose_fonts()` once per process: parsing a TTF costs more than a render."""
    return choose_fonts()


def render(invoice: Invoice, tz: ZoneInfo = BILLING_TZ, *, fonts: Fonts | None = None) -> bytes:
    """The invoice as PDF bytes; `tz` is the billing timezone its date is printed in.

    `fonts` (from `choose_fonts`) defaults to `default_fonts()`.
    """
    if invoice.issued_at.utcoffset() is None:
        raise ValueError(f"issued_at must be aware, got {invoice.issued_at.isoformat()}")
    issued = invoice.issued_at.astimezone(tz)
    title = "Tax Invoice" if invoice.tax_invoice else "Invoice"
    stamp = _pdf_date(issued)
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=_MARGIN,
        rightMargin=_MARGIN,
        topMargin=_MARGIN,
        bottomMargin=_MARGIN,
        title=f"{title} {invoice.number}",  # the title feeds the invariant document ID
        author=invoice.seller.name,
        subject=f"{title} {invoice.number} for {invoice.period.label}",
        creator="BillFlow",
        invariant=1,
    )

    def on_page(canv: Canvas, page_doc: SimpleDocTemplate) -> None:
        canv.setDateFormatter(lambda *_: stamp)  # CreationDate and ModDate
        canv.setFont(chosen.regular, 7)
        canv.setFillColor(_GREY)
        canv.drawRightString(A4[0] - _MARGIN, 9 * mm, f"{invoice.number} · page {page_doc.page}")

    with _RENDER_LOCK:
        chosen = fonts or default_fonts()
        registered = pdfmetrics.getRegisteredFontNames()
        if chosen.regular not in registered or chosen.bold not in registered:
            raise ValueError(f"fonts {chosen} are not registered: get them from choose_fonts()")
        story = _story(invoice, issued, title, chosen)
        doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return buffer.getvalue()


def format_rate(rate: Decimal, rupee: str = _RUPEE) -> str:
    """A per-unit price with its own decimals (at least two), Indian grouping: ₹0.001, ₹0.25."""
    with money_context():
        exponent = rate.normalize().as_tuple().exponent
        if not isinstance(exponent, int):
            raise ValueError(f"rate must be finite, got {rate}")
        text = format(rate.quantize(Decimal(1).scaleb(min(-2, exponent))), "f")
    sign, text = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, _, fraction = text.partition(".")
    return f"{sign}{rupee}{_grouped(int(whole))}.{fraction}"


def format_quantity(value: Decimal, unit: str) -> str:
    """Calls as whole numbers, GB-days and GB to 6 decimals; Indian grouping either way."""
    places = _PLACES.get(unit, _DEFAULT_PLACES)
    with money_context():
        text = format(value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP), "f")
    sign, text = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, dot, fraction = text.partition(".")
    return f"{sign}{_grouped(int(whole))}{dot}{fraction}"


def _grouped(n: int) -> str:
    """12345678 -> "1,23,45,678", by money's own grouping (a whole amount has ".00" to drop)."""
    return format_inr(Decimal(n), symbol=False).removesuffix(".00")


def _inr(amount: Decimal, fonts: Fonts) -> str:
    return format_inr(amount).replace(_RUPEE, fonts.rupee)


def _day(d: date) -> str:
    return f"{d.day:02d} {_MONTHS[d.month - 1][:3]} {d.year}"


def _pdf_date(at: datetime) -> str:
    offset = at.utcoffset() or timedelta()
    sign = "-" if offset < timedelta() else "+"
    minutes = abs(offset) // timedelta(minutes=1)
    return f"D:{at:%Y%m%d%H%M%S}{sign}{minutes // 60:02d}'{minutes % 60:02d}'"


def _state(code: str) -> str:
    name = STATES.get(code)
    return f"{name} ({code})" if name else code


class _Styles:
    def __init__(self, fonts: Fonts) -> None:
        base = ParagraphStyle("base", fontName=fonts.regular, fontSize=8.5, leading=11)
        self.body = base
        self.small = ParagraphStyle("small", base, fontSize=7.5, leading=9.5)
        self.bold = ParagraphStyle("bold", base, fontName=fonts.bold)
        self.label = ParagraphStyle("label", base, fontSize=7, leading=9, textColor=_GREY)
        self.title = ParagraphStyle("title", base, fontName=fonts.bold, fontSize=18, leading=22)
        self.badge = ParagraphStyle(
            "badge", base, fontName=fonts.bold, fontSize=10, leading=12, textColor=colors.white
        )
        self.label_right = ParagraphStyle("label_right", self.label, alignment=TA_RIGHT)


def _story(invoice: Invoice, issued: datetime, title: str, fonts: Fonts) -> list[object]:
    styles = _Styles(fonts)
    return [
        _header(invoice, title, styles),
        Spacer(1, 4 * mm),
        _parties(invoice, styles),
        Spacer(1, 3 * mm),
        _details(invoice, issued, styles),
        Spacer(1, 4 * mm),
        _lines(invoice.lines, fonts, styles),
        Spacer(1, 2 * mm),
        _totals(invoice, fonts, styles),
        Spacer(1, 2 * mm),
        Paragraph(escape(amount_in_words(invoice.total)), styles.bold),
        Spacer(1, 2 * mm),
        Paragraph(escape(_payment_status(invoice)), styles.body),
        Spacer(1, 5 * mm),
        KeepTogether([Paragraph("Daily usage", styles.bold), _usage_chart(invoice.daily, fonts)]),
        Spacer(1, 6 * mm),
        Paragraph(f"For {escape(invoice.seller.name)}<br/>Authorised signatory", styles.body),
    ]


def _header(invoice: Invoice, title: str, styles: _Styles) -> Table:
    badge = invoice.status.upper()
    if invoice.status == "void":
        badge += f": {invoice.void_reason or 'no reason given'}"
    table = Table(
        [[Paragraph(title, styles.title), Paragraph(escape(badge), styles.badge)]],
        colWidths=[_WIDTH - 62 * mm, 62 * mm],
    )
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("BACKGROUND", (1, 0), (1, 0), colors.HexColor(_BADGE[invoice.status])),
                ("LEFTPADDING", (0, 0), (0, 0), 0),
            ]
        )
    )
    return table


def _party(heading: str, party: Party, styles: _Styles, *, seller: bool) -> list[Paragraph]:
    rows = [Paragraph(heading, styles.label), Paragraph(escape(party.name), styles.bold)]
    rows += [Paragraph(escape(line), styles.body) for line in party.address.splitlines() if line]
    if party.state_code:
        rows.append(Paragraph(f"State: {escape(_state(party.state_code))}", styles.body))
    gstin = party.gstin or ("" if seller else "Unregistered")
    if gstin:
        rows.append(Paragraph(f"GSTIN: {escape(gstin)}", styles.body))
    return rows


def _parties(invoice: Invoice, styles: _Styles) -> Table:
    table = Table(
        [
            [
                _party("Supplier", invoice.seller, styles, seller=True),
                _party("Billed to", invoice.buyer, styles, seller=False),
            ]
        ],
        colWidths=[_WIDTH / 2, _WIDTH / 2],
    )
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BOX", (0, 0), (-1, -1), 0.5, _RULE),
                ("INNERGRID", (0, 0), (-1, -1), 0.5, _RULE),
            ]
        )
    )
    return table


def _details(invoice: Invoice, issued: datetime, styles: _Styles) -> Table:
    period = invoice.period
    first = date(period.year, period.month, 1)
    last = date(period.year, period.month, days_in(period))
    rows = [
        ("Invoice number", invoice.number),
        ("Invoice date", _day(issued.date())),
        (
            "Billing period",
            f"{_MONTHS[period.month - 1]} {period.year} ({_day(first)} {_EN_DASH} {_day(last)})",
        ),
    ]
    if invoice.tax_invoice:
        rows.append(("Place of supply", _state(invoice.place_of_supply) or "Not stated"))
        rows.append(("Tax payable on reverse charge", "No"))
    table = Table(
        [
            [Paragraph(label, styles.label), Paragraph(escape(value), styles.body)]
            for label, value in rows
        ],
        colWidths=[45 * mm, _WIDTH - 45 * mm],
    )
    table.setStyle(
        TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("TOPPADDING", (0, 0), (-1, -1), 1)])
    )
    return table


_LINE_COLUMNS = (  # (heading, width, numeric): numeric columns align right
    ("Description", 30 * mm, False),
    ("SAC", 13 * mm, False),
    ("Used", 26 * mm, True),
    ("Free tier", 26 * mm, True),
    ("Billable", 26 * mm, True),
    ("Unit", 12 * mm, False),
    ("Rate", 17 * mm, True),
    ("Amount", _WIDTH - 150 * mm, True),
)


def _lines(lines: Sequence[Line], fonts: Fonts, styles: _Styles) -> Table:
    header = [
        Paragraph(name, styles.label_right if numeric else styles.label)
        for name, _, numeric in _LINE_COLUMNS
    ]
    body = [
        [
            Paragraph(escape(line.description), styles.small),
            line.sac,
            format_quantity(line.used, line.unit),
            f"{_MINUS} {format_quantity(line.free, line.unit)}",
            format_quantity(line.billable, line.unit),
            line.unit,
            format_rate(line.rate, fonts.rupee),
            _inr(line.amount, fonts),
        ]
        for line in lines
    ]
    table = Table([header, *body], colWidths=[width for _, width, _ in _LINE_COLUMNS], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 1), (-1, -1), fonts.regular, 7.5),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("ALIGN", (2, 1), (4, -1), "RIGHT"),
                ("ALIGN", (6, 1), (7, -1), "RIGHT"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.75, colors.black),
                ("LINEBELOW", (0, 1), (-1, -1), 0.25, _RULE),
                ("LEFTPADDING", (0, 0), (-1, -1), 3),
                ("RIGHTPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


def _percent(rate: Decimal) -> str:
    with money_context():
        return format(rate.normalize(), "f")


def _totals(invoice: Invoice, fonts: Fonts, styles: _Styles) -> Table:
    rows = [("Taxable value" if invoice.tax_invoice else "Subtotal", invoice.taxable_value)]
    rows += [(f"{tax.name} {_percent(tax.rate_percent)}%", tax.amount) for tax in invoice.taxes]
    rows.append(("Total", invoice.total))
    table = Table(
        [[label, _inr(amount, fonts)] for label, amount in rows],
        colWidths=[45 * mm, 35 * mm],
        hAlign="RIGHT",
    )
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -2), fonts.regular, 8.5),
                ("FONT", (0, -1), (-1, -1), fonts.bold, 10),
                ("ALIGN", (1, 0), (1, -1), "RIGHT"),
                ("RIGHTPADDING", (0, 0), (-1, -1), 3),
                ("LINEABOVE", (0, -1), (-1, -1), 0.75, colors.black),
            ]
        )
    )
    return table


def _payment_status(invoice: Invoice) -> str:
    if invoice.status == "paid":
        return "Payment status: Paid"
    if invoice.status == "void":
        reason = invoice.void_reason or "no reason given"
        return f"Payment status: Void {_EN_DASH} not payable ({reason})"
    return "Payment status: Unpaid"


def _usage_chart(daily: Sequence[DailyUsage], fonts: Fonts) -> Drawing:
    """Storage and calls per day as two small bar charts side by side (their scales differ).

    Drawn from plain shapes: ReportLab's VerticalBarChart took two thirds of a render's time.
    """
    height = 42 * mm
    drawing = Drawing(_WIDTH, height)
    if not daily:
        drawing.add(_text(_WIDTH / 2, height / 2, "No usage recorded", fonts, 9, "middle"))
        return drawing
    every = -(-len(daily) // 10)  # at most 10 day labels per axis
    days = [str(d.day.day) if i % every == 0 else "" for i, d in enumerate(daily)]
    series = (
        ("Storage, GB-days per day", [d.byte_seconds / _GB_DAY for d in daily], "#1F5FAD"),
        ("Calls per day", [float(d.calls) for d in daily], "#E08A1E"),
    )
    half = _WIDTH / 2
    for i, (title, values, colour) in enumerate(series):
        left = i * half + 45  # room for the value labels
        drawing.add(_text(left, height - 8, title, fonts, 8))
        _bars(drawing, values, days, colour, fonts, left, 12, half - 55, height - 30)
    return drawing


def _bars(
    drawing: Drawing,
    values: Sequence[float],
    days: Sequence[str],
    colour: str,
    fonts: Fonts,
    x: float,
    y: float,
    width: float,
    height: float,
) -> None:
    step = _tick_step(max(values) or 1.0)
    top = step * math.ceil((max(values) or 1.0) / step)
    for k in range(round(top / step) + 1):
        tick_y = y + height * k / round(top / step)
        drawing.add(shapes.Line(x - 3, tick_y, x, tick_y, strokeWidth=0.5))
        drawing.add(_text(x - 5, tick_y - 2, _tick(k * step), fonts, 6.5, "end"))
    slot = width / len(values)
    fill = colors.HexColor(colour)
    for i, (value, day) in enumerate(zip(values, days, strict=True)):
        if value > 0:
            bar = shapes.Rect(x + i * slot + slot * 0.1, y, slot * 0.8, height * value / top)
            bar.fillColor, bar.strokeColor = fill, None
            drawing.add(bar)
        if day:
            drawing.add(_text(x + (i + 0.5) * slot, y - 8, day, fonts, 6.5, "middle"))
    drawing.add(shapes.Line(x, y, x, y + height, strokeWidth=0.5))
    drawing.add(shapes.Line(x, y, x + width, y, strokeWidth=0.5))


def _tick_step(highest: float) -> float:
    """A 1, 2 or 5 times a power of ten giving about four ticks up to `highest`."""
    rough = highest / 4
    magnitude = 10.0 ** math.floor(math.log10(rough))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= rough)


def _tick(value: float) -> str:
    if value == int(value):
        return _grouped(int(value))
    return f"{value:.3g}"


def _text(
    x: float, y: float, text: str, fonts: Fonts, size: float, anchor: str = "start"
) -> String:
    return String(x, y, text, fontName=fonts.regular, fontSize=size, textAnchor=anchor)
