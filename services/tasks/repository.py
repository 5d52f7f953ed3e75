"""The tasks collection: the only module that builds Mongo filters over tasks; it
declares their indexes.

  tasks           one document per task, reminders embedded, pending events in its
                  outbox (`_outbox`), `version` for optimistic concurrency (the domain
                  raises it; a write here only matches the version it loaded); derived
                  fields for queries: `next_remind_at` (the scheduler's index),
                  `calendar_start`/`calendar_end` (calendar windows), `priority_rank`.
  reminder_firings one document per reminder that fired, `_id` task id + reminder id
                  (a second firing of it is a duplicate key: exactly once by
                  construction), its `reminder.due` in its own outbox; `applied` once
                  the task took the mark (see TaskHandlers.fire_due_reminders).
  reminder_schedule one document: `at`, no later than the earliest `next_remind_at` of
                  any task (absent: no task has a reminder to fire), so that a sweep
                  with nothing due costs one read by `_id`, not a scan of the tasks.

The service's other collections: personal_repository.py (inbox, calendar tokens),
records_repository.py (what other services' events said of customers and
opportunities); `users` is the kernel's UserDirectory.
"""
from __future__ import annotations

import time
from datetime import datetime

from pymongo import ASCENDING
from pymongo.errors import BulkWriteError, DuplicateKeyError

from crmkit.bus.idempotent import SEEN, apply_once
from crmkit.bus.outbox import PENDING, notify_outbox, outbox_fields, with_outbox
from crmkit.clock import as_utc
from crmkit.errors import Forbidden, Invalid, NotFound, VersionConflict
from crmkit.identity import Identity
from crmkit.pagination import sort_spec
from crmkit.queries import all_of, count_matching
from crmkit.visibility import team_subtree_filter

from services.tasks.domain import OPEN_STATUSES, Reminder, Task
from services.tasks.personal_repository import CalendarTokenRepository, NotificationRepository
from services.tasks.records_repository import CustomerRecords, OpportunityRecords

TASKS = "tasks"
REMINDER_SCHEDULE = "reminder_schedule"
FIRINGS = "reminder_firings"
DUPLICATE_KEY = 11000
IN_AT_MOST = 200   # ids per `$in`: each statement a bounded piece of a bulk
SCHEDULE_ID = "next"
FULL_SWEEP_EVERY = 30.0  # seconds: a sweep scans at least this often, whatever `at` says

TASK_FIELDS = ("type", "title", "description", "customer_ids", "opportunity_id",
               "assignee_id", "assignee_team", "assignee_region", "created_by",
               "creator_team", "creator_region", "region", "due_at", "start_at", "end_at",
               "priority", "status", "result", "completed_at", "created_at", "updated_at",
               "version", "source", "default_reminder")
SORTABLE = {"due_at", "created_at", "updated_at", "priority_rank", "status", "title"}
PRIORITY_RANK = {"high": 0, "medium": 1, "low": 2}


# ---------------------------------------------------------------- mapping

def task_to_doc(task: Task) -> dict:
    doc = {name: getattr(task, name) for name in TASK_FIELDS}
    doc["_id"] = task.id
    doc["reminders"] = [{"id": r.id, "remind_at": r.remind_at, "kind": r.kind,
                         "fired_at": r.fired_at} for r in task.reminders]
    doc["customer_ids"] = list(task.customer_ids)
    doc["next_remind_at"] = task.next_remind_at
    doc["calendar_start"] = task.calendar_start
    doc["calendar_end"] = task.calendar_end
    doc["priority_rank"] = PRIORITY_RANK.get(task.priority, 1)
    return doc


def task_from_doc(doc: dict) -> Task:
    values = {name: doc.get(name) for name in TASK_FIELDS}
    values["customer_ids"] = list(values["customer_ids"] or [])
    values["description"] = values["description"] or ""
    values["default_reminder"] = bool(values["default_reminder"])
    values["version"] = int(values["version"] or 0)
    task = Task(id=doc["_id"], **values,
                reminders=[Reminder(id=r["id"], remind_at=r["remind_at"], kind=r.get("kind"),
                                    fired_at=r.get("fired_at"))
                           for r in doc.get("reminders") or []])
    return task


# ---------------------------------------------------------------- filters

