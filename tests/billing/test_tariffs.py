"""Per-tenant tariff overrides: only prices and free tier, decimal strings, unknown fields
refused; applied over the operator's tariff class by class."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from billing.invoice import Tariff
from billing.tariffs import check_overrides, with_overrides


def test_tariffs_overrides_replace_only_what_they_name() -> None:
    base = Tariff()
    mine = with_overrides(
        base, {"inr_per_gb_day": "0.20", "free_calls": 5000, "inr_per_call": {"read": "0.0005"}}
    )
    assert mine.inr_per_gb_day == Decimal("0.20") and mine.free_calls == 5000
    assert mine.inr_per_call == {"write": Decimal("0.001"), "read": Decimal("0.0005")}
    assert (mine.free_storage_gb, mine.sac, mine.tax_rate_percent) == (
        base.free_storage_gb, base.sac, base.tax_rate_percent,
    )  # fmt: skip
    assert with_overrides(base, None) is base and with_overrides(base, {}) is base


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"tax_rate_percent": "5"}, "unknown tariff field"),
        ({"inr_per_gb_day": 0.25}, "decimal string"),
        ({"inr_per_gb_day": "-1"}, "negative"),
        ({"inr_per_gb_day": "abc"}, "not a decimal"),
        ({"free_calls": -1}, "whole number"),
        ({"free_calls": True}, "whole number"),
        ({"inr_per_call": {}}, "billing class"),
        ({"inr_per_call": {"write": 1}}, "decimal string"),
    ],
)
def test_tariffs_bad_overrides_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_overrides(overrides)


def test_tariffs_normalised_for_storage() -> None:
    assert check_overrides({"free_storage_gb": "2.50", "inr_per_call": {"write": "1E-3"}}) == {
        "free_storage_gb": "2.50",
        "inr_per_call": {"write": "0.001"},
    }
