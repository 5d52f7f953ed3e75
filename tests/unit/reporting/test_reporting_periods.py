"""Calendar buckets and range covers: exact tiling, period labels."""
from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from services.reporting import periods


def _days_of(ranges):
    """Expand bucket ranges back to the set of days they stand for."""
    days = set()
    for low, high in ranges:
        grain = low[0]
        assert high[0] == grain, "a range stays within one grain"
        if grain == "D":
            d, last = date.fromisoformat(low[2:]), date.fromisoformat(high[2:])
            while d <= last:
                days.add(d)
                d += timedelta(days=1)
        elif grain == "M":
            d = date.fromisoformat(low[2:] + "-01")
            last = periods.end_of_month(date.fromisoformat(high[2:] + "-01"))
            while d <= last:
                days.add(d)
                d += timedelta(days=1)
        elif grain == "Y":
            d, last = date(int(low[2:]), 1, 1), date(int(high[2:]), 12, 31)
            while d <= last:
                days.add(d)
                d += timedelta(days=1)
        else:
            raise AssertionError(f"unexpected grain {grain}")
    return days


@pytest.mark.parametrize("seed", range(40))
def test_cover_tiles_a_range_exactly(seed):
    rnd = random.Random(seed)
    start = date(2023, 1, 1) + timedelta(days=rnd.randrange(0, 1100))
    end = start + timedelta(days=rnd.choice([0, 1, 27, 31, 45, 364, 365, 800]))
    ranges = periods.cover(start, end)
    expected = {start + timedelta(days=i) for i in range((end - start).days + 1)}
    assert _days_of(ranges) == expected


def test_cover_uses_whole_years_and_months_where_it_can():
    assert periods.cover(date(2025, 11, 15), date(2027, 2, 28)) == [
        ("D:2025-11-15", "D:2025-11-30"), ("M:2025-12", "M:2025-12"),
        ("Y:2026", "Y:2026"), ("M:2027-01", "M:2027-02")]


def test_cover_of_an_unbounded_range_is_all_time():
    assert periods.cover(None, None) == [("A", "A")]


def test_cover_open_ended_on_one_side():
    ranges = periods.cover(date(2026, 11, 3), None)
    assert ranges[0] == ("D:2026-11-03", "D:2026-11-30")
    assert ranges[-1] == ("Y:2027", "Y:9999")


def test_cover_of_an_empty_range_is_empty():
    assert periods.cover(date(2026, 11, 3), date(2026, 11, 2)) == []


def test_bucket_ids_sort_in_calendar_order():
    assert periods.month_bucket(date(2026, 9, 1)) < periods.month_bucket(date(2026, 10, 1))
    assert periods.quarter_bucket(date(2026, 12, 1)) < periods.quarter_bucket(date(2027, 1, 1))


@pytest.mark.parametrize("text,kind,first,last", [
    ("2026-11", "month", date(2026, 11, 1), date(2026, 11, 30)),
    ("2026-Q4", "quarter", date(2026, 10, 1), date(2026, 12, 31)),
    ("2024-Q1", "quarter", date(2024, 1, 1), date(2024, 3, 31)),
    ("2026", "year", date(2026, 1, 1), date(2026, 12, 31)),
])
def test_parse_period(text, kind, first, last):
    assert periods.parse_period(text) == (kind, first, last)


@pytest.mark.parametrize("text", ["2026-13", "2026-Q5", "26", "2026-1", "", None, "2026-11-01"])
def test_parse_period_refuses_malformed_text(text):
    with pytest.raises(ValueError):
        periods.parse_period(text)


def test_periods_between_lists_each_overlapping_period():
    assert periods.periods_between("quarter", date(2026, 2, 15), date(2026, 7, 1)) == [
        "2026-Q1", "2026-Q2", "2026-Q3"]
    assert periods.periods_between("month", date(2026, 11, 30), date(2027, 1, 1)) == [
        "2026-11", "2026-12", "2027-01"]


def test_child_periods():
    assert periods.child_periods("2026") == ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]
    assert periods.child_periods("2026-Q4") == ["2026-10", "2026-11", "2026-12"]
    assert periods.child_periods("2026-11") == []