def visibility_filter(viewer: Identity) -> dict:
    """The tasks `access.can_view` admits (a test keeps the two equal)."""
    if viewer.role == "admin":
        return {}
    clauses: list[dict] = [{"assignee_id": viewer.user_id}, {"created_by": viewer.user_id}]
    assigned = {"assignee_id": {"$ne": None}}
    by_rank = viewer.sees_subordinates   # 上下级强制共享 off: nothing by rank
    if by_rank and viewer.role == "supervisor" and viewer.team:
        for team_field in ("assignee_team", "creator_team"):
            clauses.append({**assigned, **team_subtree_filter(viewer.team, team_field)})
    elif by_rank and viewer.role == "manager" and viewer.region:
        for region_field in ("assignee_region", "creator_region"):
            clauses.append({**assigned, region_field: viewer.region})
    if viewer.at_least("supervisor"):
        clauses.append({"assignee_id": None, "region": viewer.region})
    return {"$or": clauses}


def scope_filter(viewer: Identity, scope: str | None) -> dict:
    """`GET /tasks?scope=`: mine, created, team, pool; always within what is visible."""
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
    return all_of([visibility_filter(viewer), chosen])


def list_filter(viewer: Identity, criteria: dict) -> dict:
    """`GET /tasks`: the scope, then each filter given (times already parsed)."""
    parts = [scope_filter(viewer, criteria.get("scope"))]
    for name in ("status", "priority", "type"):
        if criteria.get(name):
            parts.append({name: {"$in": list(criteria[name])}})
    if criteria.get("due_before"):
        parts.append({"due_at": {"$lt": criteria["due_before"]}})
    if criteria.get("due_after"):
        parts.append({"due_at": {"$gte": criteria["due_after"]}})
    for name, field in (("customer_id", "customer_ids"), ("opportunity_id", "opportunity_id"),
                        ("assignee_id", "assignee_id")):
        if criteria.get(name):
            parts.append({field: criteria[name]})
    return all_of(parts)


def list_sort(text: str | None) -> list:
    """Priority sorts by its rank (high first), not by its name."""
    text = text or "due_at"
    if text.lstrip("+-") == "priority":
        text = text.replace("priority", "priority_rank")
    return sort_spec(text, SORTABLE, "due_at")


def calendar_window_filter(start: datetime, end: datetime) -> dict:
    """A coarse filter for a calendar window over `calendar_start`/`calendar_end` (the
    exact cut is `calendar.overlaps`)."""
    return {"calendar_start": {"$lt": end}, "calendar_end": {"$gte": start}}


# ---------------------------------------------------------------- tasks

