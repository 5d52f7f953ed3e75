"""Marshmallow schemas of the opportunity service: API input/output and event payloads.

Input schemas check shapes and types (unknown fields → 422 unknown_field); the rules
(stages, closing, dates in the future, sensitive data) live in the aggregates. Output
schemas dump the domain objects the handlers return: what they declare is exactly what is
sent (and what the OpenAPI document says). The `data` schemas of the events it publishes
are in `events.opportunity`, shared with their consumers.
"""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from crmkit.fields import Instant, MoneyText
from crmkit.money import parse_money
from crmkit.pagination import PageQuery
import events  # noqa: F401  (registers every event's schema, this service's among them)
from events.opportunity import FOLLOWUP_METHODS, STATUSES, StageLabelsSchema

from services.opportunity.pipeline import MAX_STAGES

TEXT = validate.Length(max=5000)
SHORT = validate.Length(max=200)


class Money(fields.Field):
    """A number or a string with at most two decimals; loaded as an exact Decimal
    (responses send amounts as `crmkit.fields.MoneyText`)."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return parse_money(value)
        except ValueError as error:
            raise ValidationError(str(error)) from None


class Competitors(fields.List):
    """One name or a list of names, loaded as a list (so a declared Length counts names)."""

    def __init__(self, **kwargs):
        super().__init__(fields.String(), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        names = [value] if isinstance(value, str) else value
        if isinstance(names, list) and all(isinstance(v, str) for v in names):
            return list(names)
        raise ValidationError("A name or a list of names.")


def _text(**kw):
    return fields.String(allow_none=True, validate=TEXT, **kw)


# --------------------------------------------------------------------------- API in

class OpportunityFieldsSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    contact_id = fields.String(allow_none=True, validate=validate.Length(max=64), metadata={
        "description": "one of the customer's contacts (422 naming contact_id otherwise; "
                       "accepted unchecked while the service does not yet know the "
                       "customer's contacts)"})
    product = fields.String(allow_none=True, validate=SHORT)
    amount = Money()
    currency = fields.String(validate=validate.Regexp(r"^[A-Z]{3}$",
                                                      error="An ISO 4217 code such as CNY."))
    expected_close_date = fields.Date()
    probability = fields.Integer(allow_none=True, strict=True,
                                 validate=validate.Range(min=0, max=100))
    competitors = Competitors(allow_none=True, validate=validate.Length(max=50))
    strengths = _text()
    weaknesses = _text()
    key_factors = _text()
    risks = _text()
    next_action = _text()
    next_action_due = fields.Date(allow_none=True)
    description = _text()


class OpportunityCreateSchema(OpportunityFieldsSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    customer_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    amount = Money(required=True)
    expected_close_date = fields.Date(required=True)


class OpportunityPatchSchema(OpportunityFieldsSchema):
    """Every field optional; `customer_id`, `stage`, `owner_id`, ... are not settable."""


class StageChangeSchema(Schema):
    stage = fields.String(required=True, validate=validate.Length(min=1, max=40))
    note = fields.String(required=True, validate=validate.Length(max=2000))


class WinSchema(Schema):
    amount = Money(required=True)
    contract_number = fields.String(required=True, validate=validate.Length(min=1, max=64))
    signed_on = fields.Date(required=True)


class LoseSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(max=2000))


class FollowupPlanSchema(Schema):
    start_at = fields.AwareDateTime(required=True)
    end_at = fields.AwareDateTime(required=True)
    method = fields.String(required=True, validate=validate.OneOf(FOLLOWUP_METHODS))
    content = fields.String(required=True, validate=validate.Length(max=5000))


class ReminderSchema(Schema):
    remind_at = fields.AwareDateTime(required=True)
    note = fields.String(allow_none=True, validate=validate.Length(max=2000))


class PipelineStageInSchema(Schema):
    """A stage: key, zh and en labels (as `labels: {zh, en}` or flat `zh`/`en`),
    default probability (percent), order (optional: list position)."""
    key = fields.String(required=True)
    labels = fields.Nested(StageLabelsSchema)
    zh = fields.String()
    en = fields.String()
    label_zh = fields.String()
    label_en = fields.String()
    probability = fields.Integer(required=True, strict=True)
    order = fields.Integer(strict=True, allow_none=True)


class PipelineInSchema(Schema):
    stages = fields.List(fields.Nested(PipelineStageInSchema), required=True,
                         validate=validate.Length(max=MAX_STAGES))


class OpportunityListQuery(PageQuery):
    scope = fields.String(load_default="all",
                          validate=validate.OneOf(("mine", "shared", "team", "all")))
    stage = fields.String(validate=validate.Length(max=40))
    status = fields.String(validate=validate.OneOf(STATUSES))
    owner_id = fields.String(validate=validate.Length(max=64))  # "none": unowned
    customer_id = fields.String(validate=validate.Length(max=64))
    close_from = fields.Date()
    close_to = fields.Date()
    q = fields.String(validate=validate.Length(max=100))


# --------------------------------------------------------------------------- API out

class WonOutSchema(Schema):
    amount = MoneyText()
    contract_number = fields.String()
    signed_on = fields.Date()


class LostOutSchema(Schema):
    reason = fields.String()


class OpportunityOutSchema(Schema):
    id = fields.String()
    name = fields.String()
    customer_id = fields.String()
    customer_name = fields.String(allow_none=True)
    contact_id = fields.String(allow_none=True)
    product = fields.String(allow_none=True)
    amount = MoneyText()
    currency = fields.String()
    expected_close_date = fields.Date()
    stage = fields.String()
    probability = fields.Integer()
    probability_source = fields.String(metadata={"enum": ["stage", "manual"]})
    status = fields.String(metadata={"enum": list(STATUSES)})
    competitors = fields.List(fields.String())
    strengths = fields.String(allow_none=True)
    weaknesses = fields.String(allow_none=True)
    key_factors = fields.String(allow_none=True)
    risks = fields.String(allow_none=True)
    next_action = fields.String(allow_none=True)
    next_action_due = fields.Date(allow_none=True)
    description = fields.String(allow_none=True)
    owner_id = fields.String(allow_none=True)
    region = fields.String(allow_none=True)
    won = fields.Nested(WonOutSchema, allow_none=True)
    lost = fields.Nested(LostOutSchema, allow_none=True)
    stage_changed_at = Instant()
    closed_at = Instant(allow_none=True)
    created_by = fields.String()
    created_at = Instant()
    updated_at = Instant()
    version = fields.Integer()


class OpportunityPageOutSchema(Schema):
    items = fields.List(fields.Nested(OpportunityOutSchema), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    amount_totals = fields.Dict(keys=fields.String(), values=MoneyText(), required=True,
                                metadata={"description": "exact sums of `amount` over every "
                                          "match (all pages), per currency"})


class HistoryEntryOutSchema(Schema):
    at = Instant()
    actor_id = fields.String(allow_none=True)
    action = fields.String(metadata={"enum": ["stage_changed", "won", "lost", "assigned"]})
    # stages: from/to (won/lost when closed); owner moves: from_owner_id/to_owner_id
    from_ = fields.String(data_key="from", attribute="from", allow_none=True)
    to = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    from_owner_id = fields.String(allow_none=True, metadata={
        "description": "owner moves (action: assigned) only"})
    to_owner_id = fields.String(allow_none=True, metadata={
        "description": "owner moves (action: assigned) only"})


class ReminderAtSchema(Schema):
    remind_at = Instant(required=True)


class FollowupPlanOutSchema(Schema):
    id = fields.String()
    opportunity_id = fields.String()
    start_at = Instant()
    end_at = Instant()
    method = fields.String()
    content = fields.String()
    assignee_id = fields.String(allow_none=True)
    reminders = fields.List(fields.Nested(ReminderAtSchema))
    created_by = fields.String()
    created_at = Instant()


class ReminderOutSchema(Schema):
    id = fields.String()
    opportunity_id = fields.String()
    remind_at = Instant()
    note = fields.String(allow_none=True)
    user_id = fields.String(allow_none=True)
    created_by = fields.String()
    created_at = Instant()


class StageOutSchema(Schema):
    key = fields.String()
    zh = fields.String(attribute="label_zh")
    en = fields.String(attribute="label_en")
    labels = fields.Nested(StageLabelsSchema)
    probability = fields.Integer()
    order = fields.Integer()


class ClosingOutSchema(Schema):
    key = fields.String()
    zh = fields.String()
    en = fields.String()
    labels = fields.Nested(StageLabelsSchema)
    probability = fields.Integer()


class PipelineOutSchema(Schema):
    stages = fields.List(fields.Nested(StageOutSchema))
    closing = fields.List(fields.Nested(ClosingOutSchema))
    version = fields.Integer()
