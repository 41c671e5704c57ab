"""Pricing: one period's usage totals and a tariff -> priced lines, GST and the total.

Owns: turning a `Usage` (ints: byte-seconds, calls, bytes) into `Line`s, the tax lines and the
place of supply, returned as `Priced`. Does not own: what a GB is or the rounding rule
(money.py), the value types (invoice.py), GSTIN shape (gstin.py), invoice numbers, rendering.

Definitions:

- A GB is 2^30 bytes. Storage is billed in GB-days: byte-seconds / (2^30 x 86,400), which is
  byte-hours / (2^30 x 24).
- Free storage is `free_storage_gb` x the days in the period, in GB-days: keeping exactly 1 GB
  for a whole month uses exactly the free allowance, whether the month has 28, 30 or 31 days.
- Per line, billable = max(0, used - free), and the amount is billable x rate rounded to the
  paisa by `money.round_line` (ROUND_HALF_UP).
- The taxable value is the sum of the rounded line amounts. Each tax line is the taxable value
  x its rate, rounded the same way; CGST and SGST are computed and rounded separately. The
  total is the taxable value plus the taxes.

Lines, always all present and in this order, even at zero:

1. "Storage", unit "GB-day", rate `inr_per_gb_day`, free = the allowance above.
2. One line per billing class priced in `inr_per_call` ("Write requests", ...), unit "call":
   write, read, then the other priced classes sorted by name. A class with no rate is free and
   gets no line. The monthly `free_calls` are one allowance shared by these lines and consumed
   in the same order: write's calls use it first, read takes what is left, and so on. A line's
   `free` is the share it took, so the free column adds up to the free calls used. Calls in
   unpriced classes take none of it.
3. "Egress", unit "GB" (bytes_out / 2^30), free 0, rate `inr_per_gb_egress` (₹0 by default,
   and the line still shows ₹0.00).

Quantities are not rounded: `Line.used`, `free` and `billable` are Decimals in the money
context's 50 significant digits, exact for calls, egress (bytes / 2^30 always terminates) and
free allowances, and for GB-days whenever the quotient terminates (byte-seconds a multiple of
27, as 86,400 = 2^7 x 3^3 x 5^2). Otherwise only the 50th digit is rounded. Formatting them
(say to 6 places) is the renderer's job. Amounts do not go through those Decimals: each is
computed from the integer quantity (billable byte-seconds x rate / (2^30 x 86,400)) and is
the exact product rounded to the paisa (see `_amount`).

GST (`tax_enabled`): the place of supply is the buyer's state, the state code of its GSTIN
when it has one, else its `state_code`, else the seller's own state. Same state as the seller:
CGST and SGST at half the rate each; otherwise IGST at the full rate. With tax off there are no
tax lines, the place of supply is "" and the invoice is a plain one (`tax_invoice` False).
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from billing.gstin import STATES, state_code_of
from billing.invoice import Line, Party, Tariff, TaxLine, Usage
from billing.money import GB_BYTES, in_money_context, round_line, to_decimal
from billing.periods import Period, days_in

__all__ = ["GB_DAY_BYTE_SECONDS", "SECONDS_PER_DAY", "Priced", "price"]

SECONDS_PER_DAY = 86_400
GB_DAY_BYTE_SECONDS = GB_BYTES * SECONDS_PER_DAY  # one GB-day, in byte-seconds

#: Call classes that come first, in this order; other priced classes follow sorted by name.
_FIRST_CLASSES = ("write", "read")
_HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Priced:
    """What `price` returns: the priced half of an `Invoice`."""

    lines: tuple[Line, ...]
    taxable_value: Decimal  # sum of the rounded lines
    taxes: tuple[TaxLine, ...]
    total: Decimal
    place_of_supply: str  # two-digit state code; "" with tax off (or no state known at all)
    tax_invoice: bool


@in_money_context
def price(usage: Usage, tariff: Tariff, *, seller: Party, buyer: Party) -> Priced:
    """`usage` priced under `tariff`, with GST between `seller` and `buyer`.

    Raises TypeError for a float (or other non-integer) quantity or a non-Decimal price, and
    ValueError for negative quantities or prices, `days` that is not the period's length, an
    invalid GSTIN or state code, or a product too long for 50 significant digits.
    """
    _check_usage(usage)
    if tariff.currency != "INR":
        raise ValueError(
            f"tariff currency must be INR (prices are in rupees), got {tariff.currency!r}"
        )
    # Every product, sum and difference below is exact: Inexact raises rather than rounds.
    # The two divisions that may not terminate say how they round (`_quantity`, `_amount`).
    decimal.getcontext().traps[decimal.Inexact] = True
    try:
        lines = (
            _storage_line(usage, tariff),
            *_call_lines(usage, tariff),
            _egress_line(usage, tariff),
        )
        taxable = sum((line.amount for line in lines), Decimal("0.00"))
        if not tariff.tax_enabled:
            return Priced(lines, taxable, (), taxable, "", tax_invoice=False)
        place, seller_state = _place_of_supply(seller, buyer)
        taxes = _taxes(
            taxable, _price("tax_rate_percent", tariff.tax_rate_percent), place, seller_state
        )
        total = taxable + sum((tax.amount for tax in taxes), Decimal("0.00"))
        return Priced(lines, taxable, taxes, total, place, tax_invoice=True)
    except decimal.Inexact:
        raise ValueError(
            "usage x price needs more than 50 significant digits; refusing to round it"
        ) from None


def _storage_line(usage: Usage, tariff: Tariff) -> Line:
    rate = _price("inr_per_gb_day", tariff.inr_per_gb_day)
    free_gb_days = _price("free_storage_gb", tariff.free_storage_gb) * usage.days
    billable = max(Decimal(0), usage.byte_seconds - free_gb_days * GB_DAY_BYTE_SECONDS)
    return Line(
        description="Storage",
        sac=tariff.sac,
        unit="GB-day",
        used=_quantity(Decimal(usage.byte_seconds), GB_DAY_BYTE_SECONDS),
        free=free_gb_days,
        billable=_quantity(billable, GB_DAY_BYTE_SECONDS),
        rate=rate,
        amount=_amount(billable, rate, GB_DAY_BYTE_SECONDS),
    )


def _call_lines(usage: Usage, tariff: Tariff) -> list[Line]:
    free_left = _count("tariff free_calls", tariff.free_calls)
    lines: list[Line] = []
    for name in _priced_classes(tariff.inr_per_call):
        rate = _price(f"inr_per_call[{name!r}]", tariff.inr_per_call[name])
        used = usage.billable_calls.get(name, 0)
        free = min(used, free_left)
        free_left -= free
        lines.append(
            Line(
                description=f"{name[:1].upper()}{name[1:]} requests",
                sac=tariff.sac,
                unit="call",
                used=Decimal(used),
                free=Decimal(free),
                billable=Decimal(used - free),
                rate=rate,
                amount=_amount(Decimal(used - free), rate, 1),
            )
        )
    return lines


def _priced_classes(inr_per_call: dict[str, Decimal]) -> list[str]:
    for name in inr_per_call:
        if not isinstance(name, str) or not name:
            raise ValueError(f"tariff inr_per_call: billing class must be a name, got {name!r}")
    first = [name for name in _FIRST_CLASSES if name in inr_per_call]
    return first + sorted(name for name in inr_per_call if name not in _FIRST_CLASSES)


def _egress_line(usage: Usage, tariff: Tariff) -> Line:
    rate = _price("inr_per_gb_egress", tariff.inr_per_gb_egress)
    gb = _quantity(Decimal(usage.bytes_out), GB_BYTES)
    return Line(
        description="Egress",
        sac=tariff.sac,
        unit="GB",
        used=gb,
        free=Decimal(0),
        billable=gb,
        rate=rate,
        amount=_amount(Decimal(usage.bytes_out), rate, GB_BYTES),
    )


def _quantity(units: Decimal, per: int) -> Decimal:
    """`units / per` to 50 significant digits, for Line quantities (not used for amounts)."""
    with decimal.localcontext() as ctx:
        ctx.traps[decimal.Inexact] = False
        return units / per


def _amount(units: Decimal, rate: Decimal, per: int) -> Decimal:
    """round_line(units x rate / per), exactly.

    `units x rate` is exact (Inexact is trapped). The division may not terminate, so it is
    truncated at 50 digits before round_line rounds half up to the paisa. Truncating keeps the
    answer exact: every half-paisa boundary is representable at that precision (for amounts
    below 10^46 rupees), so the truncated quotient is at or above a boundary exactly when the
    true quotient is, while rounding the division half up could lift a quotient just below a
    boundary onto it.
    """
    product = units * rate
    with decimal.localcontext() as ctx:
        ctx.traps[decimal.Inexact] = False
        ctx.rounding = ROUND_DOWN
        quotient = product / per
    return round_line(quotient)


def _place_of_supply(seller: Party, buyer: Party) -> tuple[str, str]:
    """(place of supply, seller's state), both two-digit codes ("" only if nothing is known).

    IGST Act 2017 s.12(2): the place of supply of services (supplier and recipient in India)
    is (a) for a registered recipient, its location, i.e. its GSTIN's state; (b) for anyone
    else, (i) the recipient's location where an address is on record, (ii) otherwise the
    location of the supplier. Inter-state (IGST) when that place and the supplier's location
    are in different states (s.7(3)), intra-state (CGST + SGST) when the same (s.8(2)).
    """
    seller_state = _state_of(seller, "seller")
    buyer_state = _state_of(buyer, "buyer")
    return buyer_state or seller_state, seller_state


def _state_of(party: Party, role: str) -> str:
    state = party.state_code
    if state and state not in STATES:
        raise ValueError(f"{role} state_code {state!r} is not a GST state code")
    if not party.gstin:
        return state
    try:
        registered = state_code_of(party.gstin)
    except ValueError as e:
        raise ValueError(f"{role} {e}") from None
    if state and state != registered:
        raise ValueError(
            f"{role} state_code {state!r} is not the state of its GSTIN {party.gstin!r}"
            f" ({registered!r})"
        )
    return registered


def _taxes(taxable: Decimal, rate: Decimal, place: str, seller_state: str) -> tuple[TaxLine, ...]:
    if rate > _HUNDRED:
        raise ValueError(f"tariff tax_rate_percent must be at most 100, got {rate}")
    if place == seller_state:
        half = rate / 2
        return (
            TaxLine("CGST", half, round_line(taxable * half / _HUNDRED)),
            TaxLine("SGST", half, round_line(taxable * half / _HUNDRED)),
        )
    return (TaxLine("IGST", rate, round_line(taxable * rate / _HUNDRED)),)


def _check_usage(usage: Usage) -> None:
    if not isinstance(usage.period, Period):
        raise TypeError(f"usage period must be a Period, not {type(usage.period).__name__}")
    if _count("usage days", usage.days) != days_in(usage.period):
        raise ValueError(
            f"usage days is {usage.days}, but {usage.period} has {days_in(usage.period)} days"
        )
    for name in ("byte_seconds", "bytes_out", "bytes_in"):
        _count(f"usage {name}", getattr(usage, name))
    for name, calls in usage.billable_calls.items():
        _count(f"usage billable_calls[{name!r}]", calls)


def _count(name: str, value: object) -> int:
    """A non-negative int; floats and bools are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    return value


def _price(name: str, value: object) -> Decimal:
    """A finite, non-negative Decimal (an int is taken as exact); floats are refused."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"tariff {name} must be a Decimal, not {type(value).__name__}")
    try:
        result = to_decimal(value)
    except ValueError as e:
        raise ValueError(f"tariff {name}: {e}") from None
    if result < 0:
        raise ValueError(f"tariff {name} must not be negative, got {result}")
    return result