class TaskRepository:
    outbox_collections = [TASKS, FIRINGS]

    def __init__(self, db):
        self.tasks = db[TASKS]
        self.firings = db[FIRINGS]
        self.schedule = db[REMINDER_SCHEDULE]
        self._last_full_sweep = None

    def ensure_indexes(self) -> None:
        self.tasks.create_index([("next_remind_at", ASCENDING)])
        self.tasks.create_index([("assignee_id", ASCENDING), ("due_at", ASCENDING)])
        self.tasks.create_index([("created_by", ASCENDING), ("due_at", ASCENDING)])
        self.tasks.create_index([("assignee_team", ASCENDING), ("due_at", ASCENDING)])
        self.tasks.create_index([("region", ASCENDING), ("assignee_id", ASCENDING)])
        self.tasks.create_index([("customer_ids", ASCENDING), ("status", ASCENDING)])
        self.tasks.create_index([("assignee_id", ASCENDING), ("calendar_start", ASCENDING)])
        self.tasks.create_index([("source.type", ASCENDING), ("source.id", ASCENDING)])

    # -- writing: the state and its events in one write

    def add(self, task: Task, envelopes: list[dict]) -> bool:
        """Insert a new task; False if a task with this id exists (an event replayed)."""
        try:
            self.tasks.insert_one({**task_to_doc(task), **outbox_fields(envelopes)})
        except DuplicateKeyError:
            return False
        self._schedule(task.next_remind_at)
        notify_outbox(TASKS, [task.id])
        return True

    def save(self, task: Task, loaded_version: int, envelopes: list[dict], *,
             seen_event: str | None = None) -> None:
        """Write the task back if it is still at `loaded_version`; VersionConflict
        otherwise. `seen_event` also records an event id as applied, in the same write
        (a task that already took that event is left as it is)."""
        doc = task_to_doc(task)
        doc.pop("_id")
        update = with_outbox({"$set": doc}, envelopes)
        filter_ = {"_id": task.id, "version": loaded_version}
        if seen_event is not None:
            applied = apply_once(self.tasks, filter_, update, seen_event)
            if not applied and self.tasks.find_one({"_id": task.id, SEEN: seen_event},
                                                   {"_id": 1}):
                return
        else:
            applied = self.tasks.update_one(filter_, update).matched_count == 1
        if not applied:
            raise VersionConflict("The task changed meanwhile; reload it. "
                                  "任务已被修改,请刷新后重试。")
        self._schedule(task.next_remind_at)
        if envelopes:
            notify_outbox(TASKS, [task.id])

    def refresh_schedule(self, task: Task) -> None:
        """Rewrite a task's derived `next_remind_at` (found stale by a sweep) if the task
        is still the one read: not a change of the task, so no new version."""
        self.tasks.update_one({"_id": task.id, "version": task.version},
                              {"$set": {"next_remind_at": task.next_remind_at}})

    # -- reading

    def get(self, task_id: str) -> Task:
        doc = self.tasks.find_one({"_id": task_id})
        if doc is None:
            raise NotFound("No such task. 任务不存在。")
        return task_from_doc(doc)

    def page(self, viewer: Identity, criteria: dict, *, sort: str | None, page: int,
             per_page: int) -> tuple[list[Task], int]:
        filter_ = list_filter(viewer, criteria)
        total = count_matching(self.tasks, filter_)
        cursor = self.tasks.find(filter_).sort(list_sort(sort)).skip((page - 1) * per_page)
        return [task_from_doc(d) for d in cursor.limit(per_page)], total

    def in_window(self, start: datetime, end: datetime, *, assignee_id: str | None = None,
                  team_of: Identity | None = None, limit: int = 5000) -> list[Task]:
        """A calendar's candidates: one user's tasks, or (`team_of`) every assigned task
        that viewer sees."""
        who = scope_filter(team_of, "team") if team_of else {"assignee_id": assignee_id}
        return self._find(all_of([who, calendar_window_filter(start, end)]), limit=limit)

    def feed_for(self, user_id: str, since: datetime, *, limit: int = 5000) -> list[Task]:
        """A user's tasks for their .ics feed: those not over before `since`."""
        return self._find({"assignee_id": user_id, "calendar_end": {"$gte": since}},
                          limit=limit)

    def open_for_customer(self, customer_id: str) -> list[Task]:
        return self._find({"customer_ids": customer_id,
                           "status": {"$in": list(OPEN_STATUSES)}})

    def placing(self, user_id: str, team: str | None, region: str | None) -> list[str]:
        """Ids of the tasks whose copy of the user's team or region differs from these."""
        clauses = []
        for id_field, team_field, region_field in (
                ("assignee_id", "assignee_team", "assignee_region"),
                ("created_by", "creator_team", "creator_region")):
            differs = [{f: {"$ne": v}} for f, v in ((team_field, team), (region_field, region))
                       if v is not None]
            if differs:
                clauses.append({id_field: user_id, "$or": differs})
        if not clauses:
            return []
        return [d["_id"] for d in self.tasks.find({"$or": clauses}, {"_id": 1})]

    def _find(self, filter_: dict, *, limit: int = 0) -> list[Task]:
        cursor = self.tasks.find(filter_).sort([("calendar_start", ASCENDING)])
        if limit:
            cursor = cursor.limit(limit)
        return [task_from_doc(d) for d in cursor]

    # -- the reminder sweep

    def due_for_reminders(self, by: datetime, *, limit: int = 20_000) -> list[Task] | None:
        """Tasks with a reminder due by `by` (a sweep's read-ahead horizon), oldest
        first, at most `limit` (the rest is the next sweep's): one query, the filter and
        the sort on `next_remind_at` run in SQL on its index. `$lte` a date matches
        dates only, so no `$ne: None`. No paging by `_id`: with it FerretDB read and
        sorted every due task for each page (2.7 s a page with 10,000 due).

        A sweep with nothing due (the schedule's `at` is later than `by`) reads one
        document and returns None: nothing read, the schedule stands (but at least every
        FULL_SWEEP_EVERY seconds it looks)."""
        full = (self._last_full_sweep is None
                or time.monotonic() - self._last_full_sweep >= FULL_SWEEP_EVERY)
        if not full:
            schedule = self.schedule.find_one({"_id": SCHEDULE_ID})
            if schedule is not None and ("at" not in schedule
                                         or as_utc(schedule["at"]) > as_utc(by)):
                return None
        self._last_full_sweep = time.monotonic()
        cursor = self.tasks.find({"next_remind_at": {"$lte": by}}) \
            .sort([("next_remind_at", ASCENDING)]).limit(limit).batch_size(1000)
        return [task_from_doc(doc) for doc in cursor]

    def next_reminder_at(self) -> datetime | None:
        """No later than the earliest reminder still to fire, as far as the writes so far
        said (None: none pending, or no schedule written yet)."""
        schedule = self.schedule.find_one({"_id": SCHEDULE_ID})
        return as_utc(schedule["at"]) if schedule and schedule.get("at") else None

    # -- firing records (TaskHandlers.fire_due_reminders says why)

    def record_firings(self, firings: list[tuple[Task, int, list[Reminder], list[dict]]]
                       ) -> set[str]:
        """Insert one firing record per reminder of (task, its version as read, the
        reminders that fired, their reminder.due envelopes), the envelope in the
        record's outbox: one insert_many, unordered. Returns the ids of the tasks all of
        whose records went in; a duplicate key means the reminder had fired already
        (another scheduler, or this one before a crash), and nothing of it is written."""
        docs = []
        for task, _, reminders, envelopes in firings:
            by_reminder = {e["data"]["reminder_id"]: e for e in envelopes}
            for reminder in reminders:
                docs.append({"_id": firing_id(task, reminder), "task_id": task.id,
                             "reminder_id": reminder.id, "fired_at": reminder.fired_at,
                             "applied": False,
                             **outbox_fields([by_reminder[reminder.id]])})
        if not docs:
            return set()
        refused: set[str] = set()
        try:
            self.firings.insert_many(docs, ordered=False)
        except BulkWriteError as error:
            for problem in error.details.get("writeErrors", []):
                if problem.get("code") != DUPLICATE_KEY:
                    raise
                refused.add(docs[problem["index"]]["task_id"])
        inserted = [doc["_id"] for doc in docs if doc["task_id"] not in refused]
        if inserted:
            notify_outbox(FIRINGS, inserted)
        return {task.id for task, *_ in firings} - refused

    def mark_fired(self, fired: list[tuple[Task, int, list[Reminder]]]) -> list[str]:
        """Bring tasks whose reminders just fired (their records written) up to date in
        a few update_many's: tasks with the same change (the reminders' positions and
        times, the version read, the new `next_remind_at`) share one, conditional on
        that version, and their records flagged applied. A task changed meanwhile is
        left as it is, its records unapplied for `unapplied_firings` to take in: returns
        the ids of the records of groups where some task was missed."""
        groups: dict[tuple, list[str]] = {}
        records: dict[str, list[str]] = {}
        for task, loaded_version, reminders in fired:
            marks = tuple((task.reminders.index(r), r.fired_at) for r in reminders)
            key = (loaded_version, task.version, task.updated_at, task.next_remind_at, marks)
            groups.setdefault(key, []).append(task.id)
            records[task.id] = firing_ids(task, reminders)
        missed: list[str] = []
        for (loaded_version, version, updated_at, next_remind_at, marks), group in \
                groups.items():
            update = {"version": version, "updated_at": updated_at,
                      "next_remind_at": next_remind_at,
                      **{f"reminders.{index}.fired_at": at for index, at in marks}}
            for ids in slices(group):
                matched = self.tasks.update_many(
                    {"_id": {"$in": ids}, "version": loaded_version},
                    {"$set": update}).matched_count
                of_group = [_id for task_id in ids for _id in records[task_id]]
                if matched == len(ids):   # each of them marked: their records applied
                    self.firings_applied(of_group)
                else:
                    missed += of_group
        return missed

    def unapplied_firings(self, firing_ids: list[str] | None = None, *, besides=(),
                          batch: int = IN_AT_MOST) -> list[dict]:
        """Firing records whose task has not been marked yet: those of `firing_ids`
        (by `_id`), else at most `batch` of any but `besides` (a scan: not indexed).
        Each as {_id, task_id, reminder_id, fired_at}."""
        fields = {"task_id": 1, "reminder_id": 1, "fired_at": 1}
        if firing_ids is not None:
            return [doc for ids in slices(list(firing_ids)) for doc in
                    self.firings.find({"_id": {"$in": ids}, "applied": False}, fields)]
        filter_ = {"applied": False}
        if besides:
            filter_["_id"] = {"$nin": list(besides)}
        return list(self.firings.find(filter_, fields).limit(batch))

    def get_many(self, task_ids) -> dict[str, Task]:
        return {doc["_id"]: task_from_doc(doc) for ids in slices(list(task_ids))
                for doc in self.tasks.find({"_id": {"$in": ids}})}

    def firings_applied(self, firing_ids: list[str]) -> None:
        for ids in slices(firing_ids):
            self.firings.update_many({"_id": {"$in": ids}}, {"$set": {"applied": True}})

    def forget_firings(self, fired_before: datetime) -> int:
        """Delete firing records applied and published that fired before
        `fired_before`: kept long enough (far longer than any sweep's read-ahead) that a
        sweep that read a task before it was marked still meets the duplicate key."""
        return self.firings.delete_many({"applied": True, PENDING: False,
                                         "fired_at": {"$lt": fired_before}}).deleted_count

    def _schedule(self, remind_at: datetime | None) -> None:
        """After writing a task that reminds at `remind_at`: the schedule's `at` is
        no later than that (a sweep that recomputed `at` meanwhile sees `rev` move
        and leaves its result unwritten)."""
        if remind_at is None:
            return
        update = {"$min": {"at": remind_at}, "$inc": {"rev": 1}}
        try:
            self.schedule.update_one({"_id": SCHEDULE_ID}, update, upsert=True)
        except DuplicateKeyError:  # created by another writer a moment ago
            self.schedule.update_one({"_id": SCHEDULE_ID}, update)

    def reschedule(self) -> None:
        """Set `at` to the earliest `next_remind_at` left, unless a task was written
        since the schedule was read (then `at` stays as low as that write made it)."""
        schedule = self.schedule.find_one({"_id": SCHEDULE_ID})
        earliest = next(iter(self.tasks.find({"next_remind_at": {"$ne": None}},
                                             {"next_remind_at": 1})
                             .sort([("next_remind_at", ASCENDING)]).limit(1)), None)
        fields = {"$inc": {"rev": 1}}
        if earliest is None:
            fields["$unset"] = {"at": ""}
        else:
            fields["$set"] = {"at": earliest["next_remind_at"]}
        if schedule is None:
            try:
                self.schedule.insert_one({"_id": SCHEDULE_ID, "rev": 0, **fields.get(
                    "$set", {})})
            except DuplicateKeyError:
                pass  # a writer made it meanwhile: its `at` stands
            return
        self.schedule.update_one({"_id": SCHEDULE_ID, "rev": schedule.get("rev", 0)},
                                 fields)


def slices(ids: list) -> list[list]:
    return [ids[start:start + IN_AT_MOST] for start in range(0, len(ids), IN_AT_MOST)]


def firing_id(task: Task, reminder: Reminder) -> str:
    """A firing record's `_id`: one possible per reminder of a task."""
    return f"{task.id}:{reminder.id}"


def firing_ids(task: Task, reminders) -> list[str]:
    return [firing_id(task, reminder) for reminder in reminders]


class Repositories:
    """Every collection of the service, for the composition root to hand on."""

    def __init__(self, db):
        self.tasks = TaskRepository(db)
        self.notifications = NotificationRepository(db)
        self.tokens = CalendarTokenRepository(db)
        self.customers = CustomerRecords(db)
        self.opportunities = OpportunityRecords(db)
        self.outbox_collections = list(TaskRepository.outbox_collections)

    def ensure_indexes(self) -> None:
        self.tasks.ensure_indexes()
        self.notifications.ensure_indexes()
        self.tokens.ensure_indexes()
