"""Tables for billing/pricing.py: free tier, lines, free-call allocation, rounding and GST."""

from __future__ import annotations

import dataclasses
import decimal
from decimal import Decimal
from fractions import Fraction
from math import floor
from typing import Any

import pytest

from billing import pricing
from billing.gstin import check_character
from billing.invoice import Line, Party, Tariff, Usage
from billing.money import GB_BYTES, money_context, round_line
from billing.periods import Period, days_in
from billing.pricing import GB_DAY_BYTE_SECONDS, Priced, price

D = GB_DAY_BYTE_SECONDS  # byte-seconds in one GB-day
FEB_2026, FEB_2028, APR_2026, JAN_2026 = (
    Period(2026, 2),
    Period(2028, 2),
    Period(2026, 4),
    Period(2026, 1),
)
MONTHS = [
    pytest.param(FEB_2026, id="28-days"),
    pytest.param(FEB_2028, id="29-days-leap"),
    pytest.param(APR_2026, id="30-days"),
    pytest.param(JAN_2026, id="31-days"),
]


def _gstin(state: str, pan: str = "AAPFU0939F") -> str:
    first14 = f"{state}{pan}1Z"
    return first14 + check_character(first14)


SELLER = Party("BillFlow Pvt Ltd", state_code="27", gstin=_gstin("27"))  # Maharashtra
SAME_STATE = Party("Pune Co", gstin=_gstin("27", "AABCP1234Q"))
OTHER_STATE = Party("Bengaluru Co", gstin=_gstin("29", "AABCB1234Q"))  # Karnataka
UNREGISTERED = Party("Asha")  # no GSTIN, no state on record


def _usage(
    period: Period = JAN_2026,
    *,
    gb_days: int = 0,
    byte_seconds: int = 0,
    calls: dict[str, int] | None = None,
    bytes_out: int = 0,
) -> Usage:
    return Usage(
        period=period,
        days=days_in(period),
        byte_seconds=gb_days * D + byte_seconds,
        billable_calls=calls or {},
        bytes_out=bytes_out,
    )


def _free_tier(period: Period, *, byte_seconds: int = 0, calls: int = 0, gb_days: int = 0) -> Usage:
    """Exactly 1 GB all month and exactly 1,000 billable calls, plus the extras given."""
    return _usage(
        period,
        gb_days=days_in(period) + gb_days,
        byte_seconds=byte_seconds,
        calls={"write": 600 + calls, "read": 400},
    )


def _line(priced: Priced, description: str) -> Line:
    (line,) = (line for line in priced.lines if line.description == description)
    return line


def _half_up(value: Fraction) -> Decimal:
    """The reference rounding, in integers: half away from zero for a non-negative value."""
    return Decimal(floor(value * 100 + Fraction(1, 2))).scaleb(-2)


# --- the free tier -----------------------------------------------------------------------------


@pytest.mark.parametrize("period", MONTHS)
@pytest.mark.parametrize("buyer", [SAME_STATE, OTHER_STATE, UNREGISTERED], ids=lambda p: p.name)
def test_price_exactly_1gb_and_1000_calls_bills_zero(period: Period, buyer: Party) -> None:
    priced = price(_free_tier(period), Tariff(), seller=SELLER, buyer=buyer)
    assert [str(line.amount) for line in priced.lines] == ["0.00"] * 4
    assert str(priced.taxable_value) == "0.00"
    assert [str(tax.amount) for tax in priced.taxes] in (["0.00"], ["0.00", "0.00"])
    assert str(priced.total) == "0.00"
    storage = priced.lines[0]
    assert storage.used == storage.free == days_in(period)
    assert storage.billable == 0


