"""The in-app inbox: the entry each of the service's own events makes for someone, and
the customer service's `customer.reclaim_warning` for the customer's owner.

An entry's id is the id of the event that made it, so a redelivered event makes no second
entry.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crmkit.clock import utcnow

from services.tasks.domain import clip


RECLAIM_WARNING = "customer.reclaim_warning"


@dataclass
class Notification:
    id: str
    user_id: str
    kind: str          # reminder | task_assigned | reclaim_warning
    title: str
    ref: dict
    created_at: datetime
    read: bool = False
    read_at: datetime | None = None

    def mark_read(self, now: datetime) -> bool:
        if self.read:
            return False
        self.read, self.read_at = True, now
        return True


def notification_for(envelope: dict, *, now: datetime | None = None) -> Notification | None:
    """The inbox entry one of our own events makes, keyed by the event id so that a
    redelivered event makes no second entry."""
    data = envelope.get("data") or {}
    kind = envelope.get("type")
    created_at = now or utcnow()
    ref = {"type": "task", "id": data.get("task_id") or envelope.get("aggregate_id")}
    title = data.get("title") or ""
    if kind == "reminder.due":
        user_id = data.get("user_id")
        text = f"任务提醒:{title} / Reminder: {title}"
        kind_name = "reminder"
    elif kind in ("task.assigned", "task.created"):
        user_id = data.get("assignee_id")
        # Nobody needs telling about a task they gave themselves.
        giver = data.get("created_by") if kind == "task.created" else data.get("actor_id")
        if not user_id or user_id == giver:
            return None
        text = f"新任务:{title} / New task for you: {title}"
        kind_name = "task_assigned"
    elif kind == RECLAIM_WARNING:
        # The customer service warns the owner before auto-reclaim (once per deadline).
        user_id, name, due_on = data.get("owner_id"), data.get("name") or "", data.get("due_on")
        ref = {"type": "customer", "id": data.get("customer_id")}
        text = (f"客户即将被回收:{name}({due_on} 前请跟进)"
                f" / Customer goes back to the pool on {due_on} unless followed up: {name}")
        kind_name = "reclaim_warning"
    else:
        return None
    if not user_id:
        return None
    return Notification(id=envelope["id"], user_id=user_id, kind=kind_name,
                        title=clip(text, 300), ref=ref, created_at=created_at)
