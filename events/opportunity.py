"""The opportunity service's events: opportunity.* and pipeline.updated.

Every opportunity.* event carries the opportunity as it is after the change (a snapshot);
`version` orders them.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from crmkit.events import event_schema
PRODUCER = "opportunity"
# The vocabularies the events carry (the domain takes them from here: the contract owns them).
OPEN, WON, LOST = "open", "won", "lost"
STATUSES = (OPEN, WON, LOST)
FOLLOWUP_METHODS = ("call", "visit", "online_meeting")
MONEY_PATTERN = r"^\d+\.\d{2}$"
# The pipeline every organisation starts with (until an admin edits it and
# pipeline.updated says otherwise): (key, 中文, English, probability %). One source for
# the opportunity service and reporting, so a stage has one label everywhere; the first
# is the seeds' 初步接触 (seeds 002, 003: 初步接触 → 需求确认 → 方案报价 → 谈判签约 …).
DEFAULT_STAGES = (
    ("lead", "初步接触", "Initial contact", 10),
    ("needs_analysis", "需求分析", "Needs analysis", 25),
    ("proposal", "方案提交", "Proposal", 50),
    ("negotiation", "商务谈判", "Negotiation", 75),
    ("contract", "合同签订", "Contract", 90),
)


class StageLabelsSchema(Schema):
    zh = fields.String(required=True)
    en = fields.String(required=True)


def _money(**kw):
    return fields.String(validate=validate.Regexp(MONEY_PATTERN), **kw)


class WonDataSchema(Schema):
    amount = _money(required=True)
    contract_number = fields.String(required=True)
    signed_on = fields.Date(required=True)


class LostDataSchema(Schema):
    reason = fields.String(required=True)


class OpportunitySnapshot(Schema):
    """The opportunity as every opportunity.* event carries it (`version` orders them)."""
    opportunity_id = fields.String(required=True)
    name = fields.String(required=True)
    customer_id = fields.String(required=True)
    owner_id = fields.String(required=True, allow_none=True)
    owner_team = fields.String(required=True, allow_none=True)
    owner_region = fields.String(required=True, allow_none=True)
    region = fields.String(required=True, allow_none=True)
    stage = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    amount = _money(required=True)
    currency = fields.String(required=True)
    probability = fields.Integer(required=True)
    expected_close_date = fields.Date(required=True)
    created_at = fields.DateTime(required=True)
    stage_changed_at = fields.DateTime(required=True)
    closed_at = fields.DateTime(required=True, allow_none=True)
    version = fields.Integer(required=True)
    won = fields.Nested(WonDataSchema, required=True, allow_none=True)
    lost = fields.Nested(LostDataSchema, required=True, allow_none=True)
    actor_id = fields.String(allow_none=True)


@event_schema("opportunity.created", producer=PRODUCER,
              summary="An opportunity was opened at the first stage of the pipeline.")
class OpportunityCreatedV1(OpportunitySnapshot):
    created_by = fields.String(required=True)


@event_schema("opportunity.updated", producer=PRODUCER,
              summary="Descriptive fields of an open opportunity changed "
                      "(changes: {field: [old, new]}).")
class OpportunityUpdatedV1(OpportunitySnapshot):
    changes = fields.Dict(keys=fields.String(), values=fields.List(fields.Raw(allow_none=True)),
                          required=True)


@event_schema("opportunity.stage_changed", producer=PRODUCER,
              summary="An open opportunity moved to another stage, with the rep's note.")
class OpportunityStageChangedV1(OpportunitySnapshot):
    from_stage = fields.String(required=True)
    to_stage = fields.String(required=True)
    note = fields.String(required=True)
    forward = fields.Boolean(required=True)


@event_schema("opportunity.won", producer=PRODUCER,
              summary="An opportunity was won: the customer becomes a deal and its "
                      "deal_amount grows by won.amount; last_deal_on = won.signed_on.")
class OpportunityWonV1(OpportunitySnapshot):
    from_stage = fields.String(required=True)
    won_amount = _money(required=True)
    contract_number = fields.String(required=True)
    signed_on = fields.Date(required=True)


@event_schema("opportunity.lost", producer=PRODUCER,
              summary="An opportunity was lost, with the reason.")
class OpportunityLostV1(OpportunitySnapshot):
    from_stage = fields.String(required=True)
    reason = fields.String(required=True)


@event_schema("opportunity.assigned", producer=PRODUCER,
              summary="An open opportunity followed its customer to a new owner "
                      "(to_owner_id null: the customer went back to the pool).")
class OpportunityAssignedV1(OpportunitySnapshot):
    from_owner_id = fields.String(required=True, allow_none=True)
    to_owner_id = fields.String(required=True, allow_none=True)
    cause = fields.String(required=True)


class ReminderTimeSchema(Schema):
    remind_at = fields.DateTime(required=True)


@event_schema("opportunity.followup_planned", producer=PRODUCER,
              summary="A follow-up plan for the owner's calendar, with a reminder one "
                      "day before it starts (none if that moment has passed).")
class OpportunityFollowupPlannedV1(OpportunitySnapshot):
    plan_id = fields.String(required=True)
    start_at = fields.DateTime(required=True)
    end_at = fields.DateTime(required=True)
    method = fields.String(required=True, validate=validate.OneOf(FOLLOWUP_METHODS))
    content = fields.String(required=True)
    assignee_id = fields.String(required=True, allow_none=True)
    title = fields.String(required=True)
    reminders = fields.List(fields.Nested(ReminderTimeSchema), required=True)


@event_schema("opportunity.reminder_set", producer=PRODUCER,
              summary="A user asked to be reminded about an opportunity at remind_at; "
                      "user_id is whom to remind (the owner, or the setter if unowned).")
class OpportunityReminderSetV1(OpportunitySnapshot):
    reminder_id = fields.String(required=True)
    remind_at = fields.DateTime(required=True)
    note = fields.String(required=True, allow_none=True)
    user_id = fields.String(required=True, allow_none=True)
    title = fields.String(required=True)


class PipelineStageDataSchema(Schema):
    key = fields.String(required=True)
    zh = fields.String(required=True)
    en = fields.String(required=True)
    labels = fields.Nested(StageLabelsSchema, required=True)
    probability = fields.Integer(required=True)
    order = fields.Integer(required=True)


@event_schema("pipeline.updated", producer=PRODUCER,
              summary="An admin edited the stage pipeline (the whole new list of stages).")
class PipelineUpdatedV1(Schema):
    stages = fields.List(fields.Nested(PipelineStageDataSchema), required=True)
    version = fields.Integer(required=True)
