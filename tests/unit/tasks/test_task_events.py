"""Every event the tasks domain records matches the schema registered for it."""
from __future__ import annotations

from datetime import timedelta

import pytest

from crmkit.events import make_envelope, registry
from services.tasks import schemas  # noqa: F401  (registers the event schemas)
from services.tasks.domain import create_task
from services.tasks.translators import (move_to_new_owner, shelve_for_returned_customer,
                                        task_from_followup_plan,
                                        task_from_opportunity_reminder)
from task_people import NOW, PEOPLE, owner_of

H = timedelta(hours=1)
D = timedelta(days=1)

PUBLISHED = {"task.created", "task.assigned", "task.status_changed", "task.completed",
             "task.updated", "reminder.due"}


def test_every_published_type_has_a_schema_from_the_tasks_producer():
    registered = {spec.type for spec in registry.specs("tasks")}
    assert PUBLISHED <= registered


def every_kind_of_event():
    events = []
    task = create_task(PEOPLE["sup1"], title="方案发送", type="proposal", due_at=NOW + D,
                       customer_ids=["c1"], assignee=None, now=NOW)
    task.assign(PEOPLE["sup1"], owner_of("rep1"), now=NOW)
    task.edit(PEOPLE["rep1"], {"priority": "high", "customer_ids": ["c1", "c2"]}, now=NOW)
    task.fire_due_reminders(NOW + D)
    task.change_status(PEOPLE["rep1"], "in_progress", now=NOW)
    task.change_status(PEOPLE["rep1"], "done", "已发送", now=NOW)
    events += task.events
    plan = task_from_followup_plan(plan_id="p", opportunity_id="o", customer_id="c1",
                                   owner=owner_of("rep1"), start_at=NOW + 3 * D,
                                   end_at=NOW + 3 * D + H, method="visit", content="x",
                                   now=NOW)
    move_to_new_owner([plan], "c1", "rep1", owner_of("rep2"), now=NOW)
    events += plan.events
    reminder = task_from_opportunity_reminder(reminder_key="r", opportunity_id="o",
                                              customer_id=None, owner=None,
                                              remind_at=NOW + H, now=NOW)
    events += reminder.events
    shelved = create_task(PEOPLE["rep1"], title="t", due_at=NOW + D, customer_ids=["c9"],
                          now=NOW)
    shelve_for_returned_customer([shelved], "c9", "rep1", now=NOW)
    events += shelved.events
    return events


def test_all_recorded_events_fit_their_schemas():
    events = every_kind_of_event()
    assert {e.type for e in events} == PUBLISHED
    for event in events:
        envelope = make_envelope(event, producer="tasks", actor_id="rep1")
        assert envelope["type"] == event.type and envelope["data"]["task_id"]


def test_a_schema_refuses_data_it_does_not_describe():
    [event] = create_task(PEOPLE["rep1"], title="t", due_at=NOW + D, now=NOW).events
    bad = type(event)(type=event.type, aggregate_id=event.aggregate_id,
                      data={**event.data, "surprise": 1})
    with pytest.raises(ValueError):
        make_envelope(bad, producer="tasks", actor_id="rep1")
