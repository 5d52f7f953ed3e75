"""The tasks service's events: task.* and reminder.due.

Every one carries the task as it is after the change (a snapshot); `version` orders them.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from crmkit.events import event_schema
from events._fields import changes_field, when
PRODUCER = "tasks"
# The vocabularies the events carry (the domain takes them from here: the contract owns them).
TASK_TYPES = ("visit", "call", "proposal", "internal", "followup", "other")
PRIORITIES = ("high", "medium", "low")
STATUSES = ("todo", "in_progress", "done", "shelved")


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
    due_at = when(required=True)
    start_at = when(load_default=None)
    end_at = when(load_default=None)
    completed_at = when(load_default=None)
    version = fields.Integer(required=True, metadata={
        "description": "the task's version after the change: newer wins"})
    actor_id = fields.String(allow_none=True, load_default=None,
                             metadata={"description": "who did it; 'system' for reactions"})


class SourceData(Schema):
    type = fields.String(required=True, validate=validate.OneOf(
        ["followup_plan", "opportunity_reminder", "interaction_next_action"]))
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
    changes = changes_field()


@event_schema("reminder.due", producer=PRODUCER,
              summary="A reminder fired (exactly once) for the task's assignee, or its "
                      "creator while the task is in the pool.")
class ReminderDueData(TaskSnapshotData):
    reminder_id = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(
        ["default", "custom", "plan", "opportunity"]))
    user_id = fields.String(required=True, metadata={"description": "who is reminded"})
    remind_at = when(required=True)
    fired_at = when(required=True)
