"""Marshmallow schemas: the tasks API's input and output, and the data of its events.

Input schemas check shape and types only (unknown fields are refused: marshmallow 4's
default `unknown=RAISE`, which the kernel reports as `code: unknown_field`); the rules
with their zh/en messages live in the domain. The `data` schemas of the events it
publishes are in `events.tasks`, shared with their consumers.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from crmkit.clock import isoformat
from crmkit.pagination import PageQuery
import events  # noqa: F401  (registers every event's schema, this service's among them)

from events.tasks import PRIORITIES, STATUSES, TASK_TYPES
from services.tasks.fields import MAX_CUSTOMERS_PER_TASK
from services.tasks.reminders import MAX_REMINDERS

SCOPES = ("mine", "created", "team", "pool", "all")

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


class CalendarOut(Schema):
    view = fields.String()
    date = fields.String()
    from_ = fields.String(data_key="from", attribute="from")
    to = fields.String()
    timezone = fields.String()
    items = fields.Method("dump_items", metadata={
        "description": "the tasks in the window (as TaskOut), each with the local days "
                       "(YYYY-MM-DD) it falls on: `days`"})

    def dump_items(self, found) -> list[dict]:
        return [{**dump_task(entry["task"]), "days": entry["days"]}
                for entry in found["items"]]


class _BulkResultOut(Schema):
    ok = fields.Boolean()
    code = fields.String()
    detail = fields.String()


class BulkCreateResultOut(_BulkResultOut):
    customer_id = fields.String()
    id = fields.String()


class BulkCreateOut(Schema):
    results = fields.List(fields.Nested(BulkCreateResultOut))
    created = fields.Integer()


class BulkAssignResultOut(_BulkResultOut):
    id = fields.String()
    user_id = fields.String()
    version = fields.Integer()


class BulkAssignOut(Schema):
    results = fields.List(fields.Nested(BulkAssignResultOut))
    assigned = fields.Integer()


class ReadAllOut(Schema):
    read = fields.Integer()


def dump_task(task) -> dict:
    return TaskOut().dump(task)


def dump_notification(note) -> dict:
    return NotificationOut().dump(note)