@pytest.mark.parametrize("period", MONTHS)
@pytest.mark.parametrize(
    "extra, storage, calls, taxable, igst, cgst",
    [
        pytest.param(
            {"byte_seconds": 1}, "0.00", "0.00", "0.00", "0.00", "0.00", id="1-byte-second"
        ),
        pytest.param({"calls": 1}, "0.00", "0.00", "0.00", "0.00", "0.00", id="1-call-is-0.001"),
        pytest.param({"calls": 4}, "0.00", "0.00", "0.00", "0.00", "0.00", id="4-calls-is-0.004"),
        pytest.param({"calls": 5}, "0.00", "0.01", "0.01", "0.00", "0.00", id="5-calls-half-up"),
        pytest.param({"calls": 10}, "0.00", "0.01", "0.01", "0.00", "0.00", id="10-calls"),
        pytest.param({"gb_days": 1}, "0.25", "0.00", "0.25", "0.05", "0.02", id="1-gb-day"),
    ],
)
def test_price_just_past_free_tier_smallest_amounts(
    period: Period,
    extra: dict[str, int],
    storage: str,
    calls: str,
    taxable: str,
    igst: str,
    cgst: str,
) -> None:
    usage = _free_tier(period, **extra)
    inter = price(usage, Tariff(), seller=SELLER, buyer=OTHER_STATE)
    intra = price(usage, Tariff(), seller=SELLER, buyer=SAME_STATE)
    assert str(inter.lines[0].amount) == storage
    # Write's calls take the free allowance first, so the extra calls are billed on read.
    assert [str(line.amount) for line in inter.lines[1:3]] == ["0.00", calls]
    assert str(inter.taxable_value) == taxable
    assert [str(t.amount) for t in inter.taxes] == [igst]
    assert [str(t.amount) for t in intra.taxes] == [cgst, cgst]
    assert inter.total == inter.taxable_value + Decimal(igst)
    assert intra.total == intra.taxable_value + 2 * Decimal(cgst)


@pytest.mark.parametrize("period", MONTHS)
def test_price_one_byte_second_over_is_billable_but_rounds_to_zero(period: Period) -> None:
    storage = price(_free_tier(period, byte_seconds=1), Tariff(), seller=SELLER, buyer=SAME_STATE)
    line = storage.lines[0]
    assert line.billable > 0
    assert abs(Fraction(line.billable) - Fraction(1, D)) < Fraction(1, D * 10**40)
    assert str(line.amount) == "0.00"


@pytest.mark.parametrize(
    "period, amount",
    [
        pytest.param(FEB_2026, "7.00", id="28-days"),
        pytest.param(FEB_2028, "7.25", id="29-days"),
        pytest.param(APR_2026, "7.50", id="30-days"),
        pytest.param(JAN_2026, "7.75", id="31-days"),
    ],
)
def test_price_2gb_all_month_bills_one_gb_for_each_day(period: Period, amount: str) -> None:
    usage = _usage(period, gb_days=2 * days_in(period))
    line = price(usage, Tariff(), seller=SELLER, buyer=SAME_STATE).lines[0]
    assert (line.used, line.free, line.billable) == (
        Decimal(2 * days_in(period)),
        Decimal(days_in(period)),
        Decimal(days_in(period)),
    )
    assert str(line.amount) == amount


# --- lines -------------------------------------------------------------------------------------


def test_price_lines_always_present_in_order_with_units() -> None:
    tariff = Tariff(
        inr_per_call={
            "select": Decimal("0.002"),
            "read": Decimal("0.001"),
            "archive": Decimal("0.01"),
            "write": Decimal("0.005"),
        }
    )
    priced = price(_usage(), tariff, seller=SELLER, buyer=SAME_STATE)
    assert [(line.description, line.unit) for line in priced.lines] == [
        ("Storage", "GB-day"),
        ("Write requests", "call"),
        ("Read requests", "call"),
        ("Archive requests", "call"),
        ("Select requests", "call"),
        ("Egress", "GB"),
    ]
    assert all(line.sac == "998315" for line in priced.lines)
    assert all(str(line.amount) == "0.00" for line in priced.lines)


W5, R1, S2 = Decimal("0.005"), Decimal("0.001"), Decimal("0.002")


