"""Money as exact decimals: in from a number or a string, out as "12000.50"."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation, ROUND_HALF_UP

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1e15")


def parse_money(value) -> Decimal:
    """Parse a client amount; raises ValueError with a user-facing reason."""
    if isinstance(value, bool) or value is None:
        raise ValueError("Not a valid amount.")
    if isinstance(value, float):
        value = repr(value)  # the shortest text that round-trips, no binary noise
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValueError("Not a valid amount.") from None
    if not amount.is_finite():
        raise ValueError("Not a valid amount.")
    if amount < 0:
        raise ValueError("Amount must not be negative.")
    if amount >= MAX_AMOUNT:
        raise ValueError("Amount is too large.")
    if amount != amount.quantize(CENT, rounding=ROUND_HALF_UP):
        raise ValueError("Amount has more than two decimals.")
    return abs(amount.quantize(CENT))  # amount >= 0 here; abs turns "-0" into 0.00


def format_money(amount: Decimal | str | int | None) -> str | None:
    if amount is None:
        return None
    return str(Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP))


def to_cents(amount: Decimal) -> int:
    """Exact integer cents, for storage where sums must be done by the database."""
    return int((Decimal(amount) * 100).to_integral_value(rounding=ROUND_HALF_UP))


def from_cents(cents: int) -> Decimal:
    return (Decimal(int(cents)) / 100).quantize(CENT)
