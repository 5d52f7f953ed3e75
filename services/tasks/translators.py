"""Tasks that other services' events cause: an opportunity's follow-up plan or reminder
becomes a calendar entry; a follow-up's next action becomes a task for the customer's
owner; a customer's change of owner shelves or moves the open work on
it. The consumers (consumers.py) read the events; these are the rules.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Iterable

from crmkit.clock import as_utc
from crmkit.visibility import Owner

from services.tasks.domain import (CUSTOMER_WORK_TYPES, SYSTEM_ACTOR, Reminder, Task, clip,
                                   new_id)
from services.tasks.reminders import default_reminders

# A follow-up plan "同步至负责人的日程管理模块,并提前1天发送提醒".
FOLLOWUP_PLAN_REMINDER_LEAD = timedelta(days=1)
# Plan methods of the opportunity service (CONTRACT §5) as task types.
PLAN_METHOD_TYPES = {"call": "call", "visit": "visit", "online_meeting": "followup"}


def task_from_followup_plan(*, plan_id: str, opportunity_id: str, customer_id: str | None,
                            owner: Owner | None, start_at: datetime,
                            end_at: datetime | None, method: str, content: str,
                            opportunity_name: str | None = None, title: str | None = None,
                            reminder_times: list[datetime] | None = None, now: datetime,
                            task_id: str | None = None, event_id: str | None = None) -> Task:
    """An opportunity follow-up plan lands in its owner's calendar, with a reminder one
    day before it starts (if that moment is still ahead). `reminder_times`, when the
    plan states them, are taken as they are."""
    start_at = as_utc(start_at)
    end_at = as_utc(end_at) if end_at else None
    if reminder_times is None:
        remind_at = start_at - FOLLOWUP_PLAN_REMINDER_LEAD
        reminder_times = [remind_at] if remind_at > now else []
    label = opportunity_name or content or opportunity_id
    title = clip(title or f"跟进计划 Follow-up: {label}")
    return _caused_task(
        owner, now, task_id, {"type": "followup_plan", "id": plan_id, "event_id": event_id},
        type=PLAN_METHOD_TYPES.get(method, "followup"), title=title,
        description=content or "", customer_ids=[customer_id] if customer_id else [],
        opportunity_id=opportunity_id, due_at=end_at or start_at, start_at=start_at,
        end_at=end_at, reminders=[Reminder(remind_at=as_utc(t), kind="plan")
                                  for t in sorted(set(reminder_times))])


def task_from_opportunity_reminder(*, reminder_key: str, opportunity_id: str,
                                   customer_id: str | None, owner: Owner | None,
                                   remind_at: datetime, opportunity_name: str | None = None,
                                   note: str | None = None, title: str | None = None,
                                   now: datetime,
                                   task_id: str | None = None,
                                   event_id: str | None = None) -> Task:
    """An opportunity reminder ("设置提醒") becomes a calendar entry that fires at its
    time, even if that time is already here (the user asked to be reminded)."""
    remind_at = as_utc(remind_at)
    label = opportunity_name or opportunity_id
    return _caused_task(
        owner, now, task_id,
        {"type": "opportunity_reminder", "id": reminder_key, "event_id": event_id},
        type="followup", title=clip(title or f"商机提醒 Opportunity: {label}"),
        description=note or "", customer_ids=[customer_id] if customer_id else [],
        opportunity_id=opportunity_id, due_at=remind_at,
        reminders=[Reminder(remind_at=remind_at, kind="opportunity")])


# An interaction's next action is due at the end of the working day it names (18:00 in
# the organisation's time zone); without a date, at the end of the day after the follow-up.
NEXT_ACTION_HOUR = 18


def next_action_due_at(due_on: date | None, occurred_at: datetime, tz: tzinfo) -> datetime:
    day = due_on or (as_utc(occurred_at).astimezone(tz).date() + timedelta(days=1))
    return datetime.combine(day, time(NEXT_ACTION_HOUR), tzinfo=tz).astimezone(timezone.utc)


def task_from_next_action(*, interaction_id: str, customer_id: str, owner: Owner | None,
                          next_action: str, due_on: date | None, occurred_at: datetime,
                          subject: str | None, opportunity_id: str | None, now: datetime,
                          tz: tzinfo, task_id: str | None = None,
                          event_id: str | None = None) -> Task:
    """A follow-up's 后续行动 (next action) becomes a task for the customer's owner, due
    on its date, with the default reminder two hours before (if still ahead)."""
    due_at = next_action_due_at(due_on, occurred_at, tz)
    return _caused_task(
        owner, now, task_id,
        {"type": "interaction_next_action", "id": interaction_id, "event_id": event_id},
        type="followup", title=clip(f"后续行动 Next action: {next_action}"),
        description=clip(f"{subject or ''}\n{next_action}".strip(), 5000),
        customer_ids=[customer_id], opportunity_id=opportunity_id, due_at=due_at,
        reminders=default_reminders(due_at, now))


def _caused_task(owner: Owner | None, now: datetime, task_id: str | None, source: dict,
                 **fields) -> Task:
    """A task another service's event caused, held by the owner it names (created in
    their name: nobody is told of a task "given" by the system), else in the pool."""
    task = Task(
        id=task_id or new_id(), created_by=owner.user_id if owner else SYSTEM_ACTOR,
        creator_team=owner.team if owner else None,
        creator_region=owner.region if owner else None,
        region=owner.region if owner else None,
        assignee_id=owner.user_id if owner else None,
        assignee_team=owner.team if owner else None,
        assignee_region=owner.region if owner else None,
        priority="medium", created_at=now, updated_at=now, version=1, source=source,
        **fields)
    task.record_creation(SYSTEM_ACTOR)
    return task


def holds_customer_work(task: Task, customer_id: str, holder_id: str | None) -> bool:
    return (task.is_open and holder_id is not None and task.assignee_id == holder_id
            and customer_id in task.customer_ids)


def shelve_for_returned_customer(tasks: Iterable[Task], customer_id: str,
                                 previous_owner_id: str | None, *,
                                 now: datetime) -> list[Task]:
    """A customer back in the pool: the old owner's open tasks for it are shelved."""
    changed = []
    for task in tasks:
        if holds_customer_work(task, customer_id, previous_owner_id):
            if task.shelve_for_returned_customer(customer_id, now=now):
                changed.append(task)
    return changed


def move_to_new_owner(tasks: Iterable[Task], customer_id: str, previous_owner_id: str | None,
                      new_owner: Owner, *, now: datetime) -> list[Task]:
    """A customer with a new owner: its open follow-up work moves along with it."""
    changed = []
    for task in tasks:
        if (holds_customer_work(task, customer_id, previous_owner_id)
                and task.type in CUSTOMER_WORK_TYPES):
            if task.follow_customer_to(new_owner, customer_id, now=now):
                changed.append(task)
    return changed

