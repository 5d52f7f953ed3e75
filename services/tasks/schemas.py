"""Marshmallow schemas: the tasks API's input and output, and the data of its events.

Input schemas check shape and types only (unknown fields are refused: marshmallow 4's
default `unknown=RAISE`, which the kernel reports as `code: unknown_field`); the rules
with their zh/en messages live in the domain. Every event the service publishes has its
`data` schema registered here (`@event_schema`), which feeds the producer-side check and
the AsyncAPI catalog.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from crmkit.clock import isoformat
from crmkit.events import event_schema
from crmkit.pagination import PageQuery

from services.tasks.domain import (MAX_CUSTOMERS_PER_TASK, MAX_REMINDERS, PRIORITIES, STATUSES,
                                   TASK_TYPES)

PRODUCER = "tasks"
SCOPES = ("mine", "created", "team", "pool", "all")

_ISO = {"format": "date-time", "description": "ISO 8601 with offset"}


def _when(**kw):
    return fields.String(allow_none=True, metadata=_ISO, **kw)


# ---------------------------------------------------------------- events

class TaskSnapshotData(Schema):
    """The task as it is after the change (every task event carries it)."""

    task_id = fields.String(required=True)
    type = fields.String(required=True, validate=validate.OneOf(TASK_TYPES))
    title = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    priority = fields.String(required=True, validate=validate.OneOf(PRIORITIES))
    assignee_id = fields.String(allow_none=True, required=True,
                                metadata={"description": "null: in the task pool"})
    assignee_team = fields.String(allow_none=True, load_default=None)
    assignee_region = fields.String(allow_none=True, load_default=None)
    created_by = fields.String(required=True)
    region = fields.String(allow_none=True, load_default=None)
    customer_ids = fields.List(fields.String(), required=True)
    opportunity_id = fields.String(allow_none=True, load_default=None)
    due_at = _when(required=True)
    start_at = _when(load_default=None)
    end_at = _when(load_default=None)
    completed_at = _when(load_default=None)
    version = fields.Integer(required=True, metadata={
        "description": "the task's version after the change: newer wins"})
    actor_id = fields.String(allow_none=True, load_default=None,
                             metadata={"description": "who did it; 'system' for reactions"})


class SourceData(Schema):
    type = fields.String(required=True, validate=validate.OneOf(
        ["followup_plan", "opportunity_reminder"]))
    id = fields.String(required=True)
    event_id = fields.String(allow_none=True, load_default=None)


@event_schema("task.created", producer=PRODUCER,
              summary="A task was created (by a user, or from an opportunity plan/reminder).")
class TaskCreatedData(TaskSnapshotData):
    source = fields.Nested(SourceData, allow_none=True, load_default=None)


@event_schema("task.assigned", producer=PRODUCER,
              summary="A task was given to a user (from the pool, by a superior, or "
                      "following its customer to a new owner).")
class TaskAssignedData(TaskSnapshotData):
    previous_assignee_id = fields.String(allow_none=True, required=True)
    reason = fields.String(load_default=None, metadata={
        "description": "e.g. customer_owner_changed:<customer id> when the system moved it"})


@event_schema("task.status_changed", producer=PRODUCER,
              summary="A task moved in its status machine (todo, in_progress, done, shelved).")
class TaskStatusChangedData(TaskSnapshotData):
    from_ = fields.String(required=True, data_key="from",
                          validate=validate.OneOf(STATUSES))
    to = fields.String(required=True, validate=validate.OneOf(STATUSES))
    result = fields.String(allow_none=True, load_default=None)
    reason = fields.String(load_default=None, metadata={
        "description": "e.g. customer_returned:<customer id> when the system shelved it"})


@event_schema("task.completed", producer=PRODUCER,
              summary="A task was done, with its result and the customers it was for "
                      "(the customer service counts a follow-up).")
class TaskCompletedData(TaskSnapshotData):
    result = fields.String(required=True)
    counts_as_followup = fields.Boolean(required=True, metadata={
        "description": "customer work (not internal) with customer_ids"})


@event_schema("task.updated", producer=PRODUCER,
              summary="A task's descriptive fields changed: {field: [old, new]}.")
class TaskUpdatedData(TaskSnapshotData):
    changes = fields.Dict(keys=fields.String(), values=fields.List(
        fields.Raw(allow_none=True), validate=validate.Length(equal=2)), required=True)


@event_schema("reminder.due", producer=PRODUCER,
              summary="A reminder fired (exactly once) for the task's assignee, or its "
                      "creator while the task is in the pool.")
class ReminderDueData(TaskSnapshotData):
    reminder_id = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(
        ["default", "custom", "plan", "opportunity"]))
    user_id = fields.String(required=True, metadata={"description": "who is reminded"})
    remind_at = _when(required=True)
    fired_at = _when(required=True)


# ---------------------------------------------------------------- API input

class ReminderIn(Schema):
    remind_at = fields.AwareDateTime(required=True)


class TaskFields(Schema):
    type = fields.String(load_default="other", metadata={"enum": list(TASK_TYPES)})
    title = fields.String(required=True)
    description = fields.String(load_default="")
    customer_ids = fields.List(fields.String(), load_default=list,
                               validate=validate.Length(max=MAX_CUSTOMERS_PER_TASK))
    opportunity_id = fields.String(allow_none=True, load_default=None)
    due_at = fields.AwareDateTime(required=True)
    start_at = fields.AwareDateTime(allow_none=True, load_default=None)
    end_at = fields.AwareDateTime(allow_none=True, load_default=None)
    priority = fields.String(load_default="medium", metadata={"enum": list(PRIORITIES)})
    reminders = fields.List(fields.Nested(ReminderIn), load_default=None,
                            validate=validate.Length(max=MAX_REMINDERS), metadata={
        "description": "left out: one reminder 2 hours before due_at; [] for none"})


class TaskCreateIn(TaskFields):
    # Left out: the caller. null: the task pool (supervisor and up).
    assignee_id = fields.String(allow_none=True)


class TaskTemplateIn(TaskCreateIn):
    """A bulk task: like POST /tasks without customer_ids (one task per customer)."""

    class Meta:
        exclude = ("customer_ids",)


class TaskPatchIn(Schema):
    type = fields.String(metadata={"enum": list(TASK_TYPES)})
    title = fields.String()
    description = fields.String()
    customer_ids = fields.List(fields.String(),
                               validate=validate.Length(max=MAX_CUSTOMERS_PER_TASK))
    opportunity_id = fields.String(allow_none=True)
    due_at = fields.AwareDateTime()
    start_at = fields.AwareDateTime(allow_none=True)
    end_at = fields.AwareDateTime(allow_none=True)
    priority = fields.String(metadata={"enum": list(PRIORITIES)})
    reminders = fields.List(fields.Nested(ReminderIn), validate=validate.Length(max=MAX_REMINDERS))


class StatusIn(Schema):
    status = fields.String(required=True, metadata={"enum": list(STATUSES)})
    result = fields.String(allow_none=True, load_default=None)


class AssignIn(Schema):
    user_id = fields.String(required=True)


class BulkCreateIn(Schema):
    customer_ids = fields.List(fields.String(), required=True,
                               validate=validate.Length(min=1, max=500))
    task = fields.Nested(TaskTemplateIn, required=True)


class BulkAssignIn(Schema):
    task_ids = fields.List(fields.String(), required=True,
                           validate=validate.Length(min=1, max=500))
    user_ids = fields.List(fields.String(), required=True,
                           validate=validate.Length(min=1, max=100))


class TaskListQuery(PageQuery):
    scope = fields.String(load_default=None, validate=validate.OneOf(SCOPES))
    status = fields.List(fields.String(validate=validate.OneOf(STATUSES)), load_default=None,
                         validate=validate.Length(max=20))
    priority = fields.List(fields.String(validate=validate.OneOf(PRIORITIES)),
                           load_default=None, validate=validate.Length(max=20))
    type = fields.List(fields.String(validate=validate.OneOf(TASK_TYPES)), load_default=None,
                       validate=validate.Length(max=20))
    due_before = fields.String(load_default=None, metadata={
        "description": "a date-time with offset, or a date (the end of that day in the "
                       "caller's time zone)"})
    due_after = fields.String(load_default=None)
    customer_id = fields.String(load_default=None)
    opportunity_id = fields.String(load_default=None)
    assignee_id = fields.String(load_default=None)


class CalendarQuery(Schema):
    view = fields.String(load_default="week", validate=validate.OneOf(["day", "week", "month"]))
    date = fields.Date(load_default=None, metadata={"description": "YYYY-MM-DD; default today"})
    user_id = fields.String(load_default=None)
    scope = fields.String(load_default=None, validate=validate.OneOf(["mine", "team"]),
                          metadata={"description": "team: every visible assigned task"})


class NotificationQuery(PageQuery):
    unread = fields.Boolean(load_default=None)


class IcsQuery(Schema):
    token = fields.String(required=True)


# ---------------------------------------------------------------- API output

class ReminderOut(Schema):
    id = fields.String()
    remind_at = fields.Function(lambda r: isoformat(r.remind_at))
    kind = fields.String()
    fired = fields.Boolean()
    fired_at = fields.Function(lambda r: isoformat(r.fired_at))


class TaskOut(Schema):
    id = fields.String()
    type = fields.String()
    title = fields.String()
    description = fields.String()
    customer_ids = fields.List(fields.String())
    opportunity_id = fields.String(allow_none=True)
    assignee_id = fields.String(allow_none=True)
    created_by = fields.String()
    due_at = fields.Function(lambda t: isoformat(t.due_at))
    start_at = fields.Function(lambda t: isoformat(t.start_at))
    end_at = fields.Function(lambda t: isoformat(t.end_at))
    priority = fields.String()
    status = fields.String()
    result = fields.String(allow_none=True)
    reminders = fields.List(fields.Nested(ReminderOut))
    completed_at = fields.Function(lambda t: isoformat(t.completed_at))
    created_at = fields.Function(lambda t: isoformat(t.created_at))
    updated_at = fields.Function(lambda t: isoformat(t.updated_at))
    version = fields.Integer()
    in_pool = fields.Boolean()
    region = fields.String(allow_none=True)
    source = fields.Dict(allow_none=True)


class NotificationOut(Schema):
    id = fields.String()
    kind = fields.String()
    title = fields.String()
    ref = fields.Dict()
    created_at = fields.Function(lambda n: isoformat(n.created_at))
    read = fields.Boolean()
    read_at = fields.Function(lambda n: isoformat(n.read_at))


class CalendarTokenOut(Schema):
    token = fields.String()
    url = fields.String()


def dump_task(task) -> dict:
    return TaskOut().dump(task)


def dump_notification(note) -> dict:
    return NotificationOut().dump(note)
