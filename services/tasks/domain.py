"""The task aggregate: a task, its status machine and its reminders, in plain Python.

A task belongs to one assignee (or to nobody: then it sits in the task pool that
supervisors and up hand out). Its status moves todo -> (in_progress ->) done, any open
task may be shelved and a shelved one goes back to todo; `done` needs a result. Each
reminder fires once: firing marks it and records `reminder.due`; the inbox is built
from that event (notifications.py). Who may do what: access.py; tasks that other
services' events cause: translators.py.

Everything here takes `now` so that tests and the scheduler decide what time it is.
Entities record what happened as `DomainEvent`s in `events` and raise `version` once per
changing command; the kernel's command runner writes the events to the outbox in the same
write as the state change, then clears them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from itertools import cycle
from typing import Any

from crmkit.clock import as_utc, isoformat, utcnow
from crmkit.errors import Conflict, Forbidden, Invalid
from crmkit.events import DomainEvent
from crmkit.identity import Identity
from crmkit.visibility import Owner

from events.tasks import STATUSES   # the contract owns the vocabularies
from services.tasks.access import require_can_edit, require_can_view, require_may_assign_to
from services.tasks.fields import refuse_free_text, require_valid
from services.tasks.reminders import Reminder, custom_reminders, default_reminders, new_id

OPEN_STATUSES = ("todo", "in_progress")

# The status machine (CONTRACT §6): todo -> in_progress -> done, or todo -> done at once
# with its result (a quick call is done when logged); any open -> shelved;
# shelved -> todo. `done` is final.
TRANSITIONS: dict[str, frozenset[str]] = {
    "todo": frozenset({"in_progress", "done", "shelved"}),
    "in_progress": frozenset({"done", "shelved"}),
    "shelved": frozenset({"todo"}),
    "done": frozenset(),
}

# Task types that are work on a customer, which follow the customer to a new owner.
# Internal tasks stay with whoever holds them.
CUSTOMER_WORK_TYPES = frozenset({"visit", "call", "proposal", "followup", "other"})

SYSTEM_ACTOR = "system"

STATUS_LABELS = {
    "todo": ("待处理", "To do"),
    "in_progress": ("进行中", "In progress"),
    "done": ("已完成", "Done"),
    "shelved": ("已搁置", "Shelved"),
}


def person(user_id: str | None, team: str | None = None,
           region: str | None = None) -> Owner | None:
    return Owner(user_id, team, region) if user_id else None


def identity_as_owner(identity: Identity) -> Owner:
    return Owner(identity.user_id, identity.team, identity.region)


# ---------------------------------------------------------------- the task

@dataclass
class Task:
    id: str
    type: str
    title: str
    created_by: str
    creator_team: str | None
    creator_region: str | None
    due_at: datetime
    description: str = ""
    customer_ids: list[str] = field(default_factory=list)
    opportunity_id: str | None = None
    assignee_id: str | None = None
    assignee_team: str | None = None
    assignee_region: str | None = None
    # The region whose pool holds the task while unassigned (the creator's region).
    region: str | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None
    priority: str = "medium"
    status: str = "todo"
    result: str | None = None
    reminders: list[Reminder] = field(default_factory=list)
    # True while the task keeps the default reminder (nobody chose reminders for it):
    # the default then follows the due time when it moves.
    default_reminder: bool = False
    completed_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 0
    # Where a task came from when another service caused it:
    # {"type": "followup_plan" | "opportunity_reminder", "id": ..., "event_id": ...}
    source: dict | None = None
    events: list[DomainEvent] = field(default_factory=list, compare=False, repr=False)

    # ---- reading

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def in_pool(self) -> bool:
        return self.assignee_id is None

    @property
    def assignee(self) -> Owner | None:
        return person(self.assignee_id, self.assignee_team, self.assignee_region)

    @property
    def creator(self) -> Owner:
        return Owner(self.created_by, self.creator_team, self.creator_region)

    @property
    def calendar_start(self) -> datetime:
        """Where the task sits in a calendar: its planned start, else its due time."""
        return self.start_at or self.due_at

    @property
    def calendar_end(self) -> datetime:
        if self.start_at is not None:
            return self.end_at or self.start_at
        return self.due_at

    @property
    def next_remind_at(self) -> datetime | None:
        """The earliest reminder still to fire; None once closed (nothing fires then)."""
        if not self.is_open:
            return None
        pending = [r.remind_at for r in self.reminders if not r.fired]
        return min(pending) if pending else None

    def reminder_recipient(self) -> str:
        # A pool task has nobody to do it yet: its creator hears that it is due.
        return self.assignee_id or self.created_by

    def due_reminders(self, now: datetime) -> list[Reminder]:
        if not self.is_open:
            return []
        now = as_utc(now)
        return sorted((r for r in self.reminders if not r.fired and r.remind_at <= now),
                      key=lambda r: r.remind_at)

    # ---- changing

    def _touch(self, now: datetime) -> None:
        self.updated_at = now
        self.version += 1

    def snapshot(self) -> dict:
        """The task's state as every task event carries it, so that a subscriber keeps
        its copy right even when events arrive out of order (`version` says which is
        newer)."""
        return {"task_id": self.id, "type": self.type, "title": self.title,
                "status": self.status, "priority": self.priority,
                "assignee_id": self.assignee_id, "assignee_team": self.assignee_team,
                "assignee_region": self.assignee_region, "created_by": self.created_by,
                "region": self.region, "customer_ids": list(self.customer_ids),
                "opportunity_id": self.opportunity_id, "due_at": isoformat(self.due_at),
                "start_at": isoformat(self.start_at), "end_at": isoformat(self.end_at),
                "completed_at": isoformat(self.completed_at), "version": self.version}

    def record_creation(self, actor_id: str) -> None:
        self._record("task.created", {"source": self.source}, actor_id)

    def _record(self, event_type: str, data: dict, actor_id: str | None) -> None:
        data = {**self.snapshot(), **data}
        if actor_id is not None:
            data.setdefault("actor_id", actor_id)
        self.events.append(DomainEvent(type=event_type, aggregate_id=self.id, data=data,
                                       region=self.assignee_region or self.region))

    def change_status(self, actor: Identity, status: str, result: str | None = None,
                      *, now: datetime | None = None) -> None:
        now = as_utc(now or utcnow())
        require_can_edit(actor, self)
        self._move(status, result, actor_id=actor.user_id, now=now)

    def _move(self, status: str, result: str | None, *, actor_id: str, now: datetime,
              reason: str | None = None) -> None:
        if status not in STATUSES:
            raise Invalid("status", f"Must be one of: {', '.join(STATUSES)}. "
                                    f"状态必须是 {' / '.join(STATUSES)} 之一。")
        if status not in TRANSITIONS[self.status]:
            raise Conflict(
                f"A task cannot move from {self.status} to {status}. "
                f"任务不能从“{STATUS_LABELS[self.status][0]}”变为"
                f"“{STATUS_LABELS[status][0]}”。",
                code="illegal_transition", current_status=self.status,
                allowed=sorted(TRANSITIONS[self.status]))
        result = (result or "").strip() or None
        if status == "done" and not result:
            raise Invalid("result", "A result is required to complete a task. "
                                    "完成任务须填写任务结果。")
        refuse_free_text({"result": result})
        if status == "in_progress" and self.assignee_id is None:
            raise Conflict("Assign the task before starting it. 请先分配任务再开始执行。",
                           code="task_unassigned")
        previous = self.status
        self.status = status
        if result is not None:
            self.result = result
        self.completed_at = now if status == "done" else None
        self._touch(now)
        data = {"from": previous, "to": status, "assignee_id": self.assignee_id,
                "customer_ids": list(self.customer_ids), "result": self.result}
        if reason:
            data["reason"] = reason
        self._record("task.status_changed", data, actor_id)
        if status == "done":
            self._record("task.completed", {
                "type": self.type, "title": self.title,
                "customer_ids": list(self.customer_ids),
                "opportunity_id": self.opportunity_id,
                "assignee_id": self.assignee_id, "result": self.result,
                "completed_at": isoformat(now),
                # Work on a customer counts as a follow-up of it; internal work does not.
                "counts_as_followup": bool(self.customer_ids)
                and self.type in CUSTOMER_WORK_TYPES,
            }, actor_id)

    def assign(self, actor: Identity, assignee: Owner, *, now: datetime | None = None) -> None:
        """Hand the task to someone (out of the pool or from another assignee)."""
        now = as_utc(now or utcnow())
        require_can_view(actor, self)
        require_may_assign_to(actor, assignee)
        if not self.is_open:
            raise Conflict("Only open tasks can be assigned. 只能分配未完成的任务。",
                           code="task_closed")
        if assignee.user_id == self.assignee_id:
            raise Conflict("The task is already assigned to this user. 任务已分配给该用户。",
                           code="already_assigned")
        self._hand_to(assignee, actor_id=actor.user_id, now=now)

    def _hand_to(self, assignee: Owner | None, *, actor_id: str, now: datetime,
                 reason: str | None = None) -> None:
        previous = self.assignee_id
        self.assignee_id = assignee.user_id if assignee else None
        self.assignee_team = assignee.team if assignee else None
        self.assignee_region = assignee.region if assignee else None
        self._touch(now)
        data = {"assignee_id": self.assignee_id, "previous_assignee_id": previous,
                "assignee_team": self.assignee_team, "title": self.title,
                "due_at": isoformat(self.due_at), "customer_ids": list(self.customer_ids),
                "status": self.status}
        if reason:
            data["reason"] = reason
        self._record("task.assigned", data, actor_id)

    def edit(self, actor: Identity, changes: dict[str, Any], *,
             now: datetime | None = None) -> dict[str, list]:
        """Change the descriptive fields; returns {field: [old, new]} of what changed."""
        now = as_utc(now or utcnow())
        require_can_edit(actor, self)
        if self.status == "done":
            raise Conflict("A completed task cannot be edited. 已完成的任务不能修改。",
                           code="task_closed")
        unknown = set(changes) - EDITABLE_FIELDS
        if unknown:
            raise Invalid({f: ["Unknown field."] for f in sorted(unknown)},
                          code="unknown_field")
        merged = {f: getattr(self, f) for f in EDITABLE_FIELDS - {"reminders"}}
        merged.update({k: v for k, v in changes.items() if k != "reminders"})
        require_valid(merged, now, check_due=("due_at" in changes))
        refuse_free_text(changes)   # what is new: text already kept was checked then
        diff: dict[str, list] = {}
        for name, value in changes.items():
            if name == "reminders":
                continue
            if name in ("due_at", "start_at", "end_at") and value is not None:
                value = as_utc(value)
            old = getattr(self, name)
            if old != value:
                diff[name] = [_plain(old), _plain(value)]
                setattr(self, name, value)
        if "reminders" in changes:
            new = custom_reminders(changes["reminders"], now)
            fired = [r for r in self.reminders if r.fired]
            old_times = [isoformat(r.remind_at) for r in self.reminders if not r.fired]
            self.reminders = fired + new
            self.default_reminder = False
            new_times = [isoformat(r.remind_at) for r in new]
            if old_times != new_times:
                diff["reminders"] = [old_times, new_times]
        elif "due_at" in diff and self.default_reminder:
            # A default reminder follows its due time; reminders a user chose stay put.
            self.reminders = [r for r in self.reminders if r.fired or r.kind != "default"]
            self.reminders += default_reminders(self.due_at, now)
        if diff:
            self._touch(now)
            self._record("task.updated", {"changes": diff}, actor.user_id)
        return diff

    def fire_due_reminders(self, now: datetime | None = None) -> list[Reminder]:
        """Fire every reminder whose time has come, once: marks it, records reminder.due.

        The scheduler writes each reminder.due in a firing record keyed by task and
        reminder, so of two schedulers firing the same reminder exactly one write
        succeeds; the task takes the marks afterwards (TaskHandlers.fire_due_reminders).
        """
        now = as_utc(now or utcnow())
        due = self.due_reminders(now)
        if due:
            self._touch(now)
        for reminder in due:
            reminder.fired_at = now
            self._record("reminder.due", {
                "reminder_id": reminder.id, "kind": reminder.kind,
                "user_id": self.reminder_recipient(), "title": self.title,
                "remind_at": isoformat(reminder.remind_at), "fired_at": isoformat(now),
                "due_at": isoformat(self.due_at), "start_at": isoformat(self.start_at),
                "customer_ids": list(self.customer_ids),
                "opportunity_id": self.opportunity_id,
            }, None)
        return due

    def mark_fired(self, fired_at: dict[str, datetime]) -> list[Reminder]:
        """Take in reminders that already fired ({reminder id: when}) and whose
        reminder.due is already recorded elsewhere (a firing record, see
        TaskHandlers.fire_due_reminders): marks them, records nothing. A reminder the
        task no longer has (replaced by an edit meanwhile) or already marked is left
        alone; a closed task takes the mark too (its reminder did fire). Returns the
        reminders marked (if any, the version moves, so a save prepared before it
        reloads)."""
        taken = [r for r in self.reminders if not r.fired and r.id in fired_at]
        for reminder in taken:
            reminder.fired_at = as_utc(fired_at[reminder.id])
        if taken:
            self._touch(max(r.fired_at for r in taken))
        return taken

    # ---- reactions to other services' events (actor: the system)

    def shelve_for_returned_customer(self, customer_id: str, *, now: datetime) -> bool:
        if not self.is_open:
            return False
        self._move("shelved", None, actor_id=SYSTEM_ACTOR, now=now,
                   reason=f"customer_returned:{customer_id}")
        return True

    def follow_customer_to(self, new_owner: Owner, customer_id: str, *,
                           now: datetime) -> bool:
        if not self.is_open or self.assignee_id == new_owner.user_id:
            return False
        self._hand_to(new_owner, actor_id=SYSTEM_ACTOR, now=now,
                      reason=f"customer_owner_changed:{customer_id}")
        return True

    def place_person(self, user_id: str, team: str | None, region: str | None) -> bool:
        """A user moved team or region: the copies on the task follow, so that who sees
        it stays right. A new version (a save prepared before the move must reload), no
        event: nothing about the task itself changed."""
        changed = False
        for id_attr, team_attr, region_attr in (
                ("assignee_id", "assignee_team", "assignee_region"),
                ("created_by", "creator_team", "creator_region")):
            if getattr(self, id_attr) != user_id:
                continue
            for attr, value in ((team_attr, team), (region_attr, region)):
                if value is not None and getattr(self, attr) != value:
                    setattr(self, attr, value)
                    changed = True
        if changed:
            self.version += 1
        return changed


EDITABLE_FIELDS = frozenset({"type", "title", "description", "customer_ids", "opportunity_id",
                             "due_at", "start_at", "end_at", "priority", "reminders"})


def _plain(value):
    if isinstance(value, datetime):
        return isoformat(value)
    if isinstance(value, list):
        return list(value)
    return value


CALLER: Any = object()  # "assignee not given": the caller does the task


def create_task(actor: Identity, *, title: str, due_at: datetime, type: str = "other",
                description: str = "", customer_ids: list[str] | None = None,
                opportunity_id: str | None = None, assignee: Owner | None = CALLER,
                start_at: datetime | None = None, end_at: datetime | None = None,
                priority: str = "medium", reminders: list | None = None,
                now: datetime | None = None, task_id: str | None = None) -> Task:
    """A new task from a user (POST /tasks).

    `assignee`: CALLER (field left out) -> the caller; None -> the task pool
    (supervisor+); an Owner -> that user (supervisor+ over them, or the caller).
    `reminders`: None -> the default reminder; a list (maybe empty) -> exactly those.
    """
    now = as_utc(now or utcnow())
    values = {"type": type, "title": title, "description": description,
              "customer_ids": list(customer_ids or []), "opportunity_id": opportunity_id,
              "due_at": due_at, "start_at": start_at, "end_at": end_at,
              "priority": priority}
    require_valid(values, now, check_due=True)
    refuse_free_text(values)
    if assignee is CALLER:
        assignee = identity_as_owner(actor)
    elif assignee is None:
        if not actor.at_least("supervisor"):
            raise Forbidden("Only supervisors and up may put a task in the pool. "
                            "只有主管及以上可以把任务放入任务池。", code="pool_not_allowed")
    else:
        require_may_assign_to(actor, assignee)
    due_at = as_utc(due_at)
    task = Task(
        id=task_id or new_id(), type=type, title=title.strip(), description=description or "",
        customer_ids=list(customer_ids or []), opportunity_id=opportunity_id,
        created_by=actor.user_id, creator_team=actor.team, creator_region=actor.region,
        region=(assignee.region if assignee and assignee.region else actor.region),
        assignee_id=assignee.user_id if assignee else None,
        assignee_team=assignee.team if assignee else None,
        assignee_region=assignee.region if assignee else None,
        due_at=due_at, start_at=as_utc(start_at) if start_at else None,
        end_at=as_utc(end_at) if end_at else None, priority=priority,
        reminders=(default_reminders(due_at, now) if reminders is None
                   else custom_reminders(reminders, now)),
        default_reminder=reminders is None,
        created_at=now, updated_at=now, version=1)
    task.record_creation(actor.user_id)
    return task


# ---------------------------------------------------------------- bulk

def deal_round_robin(task_ids: list[str], user_ids: list[str]) -> list[tuple[str, str]]:
    """Deal the tasks out over the users in turn: t1->u1, t2->u2, t3->u1, ..."""
    if not user_ids:
        raise Invalid("user_ids", "At least one user. 请至少选择一名负责人。")
    if len(set(user_ids)) != len(user_ids):
        raise Invalid("user_ids", "Each user only once.")
    if not task_ids:
        raise Invalid("task_ids", "At least one task.")
    return list(zip(task_ids, cycle(user_ids)))

def clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"

