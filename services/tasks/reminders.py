"""A task's reminders: when they fire by default, and the ones a user chooses.

Each fires once (the task marks it and records reminder.due; see Task.fire_due_reminders).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable

from crmkit.clock import as_utc
from crmkit.errors import Invalid

# The seeds: "任务到期前,系统通过消息提醒负责人(如'……任务将于2小时后到期')".
DEFAULT_REMINDER_LEAD = timedelta(hours=2)
MAX_REMINDERS = 10


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass
class Reminder:
    remind_at: datetime
    id: str = field(default_factory=new_id)
    # default (2 h before due) | custom (given by a user) | plan (1 day before a
    # follow-up plan) | opportunity (an opportunity reminder)
    kind: str = "custom"
    fired_at: datetime | None = None

    @property
    def fired(self) -> bool:
        return self.fired_at is not None



def default_reminders(due_at: datetime, now: datetime) -> list[Reminder]:
    """Two hours before the due time, as the seeds say; none if that has passed."""
    remind_at = as_utc(due_at) - DEFAULT_REMINDER_LEAD
    return [Reminder(remind_at=remind_at, kind="default")] if remind_at > now else []


def custom_reminders(values: Iterable, now: datetime) -> list[Reminder]:
    values = list(values or [])
    if len(values) > MAX_REMINDERS:
        raise Invalid("reminders", f"At most {MAX_REMINDERS} reminders.")
    reminders: list[Reminder] = []
    for index, value in enumerate(values):
        remind_at = value.get("remind_at") if isinstance(value, dict) else value
        if not isinstance(remind_at, datetime):
            raise Invalid(f"reminders.{index}.remind_at", "A date-time is required.")
        remind_at = as_utc(remind_at)
        if remind_at <= now:
            raise Invalid(f"reminders.{index}.remind_at",
                          "Must be in the future. 提醒时间须晚于当前时间。")
        reminders.append(Reminder(remind_at=remind_at, kind="custom"))
    times = [r.remind_at for r in reminders]
    if len(set(times)) != len(times):
        raise Invalid("reminders", "Each reminder time only once.")
    return sorted(reminders, key=lambda r: r.remind_at)

