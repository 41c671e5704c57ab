"""Tables for billing/money.py: the float trap, rounding, ₹ grouping and amounts in words."""

from __future__ import annotations

import decimal
from decimal import Decimal

import pytest

from billing.money import (
    GB_BYTES,
    MONEY_CONTEXT,
    PAISE,
    amount_in_words,
    format_inr,
    in_money_context,
    money_context,
    round_line,
    to_decimal,
)


def test_gb_is_binary_and_paise_is_a_hundredth() -> None:
    assert GB_BYTES == 1_073_741_824
    assert Decimal(100) * PAISE == Decimal(1)


def test_money_context_decimal_from_float_raises() -> None:
    value = 1.1
    with money_context(), pytest.raises(decimal.FloatOperation):
        Decimal(value)


def test_money_context_float_comparison_raises() -> None:
    with money_context(), pytest.raises(decimal.FloatOperation):
        _ = Decimal("1.1") < 1.2


def test_money_context_leaves_the_ambient_context_alone() -> None:
    before = decimal.getcontext()
    with money_context() as ctx:
        assert ctx.traps[decimal.FloatOperation]
        assert ctx is not MONEY_CONTEXT  # a copy: nothing can mutate the shared one
    assert decimal.getcontext() is before


def test_in_money_context_decorated_function_traps_float() -> None:
    @in_money_context
    def build(value: float) -> Decimal:
        return Decimal(value)

    with pytest.raises(decimal.FloatOperation):
        build(0.5)


def test_money_context_division_by_zero_raises() -> None:
    with money_context(), pytest.raises(decimal.DivisionByZero):
        Decimal(1) / Decimal(0)


def test_money_context_realistic_product_is_exact() -> None:
    """A month of ~10 PiB stored times a 13-digit rate loses no digit before round_line."""
    byte_seconds = 10 * 2**50 * 31 * 86_400 + 7
    with money_context():
        product = Decimal(byte_seconds) * Decimal("0.0000000001234567891234")
    _, digits, exponent = product.as_tuple()
    assert exponent == -22
    assert int("".join(map(str, digits))) == byte_seconds * 1234567891234
    assert len(str(byte_seconds * 1234567891234)) > 28  # more than the default context keeps


@pytest.mark.parametrize(
    "value, expected",
    [
        pytest.param("1.10", Decimal("1.10"), id="str-keeps-scale"),
        pytest.param("-0.5", Decimal("-0.5"), id="negative"),
        pytest.param("+7", Decimal(7), id="plus-sign"),
        pytest.param(".5", Decimal("0.5"), id="leading-dot"),
        pytest.param("5.", Decimal(5), id="trailing-dot"),
        pytest.param("1E+2", Decimal(100), id="exponent-as-str-decimal-writes-it"),
        pytest.param("1E-7", Decimal("0.0000001"), id="small-exponent"),
        pytest.param(42, Decimal(42), id="int"),
        pytest.param(10**30, Decimal(10**30), id="huge-int-exact"),
        pytest.param(Decimal("3.14"), Decimal("3.14"), id="decimal"),
    ],
)
def test_to_decimal_accepted_input_converts_exactly(
    value: str | int | Decimal, expected: Decimal
) -> None:
    result = to_decimal(value)
    assert result == expected
    assert isinstance(result, Decimal)


