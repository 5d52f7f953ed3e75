"""Parsing the values reporting reads from event data: local days, cents, basis points.

The fields themselves are the producers' (the `events` package declares them); this is
only how their values become the read models' integers and local dates.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from crmkit.bus.ordering import parse_instant
from crmkit.money import to_cents


def local_day(value, tz) -> str | None:
    """An instant (or a plain date) as the local date 'YYYY-MM-DD' in `tz`."""
    if value is None or value == "":
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    if len(text) == 10:
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            return None
    moment = parse_instant(value)
    return moment.astimezone(tz).date().isoformat() if moment else None


def cents(value) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        value = repr(value)
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    if not amount.is_finite():
        return None
    return to_cents(amount)


def probability_bp(value) -> int | None:
    """Probability in percent (10, "25", 12.5) -> basis points (integer, exact)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        pct = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    if not pct.is_finite():
        return None
    return int((min(max(pct, Decimal(0)), Decimal(100)) * 100).to_integral_value())


def as_date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def clean_reason(text) -> str:
    words = " ".join(str(text or "").split())
    return words[:200] if words else "-"
