"""Per-tenant tariff overrides: a tenant's own prices or free tier over the operator's tariff.

Owns: the override document (JSON the ledger stores per tenant) and its rules: only the price
and free-tier fields can be overridden (tax and SAC are the operator's, per the law, not per
tenant); money as decimal strings, never floats; unknown fields refused. Does not own: the
default tariff (config) or pricing (pricing.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from billing.invoice import Tariff
from billing.money import to_decimal

#: Fields an override may set, and what each holds.
MONEY_FIELDS = ("free_storage_gb", "inr_per_gb_day", "inr_per_gb_egress")
FIELDS = (*MONEY_FIELDS, "free_calls", "inr_per_call")


def parse_price(name: str, value: object) -> Decimal:
    """A price or quantity written as a decimal string, >= 0; ValueError naming `name`."""
    if not isinstance(value, str):
        raise ValueError(f'{name}: write money as a decimal string (e.g. "0.25"), got {value!r}')
    try:
        amount = to_decimal(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {value!r} is not a decimal number") from None
    if amount < 0:
        raise ValueError(f"{name}: {value!r} is negative")
    return amount


def check_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The override document, validated and normalised (decimal strings as Decimal prints
    them); ValueError naming the field otherwise."""
    unknown = sorted(set(overrides) - set(FIELDS))
    if unknown:
        raise ValueError(
            f"unknown tariff field(s): {', '.join(unknown)}; known: {', '.join(FIELDS)}"
        )
    clean: dict[str, Any] = {}
    for name in MONEY_FIELDS:
        if name in overrides:
            clean[name] = str(parse_price(name, overrides[name]))
    if "free_calls" in overrides:
        calls = overrides["free_calls"]
        if isinstance(calls, bool) or not isinstance(calls, int) or calls < 0:
            raise ValueError(f"free_calls: expected a whole number >= 0, got {calls!r}")
        clean["free_calls"] = calls
    if "inr_per_call" in overrides:
        per_call = overrides["inr_per_call"]
        if not isinstance(per_call, Mapping) or not per_call:
            raise ValueError("inr_per_call: expected an object of billing class -> price")
        clean["inr_per_call"] = {
            str(cls): str(parse_price(f"inr_per_call.{cls}", price))
            for cls, price in per_call.items()
        }
    return clean


def with_overrides(tariff: Tariff, overrides: Mapping[str, Any] | None) -> Tariff:
    """`tariff` with the tenant's overrides applied (classes in inr_per_call are replaced one
    by one; a class priced only by the operator keeps its price)."""
    if not overrides:
        return tariff
    clean = check_overrides(overrides)
    changes: dict[str, Any] = {name: Decimal(clean[name]) for name in MONEY_FIELDS if name in clean}
    if "free_calls" in clean:
        changes["free_calls"] = clean["free_calls"]
    if "inr_per_call" in clean:
        merged = dict(tariff.inr_per_call)
        merged.update({cls: Decimal(p) for cls, p in clean["inr_per_call"].items()})
        changes["inr_per_call"] = merged
    return replace(tariff, **changes)