@pytest.mark.parametrize(
    "rates, calls, expected",
    [
        pytest.param(
            {"write": W5, "read": R1},
            {"write": 600, "read": 600},
            [("Write", 600, 600, 0, "0.00"), ("Read", 600, 400, 200, "0.20")],
            id="write-first-then-read-takes-the-rest",
        ),
        pytest.param(
            {"write": W5, "read": R1},
            {"write": 1200, "read": 300},
            [("Write", 1200, 1000, 200, "1.00"), ("Read", 300, 0, 300, "0.30")],
            id="write-uses-it-all",
        ),
        pytest.param(
            {"write": W5, "read": R1},
            {"read": 1500},
            [("Write", 0, 0, 0, "0.00"), ("Read", 1500, 1000, 500, "0.50")],
            id="no-writes-read-gets-all",
        ),
        pytest.param(
            {"select": S2, "read": R1, "write": W5},
            {"write": 300, "read": 300, "select": 900},
            [
                ("Write", 300, 300, 0, "0.00"),
                ("Read", 300, 300, 0, "0.00"),
                ("Select", 900, 400, 500, "1.00"),
            ],
            id="other-classes-after-read",
        ),
        pytest.param(
            {"write": W5, "read": R1},
            {"write": 300, "read": 300, "free": 5000},
            [("Write", 300, 300, 0, "0.00"), ("Read", 300, 300, 0, "0.00")],
            id="unpriced-class-takes-none",
        ),
        pytest.param(
            {"read": R1},
            {"write": 5000, "read": 1200},
            [("Read", 1200, 1000, 200, "0.20")],
            id="write-without-rate-is-free-no-line",
        ),
        pytest.param(
            {"write": W5, "read": Decimal(0)},
            {"write": 100, "read": 5000},
            [("Write", 100, 100, 0, "0.00"), ("Read", 5000, 900, 4100, "0.00")],
            id="zero-rate-class-still-a-line",
        ),
    ],
)
def test_price_free_calls_allocated_in_line_order(
    rates: dict[str, Decimal], calls: dict[str, int], expected: list[tuple[str, int, int, int, str]]
) -> None:
    priced = price(_usage(calls=calls), Tariff(inr_per_call=rates), seller=SELLER, buyer=SAME_STATE)
    call_lines = [line for line in priced.lines if line.unit == "call"]
    got = [
        (
            line.description.removesuffix(" requests"),
            line.used,
            line.free,
            line.billable,
            str(line.amount),
        )
        for line in call_lines
    ]
    assert got == [(n, Decimal(u), Decimal(f), Decimal(b), a) for n, u, f, b, a in expected]
    assert sum(line.free for line in call_lines) <= 1000


def test_price_free_calls_setting_is_the_allowance() -> None:
    tariff = Tariff(free_calls=0)
    priced = price(_usage(calls={"write": 10, "read": 5}), tariff, seller=SELLER, buyer=SAME_STATE)
    assert [str(line.amount) for line in priced.lines[1:3]] == ["0.01", "0.01"]  # 0.010, 0.005


