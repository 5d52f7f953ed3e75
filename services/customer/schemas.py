"""Marshmallow schemas of the customer service: API input and output.

Input schemas check shape and types (unknown fields are refused: marshmallow 4's default
`unknown=RAISE`, reported as 422 `code: unknown_field`); the business rules with their
zh/en messages live in the domain (`fields.py`, `domain.py`). No input schema declares
server-managed fields (id, number, owner_id except on create, version, timestamps), so
sending one is an unknown field.

The `data` schemas of the events it publishes are in `events.customer`, shared with
their consumers.
"""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from crmkit.background import RunOut
from crmkit.fields import Instant, MoneyText
from crmkit.identity import clean_team
from crmkit.pagination import PageQuery
import events  # noqa: F401  (registers every event's schema, this service's among them)

from services.customer.fields import (ATTITUDES, CONTACT_ROLES, LEVELS, MAX_TAGS, METHODS,
                                      RELATIONSHIPS, STATUSES)

SCOPES = ("mine", "shared", "team", "all")
BULK_ACTIONS = ("claim", "return", "recover", "assign", "share", "delete")
_ISO = {"format": "date-time", "description": "ISO 8601 with offset"}
_DATE = {"format": "date", "description": "YYYY-MM-DD"}
_MONEY = {"description": "money: a string with two decimals, or a number", "example": "12000.50"}


def _text(limit: int, **kw):
    return fields.String(allow_none=True, validate=validate.Length(max=limit), **kw)


class Money(fields.Raw):
    """A number or a decimal string; the domain parses it exactly."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise self.make_error("invalid")
        return value

    default_error_messages = {"invalid": "Not a valid amount."}


# ------------------------------------------------------------------------- API input

class PrimaryContactSchema(Schema):
    name = fields.String(required=True)
    phone = fields.String(required=True)
    email = _text(200)
    title = _text(100)


class PrimaryContactPatchSchema(Schema):
    name = fields.String()
    phone = fields.String()
    email = _text(200)
    title = _text(100)


class _CustomerFields(Schema):
    name = fields.String(validate=validate.Length(max=200))
    industry = fields.String(validate=validate.Length(max=100))
    status = fields.String(validate=validate.OneOf(STATUSES))
    level = fields.String(allow_none=True, validate=validate.OneOf(LEVELS))
    source = _text(100)
    source_detail = _text(500)
    tags = fields.List(fields.String(), allow_none=True, validate=validate.Length(max=MAX_TAGS))
    size = _text(100)
    address = _text(500)
    needs = _text(5000)
    region = _text(50)
    deal_amount = Money(allow_none=True, metadata=_MONEY)
    last_deal_on = fields.Date(allow_none=True)
    budget = Money(allow_none=True, metadata={
        **_MONEY, "description": "预算: the customer's expected spend, exact money >= 0 "
                                 "(a string with two decimals, or a number); null clears it"})
    purchase_time = fields.Date(allow_none=True, metadata={
        **_DATE, "description": "采购时间: the date the customer plans to buy (YYYY-MM-DD)"})
    first_contact_on = fields.Date(allow_none=True, metadata={
        **_DATE, "description": "首次接触日期: the date of the first contact (YYYY-MM-DD)"})


class CustomerCreateSchema(_CustomerFields):
    name = fields.String(required=True, validate=validate.Length(max=200))
    industry = fields.String(required=True, validate=validate.Length(max=100))
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    primary_contact = fields.Nested(PrimaryContactSchema, required=True)
    in_pool = fields.Boolean(metadata={"description": "true: create it unclaimed, in the pool"})
    owner_id = fields.String(metadata={"description": "supervisor+: the owner to give it to"})


class CustomerPatchSchema(_CustomerFields):
    primary_contact = fields.Nested(PrimaryContactPatchSchema)


class ReturnSchema(Schema):
    reason = _text(500)


class AssignSchema(Schema):
    user_id = fields.String(required=True, validate=validate.Length(min=1, max=100))


class TeamPath(fields.String):
    """A team path (east/shanghai/team-1), stored as the gateway stores users' teams."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return clean_team(super()._deserialize(value, attr, data, **kwargs))
        except ValueError as error:
            raise ValidationError(str(error)) from None


