from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from services.customer import numbering


def test_format_pads_the_serial_to_four_digits():
    assert numbering.format_number(date(2026, 11, 23), 1) == "CRM202611230001"


def test_serial_widens_past_9999():
    assert numbering.format_number(date(2026, 11, 23), 9999) == "CRM202611239999"
    assert numbering.format_number(date(2026, 11, 23), 10000) == "CRM2026112310000"


def test_serial_must_be_positive():
    with pytest.raises(ValueError):
        numbering.format_number(date(2026, 11, 23), 0)


def test_day_is_the_organisation_local_date():
    late_utc = datetime(2026, 11, 22, 16, 30, tzinfo=timezone.utc)  # 00:30 next day
    assert numbering.number_day(late_utc, ZoneInfo("Asia/Shanghai")) == date(2026, 11, 23)
    assert numbering.number_day(late_utc, ZoneInfo("UTC")) == date(2026, 11, 22)


def test_day_defaults_to_crm_timezone(monkeypatch):
    monkeypatch.setenv("CRM_TIMEZONE", "America/New_York")
    moment = datetime(2026, 11, 23, 3, 0, tzinfo=timezone.utc)  # 22:00 the day before
    assert numbering.number_for(moment, 7) == "CRM202611220007"


def test_naive_moments_are_refused():
    with pytest.raises(ValueError):
        numbering.number_day(datetime(2026, 11, 23))


def test_parse_round_trips():
    assert numbering.parse_number("CRM2026112310000") == (date(2026, 11, 23), 10000)
    assert numbering.parse_number("CRM20261399" + "0001") is None
    assert numbering.parse_number("XYZ") is None


def test_looks_like_number():
    assert numbering.looks_like_number("CRM2026")
    assert numbering.looks_like_number("crm202611230001")
    assert not numbering.looks_like_number("商策")
