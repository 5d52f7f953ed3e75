"""The only module of the tasks service that talks to MongoDB; it declares its indexes.

Collections:
  tasks           one document per task, reminders embedded, pending events in its
                  outbox (`_outbox`), `version` for optimistic concurrency; two derived
                  fields for queries: `next_remind_at` (the scheduler's index) and
                  `calendar_start`/`calendar_end` (calendar windows).
  notifications   the inbox: one document per (event id), so a redelivered event makes
                  no second entry.
  calendar_tokens one per user: the sha256 of their current .ics token.
  customer_owners what customer events said of each customer: its owner (to know the
                  previous owner when an event does not name it) with their team and
                  region, its region, sharees and whether it was deleted (to know whom
                  a task may link it for). The name stays from when it held owners only.
  opportunities   what opportunity events said of each opportunity: its customer, owner
                  (with team and region) and region (to know whom a task may link it for).
  reminder_schedule one document: `at`, no later than the earliest `next_remind_at` of
                  any task (absent: no task has a reminder to fire), so that a sweep
                  with nothing due costs one read by `_id`, not a scan of the tasks.
  users           the kernel's UserDirectory read model.
"""
from __future__ import annotations

import random
import time
from datetime import datetime
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from crmkit.bus.idempotent import apply_once
from crmkit.bus.outbox import notify_outbox, outbox_fields, with_outbox
from crmkit.clock import as_utc
from crmkit.errors import VersionConflict
from crmkit.queries import count_matching

from services.tasks.domain import Notification, Reminder, Task

TASKS = "tasks"
NOTIFICATIONS = "notifications"
CALENDAR_TOKENS = "calendar_tokens"
CUSTOMER_OWNERS = "customer_owners"
OPPORTUNITIES = "opportunities"
REMINDER_SCHEDULE = "reminder_schedule"
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


def notification_to_doc(note: Notification) -> dict:
    return {"_id": note.id, "user_id": note.user_id, "kind": note.kind, "title": note.title,
            "ref": note.ref, "created_at": note.created_at, "read": note.read,
            "read_at": note.read_at}


def notification_from_doc(doc: dict) -> Notification:
    return Notification(id=doc["_id"], user_id=doc["user_id"], kind=doc["kind"],
                        title=doc["title"], ref=doc.get("ref") or {},
                        created_at=doc["created_at"], read=bool(doc.get("read")),
                        read_at=doc.get("read_at"))


# ---------------------------------------------------------------- tasks

