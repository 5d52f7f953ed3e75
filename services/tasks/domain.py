"""Tasks, the task pool, reminders and the inbox: the rules, in plain Python.

A task belongs to one assignee (or to nobody: then it sits in the task pool that
supervisors and up hand out). Its status moves todo -> in_progress -> done, any open
task may be shelved and a shelved one goes back to todo; `done` needs a result. Each
reminder fires once: firing marks it and records `reminder.due`; the inbox is built
from that event (see `notification_for`).

Everything here takes `now` so that tests and the scheduler decide what time it is.
Entities record what happened as `DomainEvent`s in `events`; handlers write them to the
outbox in the same write as the state change.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import cycle
from typing import Any, Iterable

from crmkit.clock import as_utc, isoformat, utcnow
from crmkit.errors import Conflict, Forbidden, Invalid, NotFound
from crmkit.events import DomainEvent
from crmkit.identity import Identity
from crmkit.visibility import Owner, is_superior, may_work_on, team_subtree_filter

from events.tasks import PRIORITIES, STATUSES, TASK_TYPES  # noqa: F401  (events own it)

OPEN_STATUSES = ("todo", "in_progress")

# The status machine (CONTRACT §6): todo -> in_progress -> done; any open -> shelved;
# shelved -> todo. `done` is final.
TRANSITIONS: dict[str, frozenset[str]] = {
    "todo": frozenset({"in_progress", "shelved"}),
    "in_progress": frozenset({"done", "shelved"}),
    "shelved": frozenset({"todo"}),
    "done": frozenset(),
}

# The seeds: "任务到期前,系统通过消息提醒负责人(如'……任务将于2小时后到期')" and a
# follow-up plan "同步至负责人的日程管理模块,并提前1天发送提醒".
DEFAULT_REMINDER_LEAD = timedelta(hours=2)
FOLLOWUP_PLAN_REMINDER_LEAD = timedelta(days=1)
MAX_REMINDERS = 10
MAX_CUSTOMERS_PER_TASK = 50

# Plan methods of the opportunity service (CONTRACT §5) as task types.
PLAN_METHOD_TYPES = {"call": "call", "visit": "visit", "online_meeting": "followup"}

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


def new_id() -> str:
    return uuid.uuid4().hex


def person(user_id: str | None, team: str | None = None,
           region: str | None = None) -> Owner | None:
    return Owner(user_id, team, region) if user_id else None


def identity_as_owner(identity: Identity) -> Owner:
    return Owner(identity.user_id, identity.team, identity.region)


# ---------------------------------------------------------------- reminders

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
        errors = _check_fields(merged, now, check_due=("due_at" in changes))
        if errors:
            raise Invalid(errors)
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
            new = _custom_reminders(changes["reminders"], now)
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

        The caller saves the task conditionally on the version it loaded, so of two
        schedulers firing the same reminder exactly one write succeeds.
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


EDITABLE_FIELDS = frozenset({"type", "title", "description", "customer_ids", "opportunity_id",
                             "due_at", "start_at", "end_at", "priority", "reminders"})


def _plain(value):
    if isinstance(value, datetime):
        return isoformat(value)
    if isinstance(value, list):
        return list(value)
    return value


def _check_fields(values: dict, now: datetime, *, check_due: bool) -> dict[str, list[str]]:
    """The field rules shared by create and edit (the schema checks types first)."""
    errors: dict[str, list[str]] = {}

    def fail(name, message):
        errors.setdefault(name, []).append(message)

    if values.get("type") not in TASK_TYPES:
        fail("type", f"Must be one of: {', '.join(TASK_TYPES)}.")
    if values.get("priority") not in PRIORITIES:
        fail("priority", f"Must be one of: {', '.join(PRIORITIES)}.")
    title = values.get("title")
    if not isinstance(title, str) or not title.strip():
        fail("title", "A title is required. 请填写任务标题。")
    elif len(title) > 200:
        fail("title", "At most 200 characters.")
    if len(values.get("description") or "") > 5000:
        fail("description", "At most 5000 characters.")
    due_at = values.get("due_at")
    if due_at is None:
        fail("due_at", "A due time is required. 请填写截止时间。")
    elif check_due and as_utc(due_at) <= now:
        fail("due_at", "Must be in the future. 截止时间须晚于当前时间。")
    start_at, end_at = values.get("start_at"), values.get("end_at")
    if end_at is not None and start_at is None:
        fail("start_at", "An end time needs a start time.")
    if start_at is not None and end_at is not None and as_utc(end_at) < as_utc(start_at):
        fail("end_at", "Must not be before start_at. 结束时间不能早于开始时间。")
    customer_ids = values.get("customer_ids") or []
    if len(customer_ids) > MAX_CUSTOMERS_PER_TASK:
        fail("customer_ids", f"At most {MAX_CUSTOMERS_PER_TASK} customers.")
    if len(set(customer_ids)) != len(customer_ids):
        fail("customer_ids", "Each customer only once.")
    return errors


def default_reminders(due_at: datetime, now: datetime) -> list[Reminder]:
    """Two hours before the due time, as the seeds say; none if that has passed."""
    remind_at = as_utc(due_at) - DEFAULT_REMINDER_LEAD
    return [Reminder(remind_at=remind_at, kind="default")] if remind_at > now else []


def _custom_reminders(values: Iterable, now: datetime) -> list[Reminder]:
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
    errors = _check_fields(values, now, check_due=True)
    if errors:
        raise Invalid(errors)
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
                   else _custom_reminders(reminders, now)),
        default_reminder=reminders is None,
        created_at=now, updated_at=now, version=1)
    task._record("task.created", _created_data(task), actor.user_id)
    return task


def _created_data(task: Task) -> dict:
    return {"source": task.source}


# ---------------------------------------------------------------- who may do what

def can_view(viewer: Identity, task: Task) -> bool:
    """A rep: tasks assigned to or created by them. Superiors: their team's (by the
    assignee or the creator). The pool: supervisors and up of the task's region."""
    if viewer.role == "admin":
        return True
    if viewer.user_id in (task.assignee_id, task.created_by):
        return True
    if task.assignee_id is None:
        return viewer.at_least("supervisor") and task.region == viewer.region
    return is_superior(viewer, task.assignee) or is_superior(viewer, task.creator)


