"""The .ics feed parses back with a real iCalendar library and says what we mean."""
from __future__ import annotations

from datetime import timedelta

from icalendar import Calendar

from services.tasks import ics
from services.tasks.domain import create_task
from services.tasks.translators import task_from_followup_plan
from task_people import NOW, PEOPLE, owner_of

H = timedelta(hours=1)
D = timedelta(days=1)


def sample():
    task = create_task(PEOPLE["rep1"], title="电话回访 A 公司", due_at=NOW + 2 * D,
                       type="call", priority="high", description="准备报价单", now=NOW)
    plan = task_from_followup_plan(plan_id="p", opportunity_id="o", customer_id="c",
                                   owner=owner_of("rep1"), start_at=NOW + 3 * D,
                                   end_at=NOW + 3 * D + H, method="visit",
                                   content="上门拜访", now=NOW)
    return task, plan


def parse(data: bytes) -> Calendar:
    return Calendar.from_ical(data)


def test_feed_is_a_calendar_with_one_event_per_task():
    task, plan = sample()
    cal = parse(ics.feed([task, plan], now=NOW))
    assert cal["VERSION"] == "2.0" and cal["PRODID"]
    events = cal.walk("VEVENT")
    assert [str(e["UID"]) for e in events] == [ics.uid(task), ics.uid(plan)]
    for e in events:
        assert e.decoded("DTSTAMP").tzinfo is not None
        assert e.decoded("DTSTART")
    assert str(events[0]["SUMMARY"]) == "电话回访 A 公司"
    assert int(events[0]["PRIORITY"]) == 1


def test_uid_is_stable_across_fetches():
    task, _ = sample()
    first = parse(ics.feed([task], now=NOW)).walk("VEVENT")[0]
    second = parse(ics.feed([task], now=NOW + D)).walk("VEVENT")[0]
    assert first["UID"] == second["UID"] == f"task-{task.id}@tasks.crm"


def test_a_task_is_at_its_due_time_and_a_plan_spans_start_to_end():
    task, plan = sample()
    ev_task, ev_plan = parse(ics.feed([task, plan], now=NOW)).walk("VEVENT")
    assert ev_task.decoded("DTSTART") == NOW + 2 * D
    assert "DTEND" not in ev_task
    assert ev_plan.decoded("DTSTART") == NOW + 3 * D
    assert ev_plan.decoded("DTEND") == NOW + 3 * D + H


def test_each_pending_reminder_is_an_alarm_at_its_time():
    task, plan = sample()
    ev_task, ev_plan = parse(ics.feed([task, plan], now=NOW)).walk("VEVENT")
    [alarm] = ev_task.walk("VALARM")
    assert str(alarm["ACTION"]) == "DISPLAY"
    assert ev_task.decoded("DTSTART") + alarm.decoded("TRIGGER") == NOW + 2 * D - 2 * H
    [plan_alarm] = ev_plan.walk("VALARM")
    assert plan_alarm.decoded("TRIGGER") == -D


def test_fired_reminders_and_closed_tasks_have_no_alarm():
    task, plan = sample()
    task.fire_due_reminders(NOW + 2 * D)
    plan.change_status(PEOPLE["rep1"], "shelved", now=NOW)
    ev_task, ev_plan = parse(ics.feed([task, plan], now=NOW)).walk("VEVENT")
    assert ev_task.walk("VALARM") == [] and ev_plan.walk("VALARM") == []
    assert str(ev_plan["STATUS"]) == "CANCELLED"
    assert str(ev_plan["SUMMARY"]).startswith("[已搁置]")


def test_feed_lines_are_crlf_and_folded():
    task, _ = sample()
    task.description = "很长的描述" * 40
    data = ics.feed([task], now=NOW)
    assert b"\r\n" in data
    assert all(len(line) <= 75 for line in data.split(b"\r\n"))
    assert "很长的描述" * 40 in str(parse(data).walk("VEVENT")[0]["DESCRIPTION"])


def test_empty_feed_is_still_valid():
    cal = parse(ics.feed([], now=NOW))
    assert cal.walk("VEVENT") == []
