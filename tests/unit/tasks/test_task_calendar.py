"""Calendar windows and local days in each viewer's own time zone."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from crmkit.errors import Invalid
from services.tasks import calendar
from services.tasks.domain import create_task
from services.tasks.repository import calendar_window_filter
from services.tasks.translators import task_from_followup_plan
from task_people import NOW, PEOPLE, owner_of

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
UTC = timezone.utc


def due(at, title="t"):
    return create_task(PEOPLE["rep1"], title=title, due_at=at, now=NOW)


def test_one_task_falls_on_each_viewers_own_local_day():
    # 2026-11-26 20:00 UTC = 27th 04:00 in Shanghai, 26th 21:00 in Berlin.
    task = due(datetime(2026, 11, 26, 20, 0, tzinfo=UTC))
    assert calendar.local_days(task, SHANGHAI) == [date(2026, 11, 27)]
    assert calendar.local_days(task, BERLIN) == [date(2026, 11, 26)]
    sh_26 = calendar.window("day", date(2026, 11, 26), SHANGHAI)
    sh_27 = calendar.window("day", date(2026, 11, 27), SHANGHAI)
    be_26 = calendar.window("day", date(2026, 11, 26), BERLIN)
    assert [t for t, _ in calendar.entries([task], sh_26)] == []
    assert [t for t, _ in calendar.entries([task], sh_27)] == [task]
    assert [t for t, _ in calendar.entries([task], be_26)] == [task]


def test_day_window_is_local_midnight_to_midnight():
    win = calendar.window("day", date(2026, 11, 24), SHANGHAI)
    assert win.start == datetime(2026, 11, 23, 16, 0, tzinfo=UTC)
    assert win.end == datetime(2026, 11, 24, 16, 0, tzinfo=UTC)


def test_a_task_exactly_at_midnight_belongs_to_the_day_that_starts():
    win = calendar.window("day", date(2026, 11, 24), SHANGHAI)
    at_start = due(win.start)
    at_end = due(win.end)
    assert [t for t, _ in calendar.entries([at_start, at_end], win)] == [at_start]


def test_week_runs_monday_to_sunday():
    win = calendar.window("week", date(2026, 11, 26), BERLIN)     # a Thursday
    assert (win.first_day, win.last_day) == (date(2026, 11, 23), date(2026, 11, 29))
    assert len(win.days()) == 7


def test_month_window_covers_the_whole_month():
    win = calendar.window("month", date(2026, 2, 14), SHANGHAI)
    assert (win.first_day, win.last_day) == (date(2026, 2, 1), date(2026, 2, 28))
    assert win.start == datetime(2026, 1, 31, 16, 0, tzinfo=UTC)


def test_berlin_day_when_clocks_go_back_is_25_hours():
    win = calendar.window("day", date(2026, 10, 25), BERLIN)
    assert win.end - win.start == timedelta(hours=25)


def test_a_plan_spanning_midnight_shows_on_both_days_but_not_a_third():
    start = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)      # 23:00 Shanghai
    plan = task_from_followup_plan(plan_id="p", opportunity_id="o", customer_id="c",
                                   owner=owner_of("rep1"), start_at=start,
                                   end_at=start + timedelta(hours=2), method="call",
                                   content="", now=NOW)
    assert calendar.local_days(plan, SHANGHAI) == [date(2026, 11, 27), date(2026, 11, 28)]
    ends_at_midnight = task_from_followup_plan(
        plan_id="q", opportunity_id="o", customer_id="c", owner=owner_of("rep1"),
        start_at=start, end_at=start + timedelta(hours=1), method="call", content="",
        now=NOW)
    assert calendar.local_days(ends_at_midnight, SHANGHAI) == [date(2026, 11, 27)]


def test_week_grid_places_tasks_on_their_days_in_time_order():
    later = due(datetime(2026, 11, 24, 8, 0, tzinfo=UTC), "later")
    earlier = due(datetime(2026, 11, 24, 1, 0, tzinfo=UTC), "earlier")
    outside = due(datetime(2026, 12, 8, 1, 0, tzinfo=UTC), "outside")
    win = calendar.window("week", date(2026, 11, 24), SHANGHAI)
    grid = calendar.by_day([later, earlier, outside], win)
    assert [t.title for t in grid[date(2026, 11, 24)]] == ["earlier", "later"]
    assert sum(len(v) for v in grid.values()) == 2


def test_unknown_view_is_invalid():
    with pytest.raises(Invalid):
        calendar.window("year", date(2026, 1, 1), SHANGHAI)


def test_query_bounds_select_overlapping_candidates():
    win = calendar.window("day", date(2026, 11, 24), SHANGHAI)
    q = calendar_window_filter(win.start, win.end)
    assert q == {"calendar_start": {"$lt": win.end}, "calendar_end": {"$gte": win.start}}
