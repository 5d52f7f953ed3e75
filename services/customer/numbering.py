"""Customer numbers: "CRM" + the organisation's local date YYYYMMDD + a daily serial.

The serial is zero-padded to four digits and simply grows wider past 9999
(CRM202611239999 -> CRM2026112310000), so a busy day never runs out and numbers stay
unique. The repository hands out serials from a per-day counter with an atomic `$inc`;
this module only says which day a moment belongs to and how the number is written.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from crmkit.clock import local_date, org_timezone

PREFIX = "CRM"
SERIAL_WIDTH = 4
NUMBER_PATTERN = re.compile(r"^CRM(\d{8})(\d{4,})$")


def number_day(moment: datetime, tz: ZoneInfo | None = None) -> date:
    """The organisation-local date a creation at `moment` is numbered under."""
    if moment.tzinfo is None:
        raise ValueError("moment must be timezone-aware")
    return local_date(moment, tz or org_timezone())


def day_key(day: date) -> str:
    """The counter key of a day: '20261123'."""
    return day.strftime("%Y%m%d")


def format_number(day: date, serial: int) -> str:
    if serial < 1:
        raise ValueError("serials start at 1")
    return f"{PREFIX}{day_key(day)}{serial:0{SERIAL_WIDTH}d}"


def number_for(moment: datetime, serial: int, tz: ZoneInfo | None = None) -> str:
    return format_number(number_day(moment, tz), serial)


def parse_number(number: str) -> tuple[date, int] | None:
    """(day, serial) of a well-formed number, else None."""
    match = NUMBER_PATTERN.match(number or "")
    if not match:
        return None
    try:
        day = datetime.strptime(match.group(1), "%Y%m%d").date()
    except ValueError:
        return None
    return day, int(match.group(2))


def looks_like_number(text: str) -> bool:
    """Whether a search term is (the start of) a customer number."""
    return bool(re.fullmatch(r"(?i)crm\d{0,12}", (text or "").strip()))