class TaskRepository:
    outbox_collections = [TASKS]

    def __init__(self, db):
        self.db = db
        self.tasks = db[TASKS]
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

    def save(self, task: Task, envelopes: list[dict], *, expected_version: int,
             seen_event: str | None = None) -> None:
        """Write the task back if nobody changed it since `expected_version` was read;
        VersionConflict otherwise. `seen_event` also records an event id as applied."""
        doc = task_to_doc(task)
        doc.pop("_id")
        update = with_outbox({"$set": doc}, envelopes)
        filter_ = {"_id": task.id, "version": expected_version}
        if seen_event is not None:
            applied = apply_once(self.tasks, filter_, update, seen_event)
        else:
            applied = self.tasks.update_one(filter_, update).matched_count == 1
        if not applied:
            raise VersionConflict("The task changed meanwhile; reload it. "
                                  "任务已被修改,请刷新后重试。")
        self._schedule(task.next_remind_at)
        if envelopes:
            notify_outbox(TASKS, [task.id])

    def refresh_person(self, user_id: str, team: str | None, region: str | None) -> None:
        """Re-copy a user's team/region onto the tasks they hold or created."""
        for id_field, team_field, region_field in (
                ("assignee_id", "assignee_team", "assignee_region"),
                ("created_by", "creator_team", "creator_region")):
            changes = {}
            if team is not None:
                changes[team_field] = team
            if region is not None:
                changes[region_field] = region
            if not changes:
                continue
            differs = [{k: {"$ne": v}} for k, v in changes.items()]
            self.tasks.update_many({id_field: user_id, "$or": differs},
                                   {"$set": changes, "$inc": {"version": 1}})

    # -- reading

    def get(self, task_id: str) -> Task | None:
        doc = self.tasks.find_one({"_id": task_id})
        return task_from_doc(doc) if doc else None

    def page(self, filter_: dict, *, sort: list, page: int, per_page: int
             ) -> tuple[list[Task], int]:
        total = count_matching(self.tasks, filter_)
        cursor = self.tasks.find(filter_).sort(sort).skip((page - 1) * per_page)
        return [task_from_doc(d) for d in cursor.limit(per_page)], total

    def find(self, filter_: dict, *, limit: int = 0, sort=None) -> list[Task]:
        cursor = self.tasks.find(filter_)
        if sort:
            cursor = cursor.sort(sort)
        if limit:
            cursor = cursor.limit(limit)
        return [task_from_doc(d) for d in cursor]

    # -- the reminder sweep

    def due_for_reminders(self, now: datetime):
        """Tasks with a reminder due, oldest first, each read afresh as it is iterated.

        On FerretDB every filter but a bare `{_id: ...}` scans the collection, and
        sweeps run every half second on every replica. So: a sweep with nothing due
        (the schedule's `at` is later than `now`) reads one document and stops. Other
        schedulers may sweep the same tasks at the same time, and a save conditional on
        the version is such a scan, waiting behind every other write; so that sweepers
        do not spend those on each other's tasks, each task is re-read by `_id` just
        before it is handed out and skipped once no longer due, and tasks due within
        the same second come in a random order (two sweepers do not walk one list in
        step). Once iterated to the end, the schedule is brought up to date."""
        full = (self._last_full_sweep is None
                or time.monotonic() - self._last_full_sweep >= FULL_SWEEP_EVERY)
        if not full:
            schedule = self.schedule.find_one({"_id": SCHEDULE_ID})
            if schedule is not None and ("at" not in schedule
                                         or as_utc(schedule["at"]) > as_utc(now)):
                return
        self._last_full_sweep = time.monotonic()
        due = {"next_remind_at": {"$ne": None, "$lte": now}}
        found = list(self.tasks.find(due, {"_id": 1, "next_remind_at": 1}))
        random.shuffle(found)
        found.sort(key=lambda doc: as_utc(doc["next_remind_at"]).replace(microsecond=0))
        for task_id in [doc["_id"] for doc in found]:
            doc = self.tasks.find_one({"_id": task_id})
            remind_at = doc and doc.get("next_remind_at")
            if remind_at is not None and as_utc(remind_at) <= as_utc(now):
                yield task_from_doc(doc)
        self._reschedule()

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

    def _reschedule(self) -> None:
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

    def open_for_customer(self, customer_id: str) -> list[Task]:
        return self.find({"customer_ids": customer_id,
                          "status": {"$in": ["todo", "in_progress"]}})


# ---------------------------------------------------------------- inbox

