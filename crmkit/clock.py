"""Time: one place that says what "now" is, so tests and `as_of` runs can move it."""
from __future__ import annotations

import os
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def org_timezone() -> ZoneInfo:
    return zone(os.environ.get("CRM_TIMEZONE", "Asia/Shanghai"))


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"Unknown time zone: {name}") from None


def local_date(moment: datetime, tz: ZoneInfo | None = None) -> date:
    return moment.astimezone(tz or org_timezone()).date()


def isoformat(moment: datetime | None) -> str | None:
    """ISO 8601 with offset; naive values (as Mongo returns them) are UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.isoformat(timespec="milliseconds")


def as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def day_text(value: date | None) -> str | None:
    """A date as stored: "YYYY-MM-DD" (sorts and compares as text)."""
    return value.isoformat() if value else None


def parse_day(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)