@pytest.mark.parametrize(
    "bytes_out, rate, used, amount",
    [
        pytest.param(0, None, "0", "0.00", id="default-rate-nothing-out"),
        pytest.param(7 * GB_BYTES // 2, None, "3.5", "0.00", id="default-rate-is-zero"),
        pytest.param(GB_BYTES // 2, "8", "0.5", "4.00", id="half-gb"),
        pytest.param(
            3 * GB_BYTES + 1,
            "9.99",
            "3.000000000931322574615478515625",
            "29.97",
            id="one-byte-over-exact",
        ),
        pytest.param(
            GB_BYTES * 1000 // 1024, "0.01", "0.9765625", "0.01", id="half-up-0.009765625"
        ),
        pytest.param(2**50, "8.5", "1048576", "8912896.00", id="a-pebibyte"),
    ],
)
def test_price_egress_line(bytes_out: int, rate: str | None, used: str, amount: str) -> None:
    tariff = Tariff() if rate is None else Tariff(inr_per_gb_egress=Decimal(rate))
    line = price(_usage(bytes_out=bytes_out), tariff, seller=SELLER, buyer=SAME_STATE).lines[-1]
    assert (line.description, line.unit, line.free) == ("Egress", "GB", Decimal(0))
    assert line.used == line.billable == Decimal(used)
    assert str(line.amount) == amount


# --- quantities and exactness ------------------------------------------------------------------


@pytest.mark.parametrize(
    "byte_seconds",
    [
        pytest.param(31 * D, id="whole-gb-days"),
        pytest.param(31 * D + 27, id="multiple-of-27-terminates"),
        pytest.param(D // 3, id="third-of-a-gb-day"),
        pytest.param(31 * D + 1, id="one-byte-second-over"),
        pytest.param(5 * 2**50 * 86_400 * 31 + 1, id="5-pib-all-month-plus-1"),
    ],
)
def test_price_storage_quantities_are_full_precision(byte_seconds: int) -> None:
    """Used and billable are not display-rounded: exact when the quotient terminates, else 50
    significant digits; the amount is the exact quotient x rate rounded once."""
    usage = _usage(byte_seconds=byte_seconds)
    line = price(usage, Tariff(), seller=SELLER, buyer=SAME_STATE).lines[0]
    used, billable = Fraction(byte_seconds, D), max(Fraction(0), Fraction(byte_seconds, D) - 31)
    if (byte_seconds % 27) == 0:
        assert Fraction(line.used) == used
    assert abs(Fraction(line.used) - used) <= used / 10**49
    assert abs(Fraction(line.billable) - billable) <= billable / 10**49
    assert line.amount == _half_up(billable * Fraction("0.25"))


def test_price_5_pib_for_a_month_is_exact() -> None:
    usage = _usage(byte_seconds=5 * 2**50 * 86_400 * 31, calls={"write": 10**12 + 1000})
    priced = price(usage, Tariff(), seller=SELLER, buyer=OTHER_STATE)
    assert priced.lines[0].used == 5 * 2**20 * 31
    assert str(priced.lines[0].amount) == "40632312.25"  # (162,529,280 - 31) x 0.25
    assert str(priced.lines[1].amount) == "1000000000.00"
    assert str(priced.taxable_value) == "1040632312.25"
    assert str(priced.taxes[0].amount) == "187313816.21"  # 18% = 187,313,816.205
    assert str(priced.total) == "1227946128.46"


@pytest.mark.parametrize(
    "billable_calls, amount",
    [
        pytest.param(12, "0.00", id="0.0048"),
        pytest.param(13, "0.01", id="0.0052"),
        pytest.param(37, "0.01", id="0.0148"),
        pytest.param(38, "0.02", id="0.0152"),
        pytest.param(12_500, "5.00", id="5.0000"),
        pytest.param(10**12 + 1, "400000000.00", id="400000000.0004"),
    ],
)
def test_price_sub_paisa_rate_per_call(billable_calls: int, amount: str) -> None:
    tariff = Tariff(inr_per_call={"write": Decimal("0.0004")})
    usage = _usage(calls={"write": 1000 + billable_calls})
    assert str(price(usage, tariff, seller=SELLER, buyer=SAME_STATE).lines[1].amount) == amount


@pytest.mark.parametrize(
    "byte_seconds, rate",
    [
        pytest.param(D // 50, "0.25", id="tie-0.005-rounds-up"),
        pytest.param(D // 50 - 1, "0.25", id="just-below-tie"),
        pytest.param(D * 493_826 // 100, "0.25", id="tie-1234.565"),
        pytest.param(D * 493_826 // 100 - 1, "0.25", id="just-below-1234.565"),
        pytest.param(D + 1, "0.2500000001", id="ten-decimal-rate"),
        pytest.param(123_456_789_012_345, "0.0000000001234567891234", id="tiny-rate"),
        pytest.param(
            7 * 2**50 * 86_400 * 30 + 12_345, "3.14159265358979323846", id="pi-per-gb-day"
        ),
    ],
)
def test_price_storage_amount_matches_exact_reference(byte_seconds: int, rate: str) -> None:
    tariff = Tariff(free_storage_gb=Decimal(0), inr_per_gb_day=Decimal(rate))
    line = price(_usage(byte_seconds=byte_seconds), tariff, seller=SELLER, buyer=SAME_STATE).lines[
        0
    ]
    assert line.amount == _half_up(Fraction(byte_seconds, D) * Fraction(rate))


def test_price_amount_exact_where_half_up_division_would_round_onto_the_tie() -> None:
    """1 byte-second at a 50-digit rate whose true amount is 1.005 - 1.08e-50: dividing half up
    at 50 digits lands on 1.005 (-> 1.01); the truncated division keeps it below (-> 1.00)."""
    with money_context():
        rate = Decimal("1.005") * D - Decimal("1E-36")
        naive = round_line(rate / D)
    tariff = Tariff(free_storage_gb=Decimal(0), inr_per_gb_day=rate)
    line = price(_usage(byte_seconds=1), tariff, seller=SELLER, buyer=SAME_STATE).lines[0]
    assert str(naive) == "1.01"
    assert Fraction(rate) / D < Fraction("1.005")
    assert str(line.amount) == "1.00"


def test_price_product_beyond_50_digits_raises_instead_of_rounding() -> None:
    rate = Decimal("1." + "1" * 49)
    tariff = Tariff(free_storage_gb=Decimal(0), inr_per_gb_day=rate)
    with pytest.raises(ValueError, match="50 significant digits"):
        price(_usage(byte_seconds=10**20 + 1), tariff, seller=SELLER, buyer=SAME_STATE)


@pytest.mark.parametrize(
    "usage",
    [
        pytest.param(_usage(gb_days=31), id="exact-storage"),
        pytest.param(_usage(gb_days=45, calls={"write": 1234, "read": 567}), id="mixed"),
        pytest.param(_usage(gb_days=3, calls={"read": 5000}, bytes_out=5 * GB_BYTES), id="small"),
    ],
)
def test_price_line_invariants_hold(usage: Usage) -> None:
    tariff = Tariff(inr_per_gb_egress=Decimal("0.7"))
    for line in price(usage, tariff, seller=SELLER, buyer=SAME_STATE).lines:
        assert line.billable == max(Decimal(0), line.used - line.free)
        assert line.amount == round_line(line.billable * line.rate)


# --- rounding: per line, subtotal, tax ---------------------------------------------------------


@pytest.mark.parametrize(
    "rates, calls, ours, rounded_once",
    [
        pytest.param(
            {"write": R1, "read": R1},
            {"write": 1005, "read": 5},
            "0.02",
            "0.01",
            id="two-half-paisa-lines-each-round-up",
        ),
        pytest.param(
            {"write": Decimal("0.0044"), "read": Decimal("0.0044")},
            {"write": 1001, "read": 1},
            "0.00",
            "0.01",
            id="two-0.0044-lines-each-round-down",
        ),
    ],
)
def test_price_subtotal_is_sum_of_rounded_lines(
    rates: dict[str, Decimal], calls: dict[str, int], ours: str, rounded_once: str
) -> None:
    priced = price(_usage(calls=calls), Tariff(inr_per_call=rates), seller=SELLER, buyer=SAME_STATE)
    exact = [Fraction(line.billable) * Fraction(line.rate) for line in priced.lines]
    exact_sum = sum(exact, Fraction(0))
    assert str(_half_up(exact_sum)) == rounded_once  # the rule we do not follow
    assert str(priced.taxable_value) == ours
    assert priced.taxable_value == sum(line.amount for line in priced.lines)


@pytest.mark.parametrize(
    "usage, buyer, taxable, taxes, not_ours",
    [
        pytest.param(
            _usage(calls={"write": 1030, "read": 30}),
            OTHER_STATE,
            "0.06",
            [("IGST", "18", "0.01")],
            "0.02",
            id="on-subtotal-not-per-line",
        ),
        pytest.param(
            _usage(gb_days=31, byte_seconds=D // 10),
            OTHER_STATE,
            "0.03",
            [("IGST", "18", "0.01")],
            "0.00",
            id="on-rounded-subtotal-not-exact-0.025",
        ),
        pytest.param(
            _usage(gb_days=32),
            OTHER_STATE,
            "0.25",
            [("IGST", "18", "0.05")],
            "0.04",
            id="igst-0.045-vs-cgst-sgst-0.0225-each",
        ),
        pytest.param(
            _usage(gb_days=32),
            SAME_STATE,
            "0.25",
            [("CGST", "9", "0.02"), ("SGST", "9", "0.02")],
            "0.05",
            id="cgst-sgst-rounded-separately",
        ),
    ],
)
def test_price_tax_on_rounded_taxable_value(
    usage: Usage, buyer: Party, taxable: str, taxes: list[tuple[str, str, str]], not_ours: str
) -> None:
    """`not_ours` is what the rejected alternative gives: per-line tax, tax on the unrounded
    sum, or the other tax split (IGST vs CGST+SGST)."""
    priced = price(usage, Tariff(), seller=SELLER, buyer=buyer)
    assert str(priced.taxable_value) == taxable
    assert [(t.name, str(t.rate_percent), str(t.amount)) for t in priced.taxes] == taxes
    assert str(sum(t.amount for t in priced.taxes)) != not_ours
    assert priced.total == priced.taxable_value + sum(t.amount for t in priced.taxes)


# --- GST: place of supply and the split --------------------------------------------------------


@pytest.mark.parametrize(
    "buyer, place, names",
    [
        pytest.param(SAME_STATE, "27", ["CGST", "SGST"], id="gstin-same-state"),
        pytest.param(OTHER_STATE, "29", ["IGST"], id="gstin-other-state"),
        pytest.param(
            Party("B", state_code="29", gstin=_gstin("29")),
            "29",
            ["IGST"],
            id="gstin-and-matching-state-code",
        ),
        pytest.param(
            Party("B", gstin=_gstin("27").lower()), "27", ["CGST", "SGST"], id="lower-case-gstin"
        ),
        pytest.param(
            Party("B", state_code="27"), "27", ["CGST", "SGST"], id="unregistered-same-state"
        ),
        pytest.param(Party("B", state_code="07"), "07", ["IGST"], id="unregistered-delhi"),
        pytest.param(Party("B", gstin=""), "27", ["CGST", "SGST"], id="empty-gstin-is-none"),
        pytest.param(UNREGISTERED, "27", ["CGST", "SGST"], id="unknown-state-is-suppliers"),
    ],
)
def test_price_place_of_supply_and_split(buyer: Party, place: str, names: list[str]) -> None:
    priced = price(_usage(gb_days=131), Tariff(), seller=SELLER, buyer=buyer)  # ₹25.00
    assert priced.tax_invoice is True
    assert priced.place_of_supply == place
    assert [t.name for t in priced.taxes] == names
    expected = {"IGST": ("18", "4.50"), "CGST": ("9", "2.25"), "SGST": ("9", "2.25")}
    assert [(str(t.rate_percent), str(t.amount)) for t in priced.taxes] == [
        expected[n] for n in names
    ]
    assert str(priced.total) == "29.50"


@pytest.mark.parametrize(
    "rate, buyer, taxes",
    [
        pytest.param(
            "5", SAME_STATE, [("CGST", "2.5", "0.63"), ("SGST", "2.5", "0.63")], id="5-intra"
        ),
        pytest.param("5", OTHER_STATE, [("IGST", "5", "1.25")], id="5-inter"),
        pytest.param("0", OTHER_STATE, [("IGST", "0", "0.00")], id="zero-rated"),
    ],
)
def test_price_other_tax_rates(rate: str, buyer: Party, taxes: list[tuple[str, str, str]]) -> None:
    priced = price(
        _usage(gb_days=131), Tariff(tax_rate_percent=Decimal(rate)), seller=SELLER, buyer=buyer
    )
    assert [(t.name, str(t.rate_percent), str(t.amount)) for t in priced.taxes] == taxes


@pytest.mark.parametrize(
    "seller, buyer, place, names",
    [
        pytest.param(
            Party("S", state_code="29"),
            OTHER_STATE,
            "29",
            ["CGST", "SGST"],
            id="seller-state-code-only",
        ),
        pytest.param(
            Party("S", gstin=_gstin("29")),
            OTHER_STATE,
            "29",
            ["CGST", "SGST"],
            id="seller-gstin-only",
        ),
        pytest.param(Party("S"), UNREGISTERED, "", ["CGST", "SGST"], id="nothing-known"),
        pytest.param(Party("S"), OTHER_STATE, "29", ["IGST"], id="seller-unknown-buyer-known"),
    ],
)
def test_price_seller_state(seller: Party, buyer: Party, place: str, names: list[str]) -> None:
    priced = price(_usage(gb_days=131), Tariff(), seller=seller, buyer=buyer)
    assert (priced.place_of_supply, [t.name for t in priced.taxes]) == (place, names)


@pytest.mark.parametrize(
    "buyer",
    [SAME_STATE, OTHER_STATE, UNREGISTERED, Party("X", gstin="junk")],
    ids=["same", "other", "unknown", "invalid-gstin-unchecked"],
)
def test_price_tax_disabled_plain_invoice(buyer: Party) -> None:
    priced = price(_usage(gb_days=131), Tariff(tax_enabled=False), seller=Party("S"), buyer=buyer)
    assert priced.taxes == ()
    assert priced.place_of_supply == ""
    assert priced.tax_invoice is False
    assert str(priced.total) == str(priced.taxable_value) == "25.00"


@pytest.mark.parametrize(
    "seller, buyer, message",
    [
        pytest.param(SELLER, Party("B", gstin="27AAPFU0939F1ZX"), "buyer GSTIN", id="bad-check"),
        pytest.param(
            SELLER,
            Party("B", state_code="27", gstin=_gstin("29")),
            "not the state of its",
            id="state-code-contradicts-gstin",
        ),
        pytest.param(
            SELLER, Party("B", state_code="00"), "not a GST state code", id="unknown-code"
        ),
        pytest.param(
            SELLER, Party("B", state_code="Maharashtra"), "not a GST state code", id="name-not-code"
        ),
        pytest.param(Party("S", gstin="bogus"), SAME_STATE, "seller GSTIN", id="bad-seller-gstin"),
        pytest.param(
            Party("S", state_code="29", gstin=_gstin("27")),
            SAME_STATE,
            "seller state_code",
            id="seller-contradiction",
        ),
    ],
)
def test_price_bad_party_raises(seller: Party, buyer: Party, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        price(_usage(), Tariff(), seller=seller, buyer=buyer)


# --- bad input, floats -------------------------------------------------------------------------


def _replace_usage(**changes: Any) -> Usage:
    return dataclasses.replace(_usage(gb_days=40, calls={"write": 5}), **changes)


def _tariff(**changes: Any) -> Tariff:
    """A Tariff with unchecked values, floats included (as a careless caller might build)."""
    return Tariff(**changes)


@pytest.mark.parametrize(
    "usage, tariff, error, message",
    [
        pytest.param(
            _replace_usage(byte_seconds=-1), Tariff(), ValueError, "byte_seconds", id="neg-storage"
        ),
        pytest.param(
            _replace_usage(bytes_out=-1), Tariff(), ValueError, "bytes_out", id="neg-egress"
        ),
        pytest.param(
            _replace_usage(bytes_in=-1), Tariff(), ValueError, "bytes_in", id="neg-ingress"
        ),
        pytest.param(
            _replace_usage(billable_calls={"read": -1}),
            Tariff(),
            ValueError,
            "read",
            id="neg-calls",
        ),
        pytest.param(
            _replace_usage(days=30), Tariff(), ValueError, "has 31 days", id="days-not-period"
        ),
        pytest.param(
            _replace_usage(byte_seconds=1.5), Tariff(), TypeError, "int", id="float-storage"
        ),
        pytest.param(
            _replace_usage(billable_calls={"read": 2.0}),
            Tariff(),
            TypeError,
            "int",
            id="float-calls",
        ),
        pytest.param(_replace_usage(bytes_out=True), Tariff(), TypeError, "int", id="bool-bytes"),
        pytest.param(
            _usage(), Tariff(inr_per_gb_day=Decimal("-0.25")), ValueError, "negative", id="neg-rate"
        ),
        pytest.param(
            _usage(),
            Tariff(inr_per_call={"read": Decimal(-1)}),
            ValueError,
            "negative",
            id="neg-call-rate",
        ),
        pytest.param(
            _usage(),
            Tariff(free_storage_gb=Decimal(-1)),
            ValueError,
            "negative",
            id="neg-free-storage",
        ),
        pytest.param(_usage(), Tariff(free_calls=-1), ValueError, "negative", id="neg-free-calls"),
        pytest.param(_usage(), _tariff(inr_per_gb_day=0.25), TypeError, "Decimal", id="float-rate"),
        pytest.param(
            _usage(),
            _tariff(inr_per_call={"read": 0.001}),
            TypeError,
            "Decimal",
            id="float-call-rate",
        ),
        pytest.param(_usage(), _tariff(free_storage_gb=1.0), TypeError, "Decimal", id="float-free"),
        pytest.param(_usage(), _tariff(free_calls=1000.0), TypeError, "int", id="float-free-calls"),
        pytest.param(
            _usage(), Tariff(inr_per_gb_day=Decimal("NaN")), ValueError, "finite", id="nan-rate"
        ),
        pytest.param(
            _usage(), Tariff(tax_rate_percent=Decimal(101)), ValueError, "100", id="tax-over-100"
        ),
        pytest.param(
            _usage(),
            Tariff(tax_rate_percent=Decimal(-18)),
            ValueError,
            "negative",
            id="negative-tax",
        ),
        pytest.param(_usage(), Tariff(currency="USD"), ValueError, "INR", id="not-rupees"),
        pytest.param(
            _usage(), _tariff(inr_per_call={"": R1}), ValueError, "name", id="blank-class"
        ),
        pytest.param(
            _replace_usage(period="2026-01"), Tariff(), TypeError, "Period", id="period-not-period"
        ),
    ],
)
def test_price_bad_input_raises(
    usage: Usage, tariff: Tariff, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        price(usage, tariff, seller=SELLER, buyer=SAME_STATE)


def test_price_runs_with_float_operation_trapped(monkeypatch: pytest.MonkeyPatch) -> None:
    """A float reaching Decimal anywhere inside pricing raises, though the ambient context
    (pytest's) does not trap it."""
    half = 0.5
    assert Decimal(half) == Decimal("0.5")  # the default context only flags it

    def leaky_round(amount: Decimal) -> Decimal:
        return round_line(amount) + Decimal(half)

    monkeypatch.setattr(pricing, "round_line", leaky_round)
    with pytest.raises(decimal.FloatOperation):
        price(_usage(gb_days=40), Tariff(), seller=SELLER, buyer=SAME_STATE)


def _floats_in(value: object) -> list[object]:
    if isinstance(value, float):
        return [value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [
            f for field in dataclasses.fields(value) for f in _floats_in(getattr(value, field.name))
        ]
    if isinstance(value, tuple | list):
        return [f for item in value for f in _floats_in(item)]
    return []


@pytest.mark.parametrize("buyer", [SAME_STATE, OTHER_STATE], ids=["intra", "inter"])
def test_price_result_has_decimals_never_floats(buyer: Party) -> None:
    usage = _usage(gb_days=77, byte_seconds=12_345, calls={"write": 4321, "x": 9}, bytes_out=10**9)
    tariff = Tariff(inr_per_call={"write": R1, "x": S2}, inr_per_gb_egress=Decimal("7.5"))
    priced = price(usage, tariff, seller=SELLER, buyer=buyer)
    assert _floats_in(priced) == []
    for line in priced.lines:
        for name in ("used", "free", "billable", "rate", "amount"):
            assert type(getattr(line, name)) is Decimal
    assert all(type(t.amount) is Decimal and type(t.rate_percent) is Decimal for t in priced.taxes)
    assert type(priced.taxable_value) is Decimal and type(priced.total) is Decimal


def test_price_leaves_the_ambient_decimal_context_alone() -> None:
    before = decimal.getcontext()
    traps = dict(before.traps)
    price(_usage(gb_days=40), Tariff(), seller=SELLER, buyer=SAME_STATE)
    assert decimal.getcontext() is before
    assert dict(before.traps) == traps


def test_priced_is_frozen() -> None:
    priced = price(_usage(), Tariff(), seller=SELLER, buyer=SAME_STATE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        priced.total = Decimal(1)  # type: ignore[misc]
