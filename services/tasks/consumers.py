"""What the tasks service does with other services' events (and its own, for the inbox).

Each handler is idempotent by event id: a task made from an event has an id derived
from its source (a second insert is a duplicate key), a change to an existing task
records the event id in the same conditional write (`apply_once`), and an inbox entry's
id is the event id. A handler that loses an optimistic-concurrency race reloads and
tries again; if it still fails the consumer retries the message later.

Customer and opportunity events also feed what the service knows of those records
(owner, sharees, region), newer news winning: a task may only link what its author
may see (`TasksService.require_links`).
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

log = logging.getLogger(__name__)

PLAN_EVENTS = ("opportunity.followup_planned",)
OPPORTUNITY_REMINDER_EVENTS = ("opportunity.reminder_set",)
# A customer back in the pool (auto-reclaim may use its own type; same meaning).
TO_POOL = ("customer.returned", "customer.recovered", "customer.reclaimed")
NEW_OWNER = ("customer.assigned", "customer.claimed")
OWNER_KNOWN = ("customer.created", "customer.updated")
# Events that change nobody's tasks but what the service knows of a customer: whom a
# task may link it for (every customer event carries the customer's snapshot).
CUSTOMER_FACTS = ("customer.shared", "customer.unshared", "customer.deleted")
# Every opportunity event carries the opportunity's snapshot; these are the ones that
# make or move it (its owner changes only by opportunity.assigned). Plans and
# reminders, consumed above, say the same.
OPPORTUNITY_FACTS = ("opportunity.created", "opportunity.assigned")
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
        self.customers = service.customers
        self.opportunities = service.opportunities

    def subscribe(self, subscriptions: Subscriptions) -> Subscriptions:
        for event_type in PLAN_EVENTS:
            subscriptions.on(event_type)(self.on_followup_planned)
        for event_type in OPPORTUNITY_REMINDER_EVENTS:
            subscriptions.on(event_type)(self.on_opportunity_reminder)
        for event_type in TO_POOL + NEW_OWNER + OWNER_KNOWN + CUSTOMER_FACTS:
            subscriptions.on(event_type)(self.on_customer_event)
        for event_type in OPPORTUNITY_FACTS:
            subscriptions.on(event_type)(self.on_opportunity_event)
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
        self.on_opportunity_event(envelope)

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
        self.on_opportunity_event(envelope)

    def on_opportunity_event(self, envelope: dict) -> None:
        """Keep what the event says of the opportunity (to know whom a task may link
        it for)."""
        data = envelope.get("data") or {}
        opportunity_id = _first(data, "opportunity_id") or envelope.get("aggregate_id")
        if not opportunity_id:
            return
        facts = {k: data[k] for k in ("customer_id", "owner_id", "owner_team",
                                      "owner_region", "region") if k in data}
        self.opportunities.record(opportunity_id, facts, envelope.get("occurred_at") or "",
                                  envelope["id"], version=_version(data))

    # ---------------------------------------------------------------- customers

    def on_customer_event(self, envelope: dict) -> None:
        """Move or shelve the customer's open tasks when its owner changes, then keep
        what the event says of the customer."""
        event_type = envelope["type"]
        data = envelope.get("data") or {}
        customer = data.get("customer") if isinstance(data.get("customer"), Mapping) else {}
        customer_id = (_first(data, "customer_id", "id") or customer.get("id")
                       or envelope.get("aggregate_id"))
        if not customer_id:
            return
        known = self.customers.owner_of(customer_id)
        previous = _previous_owner(data) or known
        new_owner_id = _new_owner(event_type, data, envelope)
        now = self.service.clock()
        if new_owner_id is _UNCHANGED:
            pass  # nobody's tasks move
        elif event_type in TO_POOL or (new_owner_id is None and previous):
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
        snapshot = {**customer, **data}
        self.customers.record(customer_id, _customer_facts(event_type, snapshot, new_owner_id),
                              envelope.get("occurred_at") or "", envelope["id"],
                              version=_version(snapshot))

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


def _version(data: Mapping[str, Any]) -> int | None:
    """The record's version after the change, when its snapshot says."""
    version = data.get("version")
    return version if isinstance(version, int) and not isinstance(version, bool) else None


def _customer_facts(event_type: str, data: Mapping[str, Any], new_owner_id: Any) -> dict:
    """What an event says of the customer: the owner it states (else the one its
    snapshot names) with their team and region, its region and sharees, deletion."""
    facts: dict = {}
    owner_id = data.get("owner_id", _UNCHANGED) if new_owner_id is _UNCHANGED \
        else new_owner_id
    if owner_id is not _UNCHANGED:
        facts["owner_id"] = owner_id
        named = data.get("owner_id") == owner_id
        facts["owner_team"] = data.get("owner_team") if named and owner_id else None
        facts["owner_region"] = data.get("owner_region") if named and owner_id else None
    if "region" in data:
        facts["region"] = data["region"]
    if isinstance(data.get("shared_with"), list):
        facts["shared_with"] = [str(u) for u in data["shared_with"]]
    if event_type == "customer.deleted":
        facts["deleted"] = True
    return facts


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
