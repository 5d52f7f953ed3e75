"""Values an opportunity takes from users: parsed, bounded and cleaned, or refused with
`crmkit.errors.Invalid` naming the field. Plain functions, no I/O.

Free text is checked for personal numbers that may never be stored (`crmkit.sensitive`:
CONTRACT §4 says so for customers; notes about a deal are no safer a place for them).
"""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

from crmkit.clock import as_utc
from crmkit.errors import Invalid
from crmkit.money import parse_money
from crmkit.sensitive import refuse_sensitive

CURRENCY = re.compile(r"^[A-Z]{3}$")
NAME_MAX = 200
TEXT_MAX = 5000
NOTE_MAX = 2000
CONTRACT_NUMBER_MAX = 64
COMPETITORS_MAX = 50


def text(field_name: str, value, *, required=False, limit=TEXT_MAX) -> str | None:
    if value is None:
        if required:
            raise Invalid(field_name, "Required. 必填。")
        return None
    if not isinstance(value, str):
        raise Invalid(field_name, "Must be text.")
    value = value.strip()
    if required and not value:
        raise Invalid(field_name, "Required. 必填。")
    if len(value) > limit:
        raise Invalid(field_name, f"At most {limit} characters.")
    refuse_sensitive({field_name: value})
    return value or None


def money(field_name: str, value) -> Decimal:
    if isinstance(value, Decimal):
        value = str(value)
    try:
        return parse_money(value)
    except ValueError as exc:
        raise Invalid(field_name, str(exc)) from None


def day(field_name: str, value) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime) or not isinstance(value, date):
        raise Invalid(field_name, "A date YYYY-MM-DD.")
    return value


def required_day(field_name: str, value) -> date:
    if value is None:
        raise Invalid(field_name, "Required. 必填。")
    return day(field_name, value)


def moment(field_name: str, value) -> datetime:
    if not isinstance(value, datetime):
        raise Invalid(field_name, "A date-time with offset.")
    if value.tzinfo is None:
        raise Invalid(field_name, "The time needs a UTC offset, e.g. +08:00.")
    return as_utc(value)


def probability(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise Invalid("probability", "A whole percentage from 0 to 100.")
    return value


def competitors(value) -> list[str]:
    """One text or a list of names; kept as a list of names."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        raise Invalid("competitors", "A list of names.")
    names = [i.strip() for i in items if i.strip()]
    if len(names) > COMPETITORS_MAX or any(len(n) > NAME_MAX for n in names):
        raise Invalid("competitors",
                      f"At most {COMPETITORS_MAX} names of {NAME_MAX} characters.")
    refuse_sensitive({"competitors": names})
    return names


def currency(value) -> str:
    if not isinstance(value, str) or not CURRENCY.match(value):
        raise Invalid("currency", "An ISO 4217 code such as CNY.")
    return value


def contract_number(value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("contract_number", "Required. 必填。")
    value = value.strip()
    if len(value) > CONTRACT_NUMBER_MAX:
        raise Invalid("contract_number", f"At most {CONTRACT_NUMBER_MAX} characters.")
    return value
