"""Day, week and month calendars in the viewer's own time zone.

A task sits in a calendar from its planned start to its planned end (a follow-up plan,
a meeting) or, without a plan, at its due time. Which local day that is depends on who
looks: a task due 2026-11-23 23:30 UTC is on the 24th in Shanghai and the 24th in
Berlin (00:30), but one due at 20:00 UTC is the 24th in Shanghai and the 23rd in Berlin.
Weeks start on Monday (ISO 8601, as in China and Germany).
"""
from __future__ import annotations

import calendar as _calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterable
from zoneinfo import ZoneInfo

from crmkit.clock import as_utc
from crmkit.errors import Invalid

VIEWS = ("day", "week", "month")
_TINY = timedelta(microseconds=1)


@dataclass(frozen=True)
class Window:
    view: str
    first_day: date          # local dates, both inclusive
    last_day: date
    tz: ZoneInfo
    start: datetime          # UTC, inclusive
    end: datetime            # UTC, exclusive

    def days(self) -> list[date]:
        count = (self.last_day - self.first_day).days + 1
        return [self.first_day + timedelta(days=i) for i in range(count)]


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The instant a local day begins, in UTC (zoneinfo settles DST gaps and folds)."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(timezone.utc)


def window(view: str, day: date, tz: ZoneInfo) -> Window:
    if view not in VIEWS:
        raise Invalid("view", "Must be one of: day, week, month.")
    if view == "day":
        first = last = day
    elif view == "week":
        first = day - timedelta(days=day.weekday())
        last = first + timedelta(days=6)
    else:
        first = day.replace(day=1)
        last = day.replace(day=_calendar.monthrange(day.year, day.month)[1])
    return Window(view, first, last, tz, local_midnight(first, tz),
                  local_midnight(last + timedelta(days=1), tz))


def span(task) -> tuple[datetime, datetime]:
    return as_utc(task.calendar_start), as_utc(task.calendar_end)


def local_days(task, tz: ZoneInfo) -> list[date]:
    """The viewer's local days a task occupies. A span ending exactly at midnight does
    not spill into the next day."""
    start, end = span(task)
    first = start.astimezone(tz).date()
    last = (end - _TINY if end > start else end).astimezone(tz).date()
    if last < first:
        last = first
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def overlaps(task, win: Window) -> bool:
    start, end = span(task)
    if end > start:
        return start < win.end and end > win.start
    return win.start <= start < win.end


def entries(tasks: Iterable, win: Window) -> list[tuple[object, list[date]]]:
    """The tasks inside the window, with the local days (inside it) each falls on,
    ordered by when they start."""
    found = []
    for task in tasks:
        if not overlaps(task, win):
            continue
        days = [d for d in local_days(task, win.tz) if win.first_day <= d <= win.last_day]
        if days:
            found.append((task, days))
    found.sort(key=lambda pair: (span(pair[0])[0], pair[0].id))
    return found


def by_day(tasks: Iterable, win: Window) -> dict[date, list]:
    """Every day of the window (empty days too) with the tasks on it."""
    grid: dict[date, list] = {d: [] for d in win.days()}
    for task, days in entries(tasks, win):
        for d in days:
            grid[d].append(task)
    return grid

