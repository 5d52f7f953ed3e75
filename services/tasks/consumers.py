"""What the tasks service does with other services' events (and its own, for the inbox).

Each reaction reads exactly the fields the producer's schema declares (events/customer.py,
events/opportunity.py); the bus consumer has checked the data against it before a handler
sees it. Each is idempotent by event id: a task made from an event has an id derived from
its source (a second insert is a duplicate key), a change to an existing task records the
event id in the same conditional write (`apply_once`), and an inbox entry's id is the
event id.

Customer and opportunity events also feed what the service knows of those records
(owner, sharees, region), ordered by `crmkit.bus.ordering.order_key`: a task may only
link what its author may see (`TaskHandlers.require_links`).
"""
from __future__ import annotations

import logging
from typing import Callable

from crmkit.bus.consumer import Subscriptions
from crmkit.bus.ordering import order_key, parse_instant
from crmkit.clock import org_timezone, parse_day
from crmkit.visibility import Owner

from services.tasks.domain import Task
from services.tasks.handlers import TaskHandlers
from services.tasks.translators import (move_to_new_owner, shelve_for_returned_customer,
                                        task_from_followup_plan, task_from_next_action,
                                        task_from_opportunity_reminder)

log = logging.getLogger(__name__)

FOLLOWUP_PLANNED = "opportunity.followup_planned"
REMINDER_SET = "opportunity.reminder_set"
# A customer back in the pool: its previous owner's open tasks for it are shelved.
TO_POOL = ("customer.returned", "customer.recovered")
# A customer with a new owner: its open follow-up work moves along.
NEW_OWNER = ("customer.claimed", "customer.assigned")
# Events that change nobody's tasks, only what the service knows of a customer (every
# customer event carries the customer's snapshot).
CUSTOMER_FACTS = ("customer.created", "customer.updated", "customer.shared",
                  "customer.unshared", "customer.deleted")
# Every opportunity event carries the opportunity's snapshot; these are the ones that
# make or move it (plans and reminders, consumed above, say the same).
OPPORTUNITY_FACTS = ("opportunity.created", "opportunity.assigned")
INBOX_EVENTS = ("task.created", "task.assigned", "reminder.due")
# A follow-up's next action (logged, or added by its author's correction) becomes a task
# for the customer's owner.
NEXT_ACTION_EVENTS = ("interaction.logged", "interaction.updated")
# The customer service warns an owner before auto-reclaim: an inbox entry for them.
RECLAIM_WARNING = "customer.reclaim_warning"


def subscriptions(handlers: TaskHandlers, directory) -> Subscriptions:
    reactions = TaskReactions(handlers)
    subs = Subscriptions()
    subs.on(FOLLOWUP_PLANNED)(reactions.on_followup_planned)
    subs.on(REMINDER_SET)(reactions.on_opportunity_reminder)
    for event_type in TO_POOL + NEW_OWNER + CUSTOMER_FACTS:
        subs.on(event_type)(reactions.on_customer_event)
    for event_type in OPPORTUNITY_FACTS:
        subs.on(event_type)(reactions.on_opportunity_event)
    for event_type in INBOX_EVENTS:
        subs.on(event_type)(reactions.on_own_event)
    subs.on(RECLAIM_WARNING)(reactions.on_reclaim_warning)
    for event_type in NEXT_ACTION_EVENTS:
        subs.on(event_type)(reactions.on_interaction)
    directory.subscribe(subs)
    return subs


