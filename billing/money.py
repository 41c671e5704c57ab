"""Money: the decimal context billing computes in, the rounding rule, and how rupees are written.

Owns: `MONEY_CONTEXT` (with `FloatOperation` trapped, so `Decimal(1.1)` and float comparisons
raise), `to_decimal()` (from `str`/`int` only), what a GB is, the rounding rule (`round_line`),
and the two ways an amount appears on an invoice: `format_inr()` (₹1,23,456.78) and
`amount_in_words()` ("Rupees ... Only"). Does not own: prices, tax rates or which lines an
invoice has (pricing.py), nor storing amounts (the ledger keeps them as TEXT decimal strings).

The rounding rule: every invoice line is rounded to the paisa (0.01) with `ROUND_HALF_UP`, i.e.
half away from zero, so a credit of -1.005 rounds to -1.01 just as a charge of 1.005 rounds to
1.01. The subtotal is the sum of the rounded lines; tax is computed on that rounded subtotal and
rounded to the paisa the same way. Nothing is rounded anywhere else.

A GB is 2**30 bytes (`GB_BYTES`), as AWS bills storage; quantities stay ints in bytes until a
price turns them into money.
"""

from __future__ import annotations

import decimal
import functools
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import ParamSpec, TypeVar

__all__ = [
    "GB_BYTES",
    "MONEY_CONTEXT",
    "PAISE",
    "amount_in_words",
    "format_inr",
    "in_money_context",
    "money_context",
    "round_line",
    "to_decimal",
]

P = ParamSpec("P")
R = TypeVar("R")

GB_BYTES = 2**30
PAISE = Decimal("0.01")

#: 50 significant digits keeps realistic products exact (byte-seconds in a month run to ~23
#: digits, rates to ~10), so the only rounding is the one `round_line` does.
MONEY_CONTEXT = Context(
    prec=50,
    rounding=ROUND_HALF_UP,
    traps=[
        decimal.FloatOperation,
        decimal.InvalidOperation,
        decimal.DivisionByZero,
        decimal.Overflow,
    ],
)

# Decimal's own grammar without its leniencies (surrounding whitespace, "1_000", NaN, Infinity).
# Exponents stay: str(Decimal) produces them ("1E+2", "1E-7") and the ledger stores str(Decimal).
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def money_context() -> AbstractContextManager[Context]:
    """`with money_context():` runs the block under a copy of `MONEY_CONTEXT`."""
    return decimal.localcontext(MONEY_CONTEXT)


def in_money_context(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator: run `fn` under a copy of `MONEY_CONTEXT`."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with money_context():
            return fn(*args, **kwargs)

    return wrapper


def to_decimal(value: str | int | Decimal) -> Decimal:
    """A finite Decimal from a decimal string, an int or a Decimal; floats are refused."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise TypeError(f"money must be str, int or Decimal, not {type(value).__name__}")
    if isinstance(value, str):
        if not _DECIMAL_TEXT.fullmatch(value):
            raise ValueError(f"not a decimal number: {value!r}")
        return Decimal(value)
    result = Decimal(value)
    if not result.is_finite():
        raise ValueError(f"money must be finite, got {value}")
    return result


@in_money_context
def round_line(amount: Decimal) -> Decimal:
    """`amount` rounded to the paisa, half away from zero (the rule in the module docstring)."""
    _require_finite(amount)
    rounded = amount.quantize(PAISE, rounding=ROUND_HALF_UP)
    # -0.004 rounds to -0.00; an invoice should never print a negative zero.
    return rounded.copy_abs() if rounded.is_zero() else rounded


def format_inr(amount: Decimal, symbol: bool = True) -> str:
    """Indian digit grouping, two decimals: ₹1,23,456.78, -₹1,234.00 (or without the ₹).

    `amount` must already be a whole number of paise (round it with `round_line` first):
    formatting never rounds, so the printed figure is the stored one.
    """
    paise = _whole_paise(amount)
    sign = "-" if paise < 0 else ""
    rupees, rest = divmod(abs(paise), 100)
    return f"{sign}{'₹' if symbol else ''}{_group_indian(rupees)}.{rest:02d}"


def amount_in_words(amount: Decimal) -> str:
    """The amount in Indian words: "Rupees One Lakh Twenty Thousand and Five Paise Only".

    Lakh (10^5) and Crore (10^7) group the rupees; past 99 crore the crore count is itself
    spoken in lakhs and thousands ("One Lakh Crore" is 10^12). Paise are always "Paise", even
    one. Zero rupees are spoken ("Rupees Zero and Fifty Paise Only"). Negative amounts are
    refused: the words state a payable total, and a credit note states its amount positive.
    """
    paise = _whole_paise(amount)
    if paise < 0:
        raise ValueError(f"amount in words needs a non-negative amount, got {amount}")
    rupees, rest = divmod(paise, 100)
    words = f"Rupees {_indian_words(rupees) if rupees else 'Zero'}"
    if rest:
        words += f" and {_below_hundred(rest)} Paise"
    return f"{words} Only"


def _require_finite(amount: Decimal) -> None:
    if not isinstance(amount, Decimal):
        raise TypeError(f"amount must be a Decimal, not {type(amount).__name__}")
    if not amount.is_finite():
        raise ValueError(f"amount must be finite, got {amount}")


@in_money_context
def _whole_paise(amount: Decimal) -> int:
    _require_finite(amount)
    paise = amount.scaleb(2)
    if paise != paise.to_integral_value():
        raise ValueError(f"{amount} has fractions of a paisa; round it with round_line first")
    return int(paise)


def _group_indian(rupees: int) -> str:
    """12345678 -> "1,23,45,678": the last three digits, then pairs."""
    digits = str(rupees)
    head, tail = digits[:-3], digits[-3:]
    pairs: list[str] = []
    while head:
        head, pair = head[:-2], head[-2:]
        pairs.append(pair)
    return ",".join([*reversed(pairs), tail])


_ONES = (
    "Zero One Two Three Four Five Six Seven Eight Nine Ten Eleven Twelve Thirteen Fourteen "
    "Fifteen Sixteen Seventeen Eighteen Nineteen"
).split()
_TENS = "_ _ Twenty Thirty Forty Fifty Sixty Seventy Eighty Ninety".split()


def _below_hundred(n: int) -> str:
    """1..99, tens and units hyphenated: "Twenty-One"."""
    if n < 20:
        return _ONES[n]
    tens, units = divmod(n, 10)
    return _TENS[tens] if units == 0 else f"{_TENS[tens]}-{_ONES[units]}"


def _indian_words(n: int) -> str:
    """n >= 1 in Crore, Lakh, Thousand, Hundred; the crore count recurses."""
    crores, rest = divmod(n, 10**7)
    lakhs, rest = divmod(rest, 10**5)
    thousands, rest = divmod(rest, 1000)
    hundreds, rest = divmod(rest, 100)
    parts: list[str] = []
    if crores:
        parts += [_indian_words(crores), "Crore"]
    for count, unit in ((lakhs, "Lakh"), (thousands, "Thousand"), (hundreds, "Hundred")):
        if count:
            parts += [_below_hundred(count), unit]
    if rest:
        parts.append(_below_hundred(rest))
    return " ".join(parts)
