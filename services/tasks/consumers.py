"""What the tasks service does with other services' events (and its own, for the inbox).

Each handler is idempotent by event id: a task made from an event has an id derived
from its source (a second insert is a duplicate key), a change to an existing task
records the event id in the same conditional write (`apply_once`), and an inbox entry's
id is the event id. A handler that loses an optimistic-concurrency race reloads and
tries again; if it still fails the consumer retries the message later.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

from crmkit.bus.consumer import Subscriptions
from crmkit.clock import as_utc
from crmkit.errors import VersionConflict
from crmkit.visibility import Owner

from services.tasks import domain
from services.tasks.handlers import RETRIES, TasksService, envelopes_of
from services.tasks.repository import CustomerOwners

log = logging.getLogger(__name__)

PLAN_EVENTS = ("opportunity.followup_planned",)
OPPORTUNITY_REMINDER_EVENTS = ("opportunity.reminder_set",)
# A customer back in the pool (auto-reclaim may use its own type; same meaning).
TO_POOL = ("customer.returned", "customer.recovered", "customer.reclaimed")
NEW_OWNER = ("customer.assigned", "customer.claimed")
OWNER_KNOWN = ("customer.created", "customer.updated")
INBOX_EVENTS = ("task.created", "task.assigned", "reminder.due")


def _first(data: Mapping[str, Any], *names):
    for name in names:
        value = data.get(name)
        if value:
            return value
    return None


def _moment(value):
    from datetime import datetime
    if value is None or isinstance(value, datetime):
        return as_utc(value) if value else None
    return as_utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))


class TaskConsumers:
    def __init__(self, service: TasksService, db):
        self.service = service
        self.repo = service.repo
        self.directory = service.directory
        self.customers = CustomerOwners(db)

    def subscribe(self, subscriptions: Subscriptions) -> Subscriptions:
        for event_type in PLAN_EVENTS:
            subscriptions.on(event_type)(self.on_followup_planned)
        for event_type in OPPORTUNITY_REMINDER_EVENTS:
            subscriptions.on(event_type)(self.on_opportunity_reminder)
        for event_type in TO_POOL + NEW_OWNER + OWNER_KNOWN:
            subscriptions.on(event_type)(self.on_customer_owner)
        for event_type in INBOX_EVENTS:
            subscriptions.on(event_type)(self.on_own_event)
        return subscriptions

    # ---------------------------------------------------------------- people

    def _owner(self, user_id: str | None, data: Mapping[str, Any] | None = None,
               *, owner_field: str = "owner_id") -> Owner | None:
        """The user with team and region: from the event when it is about them, else
        from our copy of the user directory."""
        if not user_id:
            return None
        data = data or {}
        if data.get(owner_field) == user_id and data.get("owner_team"):
            return Owner(user_id, data.get("owner_team"), data.get("owner_region"))
        return self.directory.owner(user_id)

    # ---------------------------------------------------------------- opportunities

    def on_followup_planned(self, envelope: dict) -> None:
        data = envelope.get("data") or {}
        plan_id = _first(data, "plan_id", "id") or envelope["id"]
        owner = self._owner(_first(data, "assignee_id", "owner_id", "user_id"), data)
        reminders = data.get("reminders")
        task = domain.task_from_followup_plan(
            task_id=f"plan-{plan_id}", plan_id=plan_id,
            opportunity_id=_first(data, "opportunity_id") or envelope.get("aggregate_id"),
            customer_id=data.get("customer_id"), owner=owner,
            start_at=_moment(data["start_at"]), end_at=_moment(data.get("end_at")),
            method=data.get("method") or "", content=data.get("content") or "",
            opportunity_name=data.get("name"), title=data.get("title"),
            reminder_times=None if reminders is None else [
                _moment(r["remind_at"]) for r in reminders if r.get("remind_at")],
            now=self.service.clock(), event_id=envelope["id"])
        if not self.repo.add(task, envelopes_of(task, None)):
            log.info("follow-up plan %s already in the calendar", plan_id)

    def on_opportunity_reminder(self, envelope: dict) -> None:
        data = envelope.get("data") or {}
        key = _first(data, "reminder_id") or envelope["id"]
        owner = self._owner(_first(data, "user_id", "owner_id"), data)
        task = domain.task_from_opportunity_reminder(
            task_id=f"oppreminder-{key}", reminder_key=key,
            opportunity_id=_first(data, "opportunity_id") or envelope.get("aggregate_id"),
            customer_id=data.get("customer_id"), owner=owner,
            remind_at=_moment(data["remind_at"]), opportunity_name=data.get("name"),
            note=data.get("note"), title=data.get("title"), now=self.service.clock(),
            event_id=envelope["id"])
        if not self.repo.add(task, envelopes_of(task, None)):
            log.info("opportunity reminder %s already scheduled", key)

    # ---------------------------------------------------------------- customers

    def on_customer_owner(self, envelope: dict) -> None:
        event_type = envelope["type"]
        data = envelope.get("data") or {}
        customer = data.get("customer") if isinstance(data.get("customer"), Mapping) else {}
        customer_id = (_first(data, "customer_id", "id") or customer.get("id")
                       or envelope.get("aggregate_id"))
        if not customer_id:
            return
        known = self.customers.get(customer_id)
        previous = _previous_owner(data) or known
        new_owner_id = _new_owner(event_type, data, envelope)
        if new_owner_id is _UNCHANGED:
            return
        now = self.service.clock()
        if event_type in TO_POOL or (new_owner_id is None and previous):
            self._apply_to_customer_tasks(
                envelope, customer_id,
                lambda tasks: domain.shelve_for_returned_customer(
                    tasks, customer_id, previous, now=now))
        elif new_owner_id and previous and new_owner_id != previous:
            owner = self._owner(new_owner_id, {**data, **customer})
            self._apply_to_customer_tasks(
                envelope, customer_id,
                lambda tasks: domain.move_to_new_owner(
                    tasks, customer_id, previous, owner, now=now))
        # Only after the tasks: a crash before this line still knows the old owner.
        self.customers.record(customer_id, new_owner_id, envelope.get("occurred_at") or "",
                              envelope["id"])

    def _apply_to_customer_tasks(self, envelope: dict, customer_id: str, react) -> None:
        for _ in range(RETRIES):
            tasks = self.repo.open_for_customer(customer_id)
            loaded = {t.id: t.version for t in tasks}
            conflicts = 0
            for task in react(tasks):
                try:
                    self.repo.save(task, envelopes_of(task, None),
                                   expected_version=loaded[task.id],
                                   seen_event=envelope["id"])
                except VersionConflict:
                    conflicts += 1  # changed meanwhile, or this event already applied
            if not conflicts:
                return
        # Tasks that already took this event no longer match (shelved, or moved): what
        # still matches kept changing under us; the message is retried later.
        if react(self.repo.open_for_customer(customer_id)):
            raise VersionConflict(f"tasks of customer {customer_id} kept changing")

    # ---------------------------------------------------------------- the inbox

    def on_own_event(self, envelope: dict) -> None:
        if envelope.get("producer") not in (None, "tasks"):
            return
        self.service.add_notification_for(envelope)


_UNCHANGED: Any = object()


def _previous_owner(data: Mapping[str, Any]) -> str | None:
    found = _first(data, "previous_owner_id", "from_owner_id", "old_owner_id",
                   "returned_by_owner_id")
    if found:
        return found
    changes = data.get("changes") or {}
    pair = changes.get("owner_id")
    if isinstance(pair, (list, tuple)) and len(pair) == 2:
        return pair[0]
    return None


def _new_owner(event_type: str, data: Mapping[str, Any], envelope: dict) -> Any:
    """The owner an event states (None: in the pool), or _UNCHANGED."""
    if event_type in TO_POOL:
        return None
    if event_type == "customer.claimed":
        return _first(data, "owner_id", "to_owner_id", "user_id", "claimed_by") \
            or envelope.get("actor_id")
    if event_type == "customer.assigned":
        found = _first(data, "owner_id", "to_owner_id", "new_owner_id", "user_id",
                       "assignee_id")
        return found if found else _UNCHANGED
    if event_type == "customer.created":
        return data.get("owner_id")
    if event_type == "customer.updated":
        pair = (data.get("changes") or {}).get("owner_id")
        if isinstance(pair, (list, tuple)) and len(pair) == 2:
            return pair[1]
        return _UNCHANGED
    return _UNCHANGED