@pytest.mark.parametrize(
    "value, error",
    [
        pytest.param(1.1, TypeError, id="float"),
        pytest.param(1.0, TypeError, id="integral-float"),
        pytest.param(True, TypeError, id="bool"),
        pytest.param(None, TypeError, id="none"),
        pytest.param(b"1", TypeError, id="bytes"),
        pytest.param("", ValueError, id="empty"),
        pytest.param(" 1", ValueError, id="whitespace"),
        pytest.param("1_000", ValueError, id="underscore"),
        pytest.param("1,000", ValueError, id="comma"),
        pytest.param("NaN", ValueError, id="nan"),
        pytest.param("Infinity", ValueError, id="infinity"),
        pytest.param("₹5", ValueError, id="symbol"),
        pytest.param("\u0661", ValueError, id="arabic-indic-digit"),
        pytest.param(Decimal("NaN"), ValueError, id="decimal-nan"),
        pytest.param(Decimal("-Infinity"), ValueError, id="decimal-infinity"),
    ],
)
def test_to_decimal_bad_input_raises(value: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        to_decimal(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "amount, expected",
    [
        pytest.param("1.004", "1.00", id="below-half-down"),
        pytest.param("1.005", "1.01", id="half-up"),
        pytest.param("1.015", "1.02", id="half-up-odd"),
        pytest.param("1.0049999", "1.00", id="just-below-half"),
        pytest.param("2.675", "2.68", id="classic-float-trap"),
        pytest.param("-1.005", "-1.01", id="negative-half-away-from-zero"),
        pytest.param("-1.004", "-1.00", id="negative-below-half"),
        pytest.param("-0.004", "0.00", id="negative-zero-normalised"),
        pytest.param("0.005", "0.01", id="half-paisa"),
        pytest.param("7", "7.00", id="integer-gets-two-places"),
        pytest.param("7.1", "7.10", id="one-place-padded"),
        pytest.param("123456789012.345", "123456789012.35", id="large"),
    ],
)
def test_round_line_rounds_to_paise_half_up(amount: str, expected: str) -> None:
    result = round_line(Decimal(amount))
    assert str(result) == expected


def test_round_line_float_raises() -> None:
    with pytest.raises(TypeError):
        round_line(1.005)  # type: ignore[arg-type]


def test_round_line_nan_raises() -> None:
    with pytest.raises(ValueError, match="finite"):
        round_line(Decimal("NaN"))


@pytest.mark.parametrize(
    "amount, expected",
    [
        pytest.param("0", "₹0.00", id="zero"),
        pytest.param("-0.00", "₹0.00", id="negative-zero"),
        pytest.param("0.5", "₹0.50", id="half-rupee"),
        pytest.param("1", "₹1.00", id="one"),
        pytest.param("999", "₹999.00", id="three-digits"),
        pytest.param("1000", "₹1,000.00", id="thousand"),
        pytest.param("1234", "₹1,234.00", id="four-digits"),
        pytest.param("12345.6", "₹12,345.60", id="five-digits"),
        pytest.param("123456.78", "₹1,23,456.78", id="lakh"),
        pytest.param("1234567.8", "₹12,34,567.80", id="ten-lakh"),
        pytest.param("10000000", "₹1,00,00,000.00", id="crore"),
        pytest.param("9999999999.99", "₹9,99,99,99,999.99", id="999-crore"),
        pytest.param("1000000000000", "₹10,00,00,00,00,000.00", id="lakh-crore"),
        pytest.param("-1234", "-₹1,234.00", id="negative"),
        pytest.param("-0.01", "-₹0.01", id="negative-paisa"),
        pytest.param("1.500", "₹1.50", id="trailing-zeros-are-whole-paise"),
        pytest.param("1E+3", "₹1,000.00", id="exponent"),
    ],
)
def test_format_inr_amount_uses_indian_grouping(amount: str, expected: str) -> None:
    assert format_inr(Decimal(amount)) == expected


@pytest.mark.parametrize(
    "amount, expected",
    [
        pytest.param("123456.78", "1,23,456.78", id="lakh"),
        pytest.param("-1234", "-1,234.00", id="negative"),
        pytest.param("0", "0.00", id="zero"),
    ],
)
def test_format_inr_without_symbol_omits_rupee_sign(amount: str, expected: str) -> None:
    assert format_inr(Decimal(amount), symbol=False) == expected


@pytest.mark.parametrize(
    "amount, error",
    [
        pytest.param(Decimal("1.005"), ValueError, id="fraction-of-paisa"),
        pytest.param(Decimal("0.001"), ValueError, id="tenth-of-paisa"),
        pytest.param(Decimal("NaN"), ValueError, id="nan"),
        pytest.param(Decimal("Infinity"), ValueError, id="infinity"),
        pytest.param(1.5, TypeError, id="float"),
        pytest.param("1.50", TypeError, id="str"),
    ],
)
def test_format_inr_unrounded_or_non_decimal_raises(amount: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        format_inr(amount)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "amount, words",
    [
        ("0", "Rupees Zero Only"),
        ("0.00", "Rupees Zero Only"),
        ("1", "Rupees One Only"),
        ("1.00", "Rupees One Only"),
        ("0.01", "Rupees Zero and One Paise Only"),
        ("0.05", "Rupees Zero and Five Paise Only"),
        ("0.5", "Rupees Zero and Fifty Paise Only"),
        ("0.99", "Rupees Zero and Ninety-Nine Paise Only"),
        ("7", "Rupees Seven Only"),
        ("10", "Rupees Ten Only"),
        ("11", "Rupees Eleven Only"),
        ("15", "Rupees Fifteen Only"),
        ("19", "Rupees Nineteen Only"),
        ("20", "Rupees Twenty Only"),
        ("21", "Rupees Twenty-One Only"),
        ("40", "Rupees Forty Only"),
        ("99", "Rupees Ninety-Nine Only"),
        ("100", "Rupees One Hundred Only"),
        ("101", "Rupees One Hundred One Only"),
        ("110", "Rupees One Hundred Ten Only"),
        ("999", "Rupees Nine Hundred Ninety-Nine Only"),
        ("1000", "Rupees One Thousand Only"),
        ("1001", "Rupees One Thousand One Only"),
        ("1234.50", "Rupees One Thousand Two Hundred Thirty-Four and Fifty Paise Only"),
        ("12000", "Rupees Twelve Thousand Only"),
        ("99999", "Rupees Ninety-Nine Thousand Nine Hundred Ninety-Nine Only"),
        ("100000", "Rupees One Lakh Only"),
        ("100001", "Rupees One Lakh One Only"),
        ("120005.05", "Rupees One Lakh Twenty Thousand Five and Five Paise Only"),
        ("1500000", "Rupees Fifteen Lakh Only"),
        ("2345678", "Rupees Twenty-Three Lakh Forty-Five Thousand Six Hundred Seventy-Eight Only"),
        ("10000000", "Rupees One Crore Only"),
        ("10000100", "Rupees One Crore One Hundred Only"),
        ("12345678.90", (
            "Rupees One Crore Twenty-Three Lakh Forty-Five Thousand Six Hundred Seventy-Eight "
            "and Ninety Paise Only"
        )),
        ("990000000", "Rupees Ninety-Nine Crore Only"),
        ("1000000000", "Rupees One Hundred Crore Only"),
        ("9999999999.99", (
            "Rupees Nine Hundred Ninety-Nine Crore Ninety-Nine Lakh Ninety-Nine Thousand "
            "Nine Hundred Ninety-Nine and Ninety-Nine Paise Only"
        )),
        ("10000000000", "Rupees One Thousand Crore Only"),
        ("100000000000", "Rupees Ten Thousand Crore Only"),
        ("1000000000000", "Rupees One Lakh Crore Only"),
        ("1250000000000", "Rupees One Lakh Twenty-Five Thousand Crore Only"),
        ("100000000000000", "Rupees One Crore Crore Only"),
        ("999999999999.99", (
            "Rupees Ninety-Nine Thousand Nine Hundred Ninety-Nine Crore Ninety-Nine Lakh "
            "Ninety-Nine Thousand Nine Hundred Ninety-Nine and Ninety-Nine Paise Only"
        )),
    ],
)  # fmt: skip
def test_amount_in_words_amount_uses_indian_numbering(amount: str, words: str) -> None:
    assert amount_in_words(Decimal(amount)) == words


@pytest.mark.parametrize(
    "amount",
    [
        pytest.param(Decimal("-1"), id="negative"),
        pytest.param(Decimal("-0.01"), id="negative-paisa"),
        pytest.param(Decimal("0.005"), id="half-paisa"),
        pytest.param(Decimal("NaN"), id="nan"),
    ],
)
def test_amount_in_words_negative_or_unrounded_raises(amount: Decimal) -> None:
    with pytest.raises(ValueError):
        amount_in_words(amount)