def can_edit(viewer: Identity, task: Task) -> bool:
    # Whoever may see a task may work on it: the assignee, its creator, their superiors.
    return can_view(viewer, task)


def require_can_view(viewer: Identity, task: Task) -> None:
    if not can_view(viewer, task):
        raise NotFound("No such task. 任务不存在。")


def require_can_edit(viewer: Identity, task: Task) -> None:
    require_can_view(viewer, task)
    if not can_edit(viewer, task):
        raise Forbidden("You may not change this task. 无权修改该任务。")


def require_may_assign_to(actor: Identity, assignee: Owner) -> None:
    if assignee.user_id == actor.user_id:
        return
    if not actor.at_least("supervisor"):
        raise Forbidden("Only supervisors and up may assign tasks to others. "
                        "只有主管及以上可以把任务指派给他人。", code="assign_not_allowed")
    if not is_superior(actor, assignee):
        raise Forbidden("That user is outside your team. 该用户不在您的管理范围内。",
                        code="assignee_out_of_scope")


# ---------------------------------------------------------------- what a task may link

@dataclass(frozen=True)
class Linkable:
    """A customer or opportunity as the tasks service knows it from events."""
    owner: Owner | None          # None: unowned (a customer in the pool)
    region: str | None = None
    shared_with: tuple[str, ...] = ()


def linkable_customer(owner: Owner | None, region: str | None,
                      shared_with=()) -> Linkable:
    # A customer in the pool shows even its sharees only its public view (customer
    # service): nobody but an admin, or a supervisor+ handing it out, works on it.
    return Linkable(owner, region, tuple(shared_with or ()) if owner else ())


def may_link(viewer: Identity, record: Linkable | None) -> bool:
    """The rule every service builds on records by (crmkit.visibility.may_work_on):
    completing a task writes a follow-up into its customers' history, so linking is
    exactly as wide as seeing."""
    return record is not None and may_work_on(viewer, record.owner, record.region,
                                              record.shared_with)


def require_may_link(viewer: Identity, *, customers: dict[str, Linkable | None] | None = None,
                     opportunity: tuple[str, Linkable | None] | None = None) -> None:
    """422 naming the field, as for a customer an opportunity may not use: a record the
    caller may not see is answered as absent (CONTRACT §2), never as forbidden."""
    errors: dict[str, list[str]] = {}
    hidden = [cid for cid, record in (customers or {}).items() if not may_link(viewer, record)]
    if hidden:
        errors["customer_ids"] = [f"Unknown customer: {', '.join(hidden)}. "
                                  "客户不存在或无权查看。"]
    if opportunity is not None and not may_link(viewer, opportunity[1]):
        errors["opportunity_id"] = ["Unknown opportunity. 商机不存在或无权查看。"]
    if errors:
        raise Invalid(errors, code="unknown_customer" if hidden else "unknown_opportunity")


