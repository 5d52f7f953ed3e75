"""Calendar arithmetic for the read models: buckets, report periods, range covers.

Counters are kept per *bucket*: a day (`D:2026-11-23`), a month (`M:2026-11`), a
quarter (`Q:2026-Q4`, only for distinct counts), a year (`Y:2026`) or all time (`A`).
Bucket ids sort as strings in calendar order within one grain (years are zero-padded to
four digits), so "every month from M:2026-03 to M:2026-11" is one range query.

A date range [from, to] is answered from the fewest buckets that tile it exactly
(`cover`): whole years in the middle, whole months around them, single days at the
ragged ends. So a query reads at most ~62 day buckets + 22 month buckets + a year range
per group, however many events made them.

All dates here are *local dates in the organisation's time zone*; callers turn instants
into local dates with `crmkit.clock.local_date(moment, org_timezone())`.
"""
from __future__ import annotations

import re
from calendar import monthrange
from datetime import date, timedelta

ALL = "A"
FIRST_DAY = date(1, 1, 1)
LAST_DAY = date(9999, 12, 31)

PERIOD_KINDS = ("month", "quarter", "year")


def day_bucket(d: date) -> str:
    return f"D:{d.year:04d}-{d.month:02d}-{d.day:02d}"


def month_bucket(d: date) -> str:
    return f"M:{d.year:04d}-{d.month:02d}"


def quarter_bucket(d: date) -> str:
    return f"Q:{d.year:04d}-Q{quarter_number(d)}"


def year_bucket(d: date) -> str:
    return f"Y:{d.year:04d}"


def date_buckets(d: date) -> tuple[str, str, str, str]:
    """Every additive bucket a dated fact lands in (so any range can be answered)."""
    return day_bucket(d), month_bucket(d), year_bucket(d), ALL


def period_buckets(d: date) -> tuple[str, str, str]:
    """The month, quarter and year buckets of a date (for distinct counts)."""
    return month_bucket(d), quarter_bucket(d), year_bucket(d)


def quarter_number(d: date) -> int:
    return (d.month - 1) // 3 + 1


def end_of_month(d: date) -> date:
    return date(d.year, d.month, monthrange(d.year, d.month)[1])


def _next_day(d: date) -> date | None:
    return None if d == LAST_DAY else d + timedelta(days=1)


def _previous_day(d: date) -> date | None:
    return None if d == FIRST_DAY else d - timedelta(days=1)


# --- report periods ("2026-11", "2026-Q4", "2026") ------------------------------------

_PERIOD_RE = re.compile(r"^(\d{4})(?:-(?:(0[1-9]|1[0-2])|Q([1-4])))?$")


def period_label(kind: str, d: date) -> str:
    if kind == "month":
        return f"{d.year:04d}-{d.month:02d}"
    if kind == "quarter":
        return f"{d.year:04d}-Q{quarter_number(d)}"
    if kind == "year":
        return f"{d.year:04d}"
    raise ValueError(f"Unknown period: {kind}")


def parse_period(text: str) -> tuple[str, date, date]:
    """'2026-11' | '2026-Q4' | '2026' -> (kind, first day, last day)."""
    match = _PERIOD_RE.match(str(text or "").strip())
    if not match:
        raise ValueError("Period must look like 2026-11, 2026-Q4 or 2026.")
    year = int(match.group(1))
    if year < 1:
        raise ValueError("Period must look like 2026-11, 2026-Q4 or 2026.")
    if match.group(2):
        first = date(year, int(match.group(2)), 1)
        return "month", first, end_of_month(first)
    if match.group(3):
        q = int(match.group(3))
        first = date(year, 3 * q - 2, 1)
        return "quarter", first, end_of_month(date(year, 3 * q, 1))
    return "year", date(year, 1, 1), date(year, 12, 31)


def months_of_period(label: str) -> list[str]:
    """The month labels ('2026-10', ...) making up a period label."""
    _, first, last = parse_period(label)
    months = []
    d = first
    while d <= last:
        months.append(f"{d.year:04d}-{d.month:02d}")
        d = end_of_month(d) + timedelta(days=1)
    return months


def child_periods(label: str) -> list[str]:
    """The next finer periods inside a period: a year's quarters, a quarter's months."""
    kind, first, _ = parse_period(label)
    if kind == "year":
        return [f"{first.year:04d}-Q{q}" for q in range(1, 5)]
    if kind == "quarter":
        return months_of_period(label)
    return []


def periods_between(kind: str, start: date, end: date) -> list[str]:
    """Labels of every `kind` period that overlaps [start, end], in order."""
    if kind not in PERIOD_KINDS:
        raise ValueError(f"Unknown period: {kind}")
    labels: list[str] = []
    d = start
    while d <= end:
        label = period_label(kind, d)
        labels.append(label)
        nxt = _next_day(parse_period(label)[2])
        if nxt is None:
            break
        d = nxt
    return labels


def month_label_of_bucket(bucket: str) -> str:
    """'M:2026-11' -> '2026-11'."""
    return bucket[2:]


def period_of_month(kind: str, month_label: str) -> str:
    year, month = int(month_label[:4]), int(month_label[5:7])
    return period_label(kind, date(year, month, 1))


# --- covering a date range with the fewest buckets --------------------------------------

def cover(start: date | None, end: date | None) -> list[tuple[str, str]]:
    """Inclusive (low, high) bucket-id ranges that tile [start, end] exactly.

    Each range lies within one grain, so `low <= bucket <= high` as strings selects the
    right buckets. None on either side means unbounded.
    """
    a = start or FIRST_DAY
    b = end or LAST_DAY
    if a > b:
        return []
    if a == FIRST_DAY and b == LAST_DAY:
        return [(ALL, ALL)]
    ranges: list[tuple[str, str]] = []
    tail: list[tuple[str, str]] = []

    # ragged days at the start and the end
    if a.day != 1 or end_of_month(a) > b:
        last = min(b, end_of_month(a))
        ranges.append((day_bucket(a), day_bucket(last)))
        a = _next_day(last)
        if a is None or a > b:
            return ranges
    if b != end_of_month(b):
        first = max(a, b.replace(day=1))
        tail.insert(0, (day_bucket(first), day_bucket(b)))
        b = _previous_day(first)
        if b is None or a > b:
            return ranges + tail

    # now a is a month's first day, b a month's last day: ragged months around years
    if a.month != 1 or date(a.year, 12, 31) > b:
        last = min(b, date(a.year, 12, 31))
        ranges.append((month_bucket(a), month_bucket(last)))
        a = _next_day(last)
        if a is None or a > b:
            return ranges + tail
    if b.month != 12:
        first = max(a, date(b.year, 1, 1))
        tail.insert(0, (month_bucket(first), month_bucket(b)))
        b = _previous_day(first)
        if b is None or a > b:
            return ranges + tail

    ranges.append((year_bucket(a), year_bucket(b)))
    return ranges + tail