class NotificationRepository:
    def __init__(self, db):
        self.notes = db[NOTIFICATIONS]

    def ensure_indexes(self) -> None:
        self.notes.create_index([("user_id", ASCENDING), ("read", ASCENDING),
                                 ("created_at", DESCENDING)])

    def add(self, note: Notification) -> bool:
        """False if this event's entry is already there (a redelivery)."""
        try:
            self.notes.insert_one(notification_to_doc(note))
            return True
        except DuplicateKeyError:
            return False

    def page(self, user_id: str, *, unread: bool | None, page: int, per_page: int
             ) -> tuple[list[Notification], int]:
        filter_: dict = {"user_id": user_id}
        if unread is True:
            filter_["read"] = False
        elif unread is False:
            filter_["read"] = True
        total = count_matching(self.notes, filter_)
        cursor = (self.notes.find(filter_).sort([("created_at", DESCENDING),
                                                  ("_id", DESCENDING)])
                  .skip((page - 1) * per_page).limit(per_page))
        return [notification_from_doc(d) for d in cursor], total

    def unread_count(self, user_id: str) -> int:
        return count_matching(self.notes, {"user_id": user_id, "read": False})

    def mark_read(self, user_id: str, note_id: str, now: datetime) -> Notification | None:
        """Only the owner's entry; reading twice keeps the first read time."""
        doc = self.notes.find_one_and_update(
            {"_id": note_id, "user_id": user_id, "read": False},
            {"$set": {"read": True, "read_at": now}}, return_document=ReturnDocument.AFTER)
        if doc is None:
            doc = self.notes.find_one({"_id": note_id, "user_id": user_id})
        return notification_from_doc(doc) if doc else None

    def mark_all_read(self, user_id: str, now: datetime) -> int:
        return self.notes.update_many({"user_id": user_id, "read": False},
                                      {"$set": {"read": True, "read_at": now}}).modified_count



# ---------------------------------------------------------------- calendar tokens

class CalendarTokenRepository:
    def __init__(self, db):
        self.tokens = db[CALENDAR_TOKENS]

    def ensure_indexes(self) -> None:
        self.tokens.create_index("token_hash", unique=True)

    def replace(self, user_id: str, token_hash: str, now: datetime) -> None:
        """One token per user: a new one takes the old one's place (and revokes it)."""
        self.tokens.replace_one({"_id": user_id},
                                {"_id": user_id, "token_hash": token_hash, "created_at": now},
                                upsert=True)

    def revoke(self, user_id: str) -> bool:
        return self.tokens.delete_one({"_id": user_id}).deleted_count == 1

    def user_for(self, token_hash: str) -> str | None:
        doc = self.tokens.find_one({"token_hash": token_hash})
        return doc["_id"] if doc else None


# ---------------------------------------------------------------- other services' records

class _EventFed:
    """One document per record of another service, set from its events: each event
    states some facts (fields) and newer news wins, so an older event that arrives late
    changes nothing and a redelivered one is applied once. Newer: a higher `version`
    of the record (its snapshot's, when both events carry one: replicas' clocks differ),
    else a later or equal `occurred_at` (events of one command share the millisecond)."""

    def __init__(self, collection):
        self.records = collection

    def record(self, record_id: str, facts: dict, occurred_at: str, event_id: str, *,
               version: int | None = None) -> bool:
        by_time = [{"occurred_at": {"$lte": occurred_at}}, {"occurred_at": None}]
        if version is None:
            newer = by_time
        else:
            newer = [{"version": {"$lt": version}},
                     *({"version": None, **clause} for clause in by_time)]
        stamp = {"occurred_at": occurred_at}
        if version is not None:
            stamp["version"] = version
        return apply_once(self.records, {"_id": record_id, "$or": newer},
                          {"$set": {**facts, **stamp}}, event_id, upsert=True)

    def get(self, record_id: str) -> dict | None:
        return self.records.find_one({"_id": record_id})

    def get_many(self, record_ids) -> dict[str, dict]:
        ids = list(dict.fromkeys(record_ids))
        if not ids:
            return {}
        return {d["_id"]: d for d in self.records.find({"_id": {"$in": ids}})}


class CustomerRecords(_EventFed):
    """What customer events said of each customer (owner, sharees, region, deleted)."""

    def __init__(self, db):
        super().__init__(db[CUSTOMER_OWNERS])

    def owner_of(self, customer_id: str) -> str | None:
        doc = self.get(customer_id)
        return doc.get("owner_id") if doc else None


class OpportunityRecords(_EventFed):
    """What opportunity events said of each opportunity (customer, owner, region)."""

    def __init__(self, db):
        super().__init__(db[OPPORTUNITIES])