def _share_teams(**kwargs) -> fields.List:
    """The team paths of a share, one customer's or in bulk (CONTRACT §11)."""
    return fields.List(TeamPath(), validate=validate.Length(max=50), metadata={
        "description": "team paths: every present and future member of each team and of "
                       "the teams below it"}, **kwargs)


class SharesSchema(Schema):
    """Users and / or teams (CONTRACT §11: a team path shares with every present and
    future member of that team and below); at least one of the two
    (`ownership.require_share_targets`)."""
    user_ids = fields.List(fields.String(validate=validate.Length(min=1, max=100)),
                           validate=validate.Length(max=200), load_default=list)
    teams = _share_teams(load_default=list)


class BulkSchema(Schema):
    """`user_ids` for assign and share, `teams` for share only (as one share takes
    them); share needs at least one of the two."""
    action = fields.String(required=True, validate=validate.OneOf(BULK_ACTIONS))
    ids = fields.List(fields.String(), required=True, validate=validate.Length(min=1, max=500))
    user_ids = fields.List(fields.String(validate=validate.Length(min=1, max=100)),
                           validate=validate.Length(max=200))
    teams = _share_teams()
    reason = _text(500)

    @validates_schema
    def _teams_only_to_share(self, data, **kwargs):
        if "teams" in data and data.get("action") != "share":
            raise ValidationError("Teams are for action share only. / 仅共享操作可指定团队。",
                                  "teams")


class RelationSchema(Schema):
    relation = fields.String(required=True, validate=validate.Length(min=1, max=100))
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))


class ContactSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(max=100))
    title = _text(100)
    department = _text(100)
    role = fields.String(allow_none=True, validate=validate.OneOf(CONTACT_ROLES))
    gender = _text(20)
    phone = _text(30)
    mobile = _text(30)
    email = _text(200)
    wechat = _text(100)
    birthday = fields.Date(allow_none=True)
    preference = _text(500)
    relationship = fields.String(allow_none=True, validate=validate.OneOf(RELATIONSHIPS))
    notes = _text(5000)
    is_primary = fields.Boolean()
    relations = fields.List(fields.Nested(RelationSchema), allow_none=True,
                            validate=validate.Length(max=50))


class InteractionSchema(Schema):
    occurred_at = fields.AwareDateTime(required=True, metadata=_ISO)
    method = fields.String(required=True, validate=validate.OneOf(METHODS))
    subject = fields.String(required=True, validate=validate.Length(max=200))
    content = fields.String(required=True, validate=validate.Length(max=5000))
    feedback = _text(5000)
    attitude = fields.String(allow_none=True, validate=validate.OneOf(ATTITUDES))
    next_action = _text(500)
    next_action_due = fields.Date(allow_none=True)
    contact_ids = fields.List(fields.String(), validate=validate.Length(max=100))
    opportunity_id = _text(100)
    location = _text(200, metadata={"description": "互动地点: where it took place"})
    participants = fields.List(fields.String(validate=validate.Length(min=1, max=100)),
                               validate=validate.Length(max=50), metadata={
        "description": "我方参与人: ids of our users who took part (each a known, active "
                       "user: 422 naming participants otherwise)"})
    key_information = _text(5000, metadata={
        "description": "关键信息点: key facts learned (checked for sensitive data)"})


class InteractionPatchSchema(InteractionSchema):
    """Correcting a follow-up record (its author only): any of its fields."""

    occurred_at = fields.AwareDateTime(metadata=_ISO)
    method = fields.String(validate=validate.OneOf(METHODS))
    subject = fields.String(validate=validate.Length(max=200))
    content = fields.String(validate=validate.Length(max=5000))


class PoolRulesSchema(Schema):
    auto_reclaim = fields.Boolean()
    days_without_followup = fields.Integer(allow_none=True, strict=True)
    days_without_deal = fields.Integer(allow_none=True, strict=True)
    level_days = fields.Dict(keys=fields.String(), values=fields.Integer(strict=True),
                             allow_none=True, validate=validate.Length(max=20))
    exempt_statuses = fields.List(fields.String(), allow_none=True,
                                  validate=validate.Length(max=20))
    warn_days_before = fields.Integer(allow_none=True, strict=True)
    claim_limit = fields.Integer(allow_none=True, strict=True)
    reclaim_cooldown_days = fields.Integer(allow_none=True, strict=True)


