"""The RFC 5545 feed a user subscribes to from an external calendar.

One VEVENT per task, its UID stable across fetches (so the calendar updates the entry
rather than adding another), DTSTAMP/LAST-MODIFIED from the task's last change,
SEQUENCE from its version, and a VALARM per reminder still to come.
"""
from __future__ import annotations

from datetime import datetime
from typing import Iterable

from icalendar import Alarm, Calendar, Event

from crmkit.clock import as_utc, utcnow

PRODID = "-//crm//tasks//ZH-EN"
UID_DOMAIN = "tasks.crm"
PRIORITY = {"high": 1, "medium": 5, "low": 9}          # RFC 5545 §3.8.1.9
STATUS_TEXT = {"todo": "待处理 To do", "in_progress": "进行中 In progress",
               "done": "已完成 Done", "shelved": "已搁置 Shelved"}


def uid(task) -> str:
    return f"task-{task.id}@{UID_DOMAIN}"


def event_for(task, *, now: datetime) -> Event:
    event = Event()
    event.add("uid", uid(task))
    stamp = as_utc(task.updated_at or task.created_at or now)
    event.add("dtstamp", stamp)
    if task.created_at:
        event.add("created", as_utc(task.created_at))
    event.add("last-modified", stamp)
    event.add("sequence", max(int(task.version or 0), 0))
    start = as_utc(task.calendar_start)
    event.add("dtstart", start)
    end = as_utc(task.calendar_end)
    if end > start:
        event.add("dtend", end)
    prefix = "[已完成] " if task.status == "done" else (
        "[已搁置] " if task.status == "shelved" else "")
    event.add("summary", prefix + task.title)
    lines = [task.description] if task.description else []
    lines.append(f"状态 Status: {STATUS_TEXT.get(task.status, task.status)}")
    if task.result:
        lines.append(f"结果 Result: {task.result}")
    event.add("description", "\n".join(lines))
    event.add("priority", PRIORITY.get(task.priority, 0))
    event.add("categories", [task.type])
    # Shelved work is off the plan; done and open work stays as it happened/will happen.
    event.add("status", "CANCELLED" if task.status == "shelved" else "CONFIRMED")
    event.add("transp", "OPAQUE")
    if task.is_open:
        for reminder in task.reminders:
            if reminder.fired:
                continue
            alarm = Alarm()
            alarm.add("action", "DISPLAY")
            alarm.add("description", f"提醒 Reminder: {task.title}")
            # Relative to DTSTART: the form every calendar client understands.
            alarm.add("trigger", as_utc(reminder.remind_at) - start)
            event.add_component(alarm)
    return event


def feed(tasks: Iterable, *, name: str = "CRM 任务 Tasks", now: datetime | None = None,
         timezone_name: str | None = None) -> bytes:
    now = as_utc(now or utcnow())
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    if timezone_name:
        cal.add("x-wr-timezone", timezone_name)
    for task in tasks:
        cal.add_component(event_for(task, now=now))
    return cal.to_ical()
