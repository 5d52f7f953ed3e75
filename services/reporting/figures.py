"""How figures leave reporting: money as strings with two decimals, rates as fractions
rounded to 4 places (None when there is nothing to divide by)."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from crmkit.money import format_money, from_cents


def money(cents_value: int | None) -> str | None:
    return None if cents_value is None else format_money(from_cents(cents_value))


def weighted_money(units: int) -> str:
    """cents x basis points -> money string (exact until the final rounding)."""
    return format_money((Decimal(units) / Decimal(1_000_000)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP))


def rate(part: int | Decimal, whole: int | Decimal) -> float | None:
    if not whole:
        return None
    return float((Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"),
                                                           rounding=ROUND_HALF_UP))