class CustomerFilterQuery(PageQuery):
    q = fields.String(validate=validate.Length(max=100))
    status = fields.String(validate=validate.OneOf(STATUSES))
    level = fields.String(validate=validate.OneOf(LEVELS))
    industry = fields.String(validate=validate.Length(max=100))
    tag = fields.List(fields.String(validate=validate.Length(max=50)),
                      validate=validate.Length(max=MAX_TAGS))
    source = fields.String(validate=validate.Length(max=100))
    owner_id = fields.String(validate=validate.Length(max=100))
    region = fields.String(validate=validate.Length(max=50))
    created_from = fields.Date()
    created_to = fields.Date()
    no_followup_since = fields.Date()


class CustomerListQuery(CustomerFilterQuery):
    scope = fields.String(load_default="all", validate=validate.OneOf(SCOPES))


class PoolQuery(CustomerFilterQuery):
    """The list filters on public fields: `q` matches name, number and pinyin only;
    `no_followup_since` and sorts by deal or follow-up fields are refused (422)."""

    claimed = fields.Boolean()


class ExportQuery(CustomerListQuery):
    format = fields.String(load_default="xlsx", validate=validate.OneOf(("xlsx", "csv")))


PRINT_FORMATS = ("html", "pdf")


class PrintQuery(Schema):
    format = fields.String(load_default="html", validate=validate.OneOf(PRINT_FORMATS),
                           metadata={"description": "html (a print-CSS page) or pdf"})


class CustomerPrintQuery(CustomerListQuery):
    """The list's filters and page; `all=true`: every match, up to 500 (打印)."""
    format = fields.String(load_default="html", validate=validate.OneOf(PRINT_FORMATS),
                           metadata={"description": "html (a print-CSS page) or pdf"})
    all = fields.Boolean(load_default=False, metadata={
        "description": "every customer the filters match (at most 500), not one page"})


class DuplicatesQuery(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))


class ReclaimOutlookQuery(Schema):
    within_days = fields.Integer(load_default=7, validate=validate.Range(min=0, max=365),
                                 metadata={"description": "deadline at most this many days away"})


class ReclaimOutlookItem(Schema):
    id = fields.String()
    number = fields.String()
    name = fields.String()
    level = fields.String(allow_none=True)
    status = fields.String()
    due_on = fields.Date(metadata=_DATE)
    days_left = fields.Integer()
    reason = fields.String(metadata={"description": "no_followup | no_deal"})


class ReclaimOutlookOut(Schema):
    as_of = fields.Date(metadata=_DATE)
    auto_reclaim = fields.Boolean()
    within_days = fields.Integer()
    items = fields.List(fields.Nested(ReclaimOutlookItem))


class ReclaimQuery(Schema):
    as_of = fields.Date(metadata=_DATE)


class ImportForm(Schema):
    in_pool = fields.Boolean(load_default=False)


# ------------------------------------------------------------------------- API output
# What every response is dumped through (`api.py`): the documented shape is the one sent.

class PrimaryContactOut(Schema):
    name = fields.String()
    phone = fields.String()
    email = fields.String()
    title = fields.String()


class ContactOut(ContactSchema):
    id = fields.String()
    created_at = Instant(metadata=_ISO)
    updated_at = Instant(metadata=_ISO)


class CustomerPublicOut(Schema):
    """The 公开信息 everyone sees of a pool customer (and in GET /pool)."""

    VIEW = "public"

    id = fields.String()
    number = fields.String()
    name = fields.String()
    industry = fields.String()
    status = fields.String()
    level = fields.String(allow_none=True)
    source = fields.String(allow_none=True)
    tags = fields.List(fields.String())
    size = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    region = fields.String(allow_none=True)
    owner_id = fields.String(allow_none=True)
    created_at = Instant(metadata=_ISO)
    updated_at = Instant(metadata=_ISO)
    claimed = fields.Boolean()
    owner_name = fields.String(allow_none=True)
    version = fields.Integer()
    view = fields.Method("shown_as", metadata={
        "type": "string", "enum": ["full", "public"],
        "description": "full: the record (fields below); public: the 公开信息 only"})

    def shown_as(self, customer) -> str:
        return self.VIEW