def visibility_query(viewer: Identity) -> dict:
    """The Mongo filter selecting exactly the tasks `can_view` admits (a plain dict)."""
    if viewer.role == "admin":
        return {}
    clauses: list[dict] = [{"assignee_id": viewer.user_id}, {"created_by": viewer.user_id}]
    assigned = {"assignee_id": {"$ne": None}}
    if viewer.role == "supervisor" and viewer.team:
        for team_field in ("assignee_team", "creator_team"):
            clauses.append({**assigned, **_team_clause(team_field, viewer.team)})
    elif viewer.role == "manager" and viewer.region:
        for region_field in ("assignee_region", "creator_region"):
            clauses.append({**assigned, region_field: viewer.region})
    if viewer.at_least("supervisor"):
        clauses.append({"assignee_id": None, "region": viewer.region})
    return {"$or": clauses}


def _team_clause(team_field: str, team: str) -> dict:
    return team_subtree_filter(team, team_field)


def scope_query(viewer: Identity, scope: str | None) -> dict:
    """`GET /tasks?scope=`: mine, created, team, pool; always within what is visible."""
    visible = visibility_query(viewer)
    if scope in (None, "", "all"):
        chosen: dict = {}
    elif scope == "mine":
        chosen = {"assignee_id": viewer.user_id}
    elif scope == "created":
        chosen = {"created_by": viewer.user_id}
    elif scope == "team":
        # The team's assigned tasks: for a rep that is just what they may see.
        chosen = {"assignee_id": {"$ne": None}}
    elif scope == "pool":
        if not viewer.at_least("supervisor"):
            raise Forbidden("Only supervisors and up see the task pool. "
                            "只有主管及以上可以查看任务池。", code="pool_not_allowed")
        chosen = {"assignee_id": None}
    else:
        raise Invalid("scope", "Must be one of: mine, created, team, pool.")
    parts = [q for q in (visible, chosen) if q]
    if not parts:
        return {}
    return parts[0] if len(parts) == 1 else {"$and": parts}


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


# ---------------------------------------------------------------- other services' events

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
    title = _clip(title or f"跟进计划 Follow-up: {label}")
    task = Task(
        id=task_id or new_id(), type=PLAN_METHOD_TYPES.get(method, "followup"), title=title,
        description=content or "", customer_ids=[customer_id] if customer_id else [],
        opportunity_id=opportunity_id,
        created_by=owner.user_id if owner else SYSTEM_ACTOR,
        creator_team=owner.team if owner else None,
        creator_region=owner.region if owner else None,
        region=owner.region if owner else None,
        assignee_id=owner.user_id if owner else None,
        assignee_team=owner.team if owner else None,
        assignee_region=owner.region if owner else None,
        due_at=end_at or start_at, start_at=start_at, end_at=end_at, priority="medium",
        reminders=[Reminder(remind_at=as_utc(t), kind="plan")
                   for t in sorted(set(reminder_times))],
        created_at=now, updated_at=now, version=1,
        source={"type": "followup_plan", "id": plan_id, "event_id": event_id})
    task._record("task.created", _created_data(task), SYSTEM_ACTOR)
    return task


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
    task = Task(
        id=task_id or new_id(), type="followup",
        title=_clip(title or f"商机提醒 Opportunity: {label}"),
        description=note or "", customer_ids=[customer_id] if customer_id else [],
        opportunity_id=opportunity_id,
        created_by=owner.user_id if owner else SYSTEM_ACTOR,
        creator_team=owner.team if owner else None,
        creator_region=owner.region if owner else None,
        region=owner.region if owner else None,
        assignee_id=owner.user_id if owner else None,
        assignee_team=owner.team if owner else None,
        assignee_region=owner.region if owner else None,
        due_at=remind_at, priority="medium",
        reminders=[Reminder(remind_at=remind_at, kind="opportunity")],
        created_at=now, updated_at=now, version=1,
        source={"type": "opportunity_reminder", "id": reminder_key, "event_id": event_id})
    task._record("task.created", _created_data(task), SYSTEM_ACTOR)
    return task


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


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


# ---------------------------------------------------------------- the inbox

@dataclass
class Notification:
    id: str
    user_id: str
    kind: str          # reminder | task_assigned
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
    else:
        return None
    if not user_id:
        return None
    return Notification(id=envelope["id"], user_id=user_id, kind=kind_name,
                        title=_clip(text, 300), ref=ref, created_at=created_at)