class TaskReactions:
    def __init__(self, handlers: TaskHandlers):
        self.handlers = handlers

    # ---------------------------------------------------------------- opportunities

    def on_followup_planned(self, envelope: dict) -> None:
        data = envelope["data"]
        task = task_from_followup_plan(
            task_id=f"plan-{data['plan_id']}", plan_id=data["plan_id"],
            opportunity_id=data["opportunity_id"], customer_id=data["customer_id"],
            owner=self._holder(data["assignee_id"], data),
            start_at=parse_instant(data["start_at"]), end_at=parse_instant(data["end_at"]),
            method=data["method"], content=data["content"], opportunity_name=data["name"],
            title=data["title"],
            reminder_times=[parse_instant(r["remind_at"]) for r in data["reminders"]],
            now=self.handlers.clock(), event_id=envelope["id"])
        if not self.handlers.add(task, None):
            log.info("follow-up plan %s already in the calendar", data["plan_id"])
        self.on_opportunity_event(envelope)

    def on_opportunity_reminder(self, envelope: dict) -> None:
        data = envelope["data"]
        task = task_from_opportunity_reminder(
            task_id=f"oppreminder-{data['reminder_id']}", reminder_key=data["reminder_id"],
            opportunity_id=data["opportunity_id"], customer_id=data["customer_id"],
            owner=self._holder(data["user_id"], data),
            remind_at=parse_instant(data["remind_at"]), opportunity_name=data["name"],
            note=data["note"], title=data["title"], now=self.handlers.clock(),
            event_id=envelope["id"])
        if not self.handlers.add(task, None):
            log.info("opportunity reminder %s already scheduled", data["reminder_id"])
        self.on_opportunity_event(envelope)

    def on_opportunity_event(self, envelope: dict) -> None:
        """Keep what the event says of the opportunity (whom a task may link it for)."""
        data = envelope["data"]
        facts = {k: data[k] for k in ("customer_id", "owner_id", "owner_team",
                                      "owner_region", "region")}
        self.handlers.opportunities.record(
            data["opportunity_id"], facts,
            order_key(envelope, creation=envelope["type"] == "opportunity.created"),
            envelope["id"])

    def _holder(self, user_id: str | None, opportunity: dict) -> Owner | None:
        """Who holds a task an opportunity event causes, placed by the opportunity's
        owner fields when it is its owner."""
        if user_id and user_id == opportunity["owner_id"]:
            return self.handlers.placed(user_id, opportunity["owner_team"],
                                        opportunity["owner_region"])
        return self.handlers.placed(user_id)

    # ---------------------------------------------------------------- customers

    def on_customer_event(self, envelope: dict) -> None:
        """Shelve or move the customer's open tasks when its owner changes, then keep
        what the event says of the customer."""
        event_type, data = envelope["type"], envelope["data"]
        customer_id, now = data["customer_id"], self.handlers.clock()
        previous = data.get("previous_owner_id")   # declared by the owner changes only
        if event_type in TO_POOL and previous:
            self._each_open_task(envelope, customer_id, lambda task: bool(
                shelve_for_returned_customer([task], customer_id, previous, now=now)))
        elif event_type in NEW_OWNER and previous and data["owner_id"] != previous:
            owner = self.handlers.placed(data["owner_id"], data["owner_team"],
                                         data["owner_region"])
            self._each_open_task(envelope, customer_id, lambda task: bool(
                move_to_new_owner([task], customer_id, previous, owner, now=now)))
        # Only after the tasks: a crash in between redelivers the event, and the tasks
        # that took it already are left as they are.
        facts = {k: data[k] for k in ("owner_id", "owner_team", "owner_region", "region")}
        facts["shared_with"] = list(data["shared_with"])
        facts["shared_teams"] = list(data.get("shared_teams") or [])
        if event_type == "customer.deleted":
            facts["deleted"] = True
        self.handlers.customers.record(
            customer_id, facts,
            order_key(envelope, creation=event_type == "customer.created"), envelope["id"])

    def _each_open_task(self, envelope: dict, customer_id: str,
                        react: Callable[[Task], bool]) -> None:
        for task in self.handlers.repo.open_for_customer(customer_id):
            self.handlers.react(task.id, react, event_id=envelope["id"])

    # ---------------------------------------------------------------- the inbox

    def on_own_event(self, envelope: dict) -> None:
        if envelope.get("producer") not in (None, "tasks"):
            return
        self.handlers.add_notification_for(envelope)

    def on_interaction(self, envelope: dict) -> None:
        """A follow-up with a next action: a task for the customer's owner, once per
        follow-up (its id is derived from the follow-up's: a second insert, from a
        redelivery or a later correction, is a duplicate). A changed next action does
        not change the task: the owner has it and may edit it."""
        data = envelope["data"]
        if not data.get("next_action") or not data.get("owner_id"):
            return
        task = task_from_next_action(
            task_id=f"interaction-{data['interaction_id']}",
            interaction_id=data["interaction_id"], customer_id=data["customer_id"],
            owner=self.handlers.placed(data["owner_id"], data["owner_team"],
                                       data["owner_region"]),
            next_action=data["next_action"],
            due_on=parse_day(data.get("next_action_due")),
            occurred_at=parse_instant(data["occurred_at"]), subject=data.get("subject"),
            opportunity_id=data.get("opportunity_id"), now=self.handlers.clock(),
            tz=org_timezone(), event_id=envelope["id"])
        if not self.handlers.add(task, None):
            log.info("next action of follow-up %s already a task", data["interaction_id"])

    def on_reclaim_warning(self, envelope: dict) -> None:
        """customer.reclaim_warning: the owner's inbox says when the customer goes back
        to the pool (one entry per event id)."""
        self.handlers.add_notification_for(envelope)