class CustomerOutSchema(CustomerPublicOut):
    """A customer in full, for those who may see it; the public view otherwise."""

    VIEW = "full"

    source_detail = fields.String(allow_none=True)
    needs = fields.String(allow_none=True)
    shared_with = fields.List(fields.String())
    shared_teams = fields.List(fields.String(), metadata={
        "description": "team paths shared with (their members and those below)"})
    primary_contact = fields.Nested(PrimaryContactOut, allow_none=True)
    contacts = fields.List(fields.Nested(ContactOut))
    deal_amount = MoneyText(metadata={"description": "a string with two decimals",
                                      "example": "12000.50"})
    currency = fields.String()
    last_deal_on = fields.Date(allow_none=True, metadata=_DATE)
    last_followup_at = Instant(allow_none=True, metadata=_ISO)
    created_by = fields.String()
    budget = MoneyText(allow_none=True, metadata={
        "description": "预算: a string with two decimals, or null", "example": "50000.00"})
    purchase_time = fields.Date(allow_none=True, metadata={
        **_DATE, "description": "采购时间: the planned purchase date"})
    first_contact_on = fields.Date(allow_none=True, metadata={
        **_DATE, "description": "首次接触日期"})


class DeletedCustomerOut(CustomerPublicOut):
    deleted = fields.Constant(True, metadata={"type": "boolean"})


class MatchOut(Schema):
    """A customer holding the name asked about (`handlers.base.match_summary`)."""

    id = fields.String()
    number = fields.String()
    name = fields.String()
    claimed = fields.Boolean()
    owner_id = fields.String(allow_none=True)
    owner_name = fields.String(allow_none=True)


class DuplicateOut(MatchOut):
    """A customer that likely is the company named, and why."""

    reason = fields.String(metadata={"description": "same_name | contains | pinyin"})
    score = fields.Float()


class HistoryEntryOut(Schema):
    at = Instant(metadata=_ISO)
    actor_id = fields.String(allow_none=True)
    action = fields.String()
    changes = fields.Dict(metadata={"description": "{field: [old, new]}"})
    reason = fields.String(metadata={"description": "only when one was given"})


class InteractionOut(InteractionSchema):
    id = fields.String()
    customer_id = fields.String()
    occurred_at = Instant(metadata=_ISO)
    created_by = fields.String()
    created_at = Instant(metadata=_ISO)
    updated_at = Instant(allow_none=True, metadata={
        **_ISO, "description": "when its author last corrected it (null: never)"})


class BulkItemOut(Schema):
    id = fields.String()
    ok = fields.Boolean()
    user_id = fields.String(metadata={"description": "assign: who got this one"})
    code = fields.String(metadata={"description": "when not ok"})
    detail = fields.String(metadata={"description": "when not ok"})


class BulkResultOut(Schema):
    results = fields.List(fields.Nested(BulkItemOut))


class ImportMatchOut(MatchOut):
    """The row earlier in the file (row, name), or the customer holding the name."""

    row = fields.Integer()


class ImportDuplicateOut(Schema):
    row = fields.Integer()
    matches = fields.List(fields.Nested(ImportMatchOut))


class ImportErrorOut(Schema):
    row = fields.Integer()
    field = fields.String()
    code = fields.String()
    message = fields.String()


class ImportResultOut(Schema):
    created = fields.Integer()
    duplicates = fields.List(fields.Nested(ImportDuplicateOut))
    errors = fields.List(fields.Nested(ImportErrorOut))
    numbers = fields.List(fields.String(), metadata={
        "description": "the numbers of the customers created (the first 1000)"})


class ImportRunResultOut(ImportResultOut):
    duplicates_total = fields.Integer(metadata={
        "description": "duplicates found; `duplicates` lists the first 2000"})
    errors_total = fields.Integer(metadata={
        "description": "row errors found; `errors` lists the first 2000"})


class ImportRunOut(RunOut):
    """An import started with `Prefer: respond-async` (phases: reading, checking rows,
    writing customers)."""
    filename = fields.String(allow_none=True)
    in_pool = fields.Boolean()
    result = fields.Nested(ImportRunResultOut, allow_none=True, metadata={
        "description": "when done: the import's report"})


class ReclaimReportOut(Schema):
    as_of = fields.Date(metadata=_DATE)
    reclaimed = fields.List(fields.String(), metadata={"description": "customer ids"})
    warned = fields.List(fields.String(), metadata={"description": "customer ids"})


class PageQueryOnly(PageQuery):
    """page / per_page of a sub-list (sort is fixed: newest first)."""
