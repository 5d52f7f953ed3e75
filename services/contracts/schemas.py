"""Marshmallow schemas of the contracts service: API input and output (CONTRACT §9).

Input schemas check shapes and types (unknown fields → 422 unknown_field); the rules
(transitions, plan sums, overpayment) live in the aggregates. Output schemas dump what the
handlers return: what they declare is exactly what is sent and what OpenAPI documents.
The event schemas are in `events.contracts`.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from marshmallow import Schema, ValidationError, fields, validate

from crmkit.fields import Instant, Money, MoneyText
from crmkit.pagination import PageQuery
import events  # noqa: F401  (registers every event's schema, this service's among them)
from events.contracts import CONTRACT_STATUSES, QUOTE_STATUSES

from services.contracts.contract import MAX_INSTALLMENTS
from services.contracts.quote import MAX_LINES
from services.contracts.receivables import BUCKETS

ID = validate.Length(min=1, max=64)
TEXT = validate.Length(max=5000)
CURRENCY = validate.Regexp(r"^[A-Z]{3}$", error="An ISO 4217 code such as CNY.")
NUMBER = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,63}$",
                         error="Letters, digits and - _ . / (at most 64). / 仅限字母数字及 -_./")


class Quantity(fields.Field):
    """A positive number with at most four decimals (a number or a string)."""
    places, low, high = Decimal("0.0001"), Decimal(0), Decimal("1e9")
    zero_ok = False
    message = "A quantity above 0 with at most four decimals. / 数量须大于 0,最多四位小数。"

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {"type": "string", "example": "2.5"})
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValidationError(self.message)
        try:
            number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
        except (InvalidOperation, ValueError):
            raise ValidationError(self.message) from None
        if (not number.is_finite() or number < self.low or number > self.high
                or (number == self.low and not self.zero_ok)
                or number != number.quantize(self.places)):
            raise ValidationError(self.message)
        return number

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else format(Decimal(value).normalize(), "f")


class Percent(Quantity):
    """A discount: percent off the line, 0 to 100, at most two decimals."""
    places, high, zero_ok = Decimal("0.01"), Decimal(100), True
    message = "A percentage from 0 to 100, two decimals at most. / 折扣为 0 到 100 的百分比。"

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {"type": "string", "example": "10",
                                       "description": "percent off the line, 0-100"})
        super().__init__(**kwargs)


# --------------------------------------------------------------------------- quotes in

class QuoteLineIn(Schema):
    product = fields.String(required=True, validate=validate.Length(min=1, max=200))
    quantity = Quantity(required=True)
    unit_price = Money(required=True)
    discount = Percent(load_default=Decimal(0))


class QuoteFields(Schema):
    lines = fields.List(fields.Nested(QuoteLineIn), validate=validate.Length(min=1, max=MAX_LINES))
    valid_until = fields.Date(allow_none=True)
    notes = fields.String(allow_none=True, validate=TEXT)
    currency = fields.String(validate=CURRENCY)


class QuoteCreateSchema(QuoteFields):
    opportunity_id = fields.String(required=True, validate=ID)
    lines = fields.List(fields.Nested(QuoteLineIn), required=True,
                        validate=validate.Length(min=1, max=MAX_LINES))


class QuotePatchSchema(QuoteFields):
    """Every field optional; a draft only (409 quote_not_editable otherwise)."""


class QuoteStatusSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(QUOTE_STATUSES))


class QuoteListQuery(PageQuery):
    opportunity_id = fields.String(validate=ID)
    customer_id = fields.String(validate=ID)
    status = fields.String(validate=validate.OneOf(QUOTE_STATUSES))


# --------------------------------------------------------------------------- contracts in

class ContractFields(Schema):
    amount = Money()
    signed_on = fields.Date()
    starts_on = fields.Date(allow_none=True)
    ends_on = fields.Date(allow_none=True)
    currency = fields.String(validate=CURRENCY)
    notes = fields.String(allow_none=True, validate=TEXT)


class ContractCreateSchema(ContractFields):
    customer_id = fields.String(required=True, validate=ID)
    opportunity_id = fields.String(allow_none=True, validate=ID)
    quote_id = fields.String(allow_none=True, validate=ID)
    number = fields.String(allow_none=True, validate=NUMBER)
    amount = Money(required=True)
    signed_on = fields.Date(required=True)


class ContractPatchSchema(ContractFields):
    """Every field optional; draft or active contracts only (409 contract_closed)."""


class ContractStatusSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(CONTRACT_STATUSES))


class OwnerFilters(Schema):
    owner_id = fields.String(validate=ID)
    team = fields.String(validate=validate.Length(min=1, max=200))
    region = fields.String(validate=validate.Length(min=1, max=64))


class ContractListQuery(PageQuery, OwnerFilters):
    customer_id = fields.String(validate=ID)
    opportunity_id = fields.String(validate=ID)
    status = fields.String(validate=validate.OneOf(CONTRACT_STATUSES))
    signed_from = fields.Date()
    signed_to = fields.Date()


class InstallmentIn(Schema):
    due_on = fields.Date(required=True)
    amount = Money(required=True)


class PlanSchema(Schema):
    installments = fields.List(fields.Nested(InstallmentIn), required=True,
                               validate=validate.Length(max=MAX_INSTALLMENTS))


class PaymentSchema(Schema):
    received_on = fields.Date(required=True)
    amount = Money(required=True)
    method = fields.String(required=True, validate=validate.Length(min=1, max=40),
                           metadata={"example": "bank_transfer"})
    reference = fields.String(allow_none=True, validate=validate.Length(max=200))


class CostSchema(Schema):
    incurred_on = fields.Date(required=True)
    amount = Money(required=True)
    category = fields.String(required=True, validate=validate.Length(min=1, max=60),
                             metadata={"example": "travel"})
    notes = fields.String(allow_none=True, validate=validate.Length(max=2000))


class ReceivablesQuery(OwnerFilters):
    as_of = fields.Date(metadata={"description": "default: today (organisation time)"})
    customer_id = fields.String(validate=ID)


class CollectionsQuery(OwnerFilters):
    from_ = fields.Date(data_key="from")
    to = fields.Date()


class AmountVsCollectedQuery(OwnerFilters):
    group_by = fields.String(load_default="owner",
                             validate=validate.OneOf(("owner", "team", "region")))
    signed_from = fields.Date()
    signed_to = fields.Date()


# --------------------------------------------------------------------------- out

class QuoteLineOut(Schema):
    product = fields.String()
    quantity = Quantity()
    unit_price = MoneyText()
    discount = Percent()
    amount = MoneyText(metadata={"description": "quantity x unit_price less discount %"})


class QuoteOutSchema(Schema):
    id = fields.String()
    number = fields.String()
    opportunity_id = fields.String()
    customer_id = fields.String()
    customer_name = fields.String(allow_none=True)
    owner_id = fields.String(allow_none=True)
    lines = fields.List(fields.Nested(QuoteLineOut))
    total = MoneyText()
    currency = fields.String()
    valid_until = fields.Date(allow_none=True)
    notes = fields.String(allow_none=True)
    status = fields.String(metadata={"enum": list(QUOTE_STATUSES)})
    created_by = fields.String(allow_none=True)
    created_at = Instant()
    updated_at = Instant()
    version = fields.Integer()


class QuotePageOutSchema(Schema):
    items = fields.List(fields.Nested(QuoteOutSchema), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)


class InstallmentOut(Schema):
    id = fields.String()
    due_on = fields.Date()
    amount = MoneyText()
    received = MoneyText(metadata={"description": "what payments cover of it (oldest first)"})
    outstanding = MoneyText()
    overdue = fields.Boolean()
    days_overdue = fields.Integer()


class PaymentOut(Schema):
    id = fields.String()
    received_on = fields.Date()
    amount = MoneyText()
    method = fields.String()
    reference = fields.String(allow_none=True)
    recorded_by = fields.String(allow_none=True)
    recorded_at = Instant()


class CostOut(Schema):
    id = fields.String()
    incurred_on = fields.Date()
    amount = MoneyText()
    category = fields.String()
    notes = fields.String(allow_none=True)
    recorded_by = fields.String(allow_none=True)
    recorded_at = Instant()


class ContractSummaryOutSchema(Schema):
    """A contract as lists show it (read one for its plan, payments and costs)."""
    id = fields.String()
    number = fields.String()
    customer_id = fields.String()
    customer_name = fields.String(allow_none=True)
    opportunity_id = fields.String(allow_none=True)
    quote_id = fields.String(allow_none=True)
    owner_id = fields.String(allow_none=True)
    amount = MoneyText()
    currency = fields.String()
    signed_on = fields.Date()
    starts_on = fields.Date(allow_none=True)
    ends_on = fields.Date(allow_none=True)
    notes = fields.String(allow_none=True)
    status = fields.String(metadata={"enum": list(CONTRACT_STATUSES)})
    source = fields.String(metadata={"enum": ["api", "opportunity.won"]})
    received = MoneyText()
    receivable = MoneyText(metadata={"description": "amount − received"})
    costs_total = MoneyText()
    created_by = fields.String(allow_none=True)
    created_at = Instant()
    updated_at = Instant()
    version = fields.Integer()


class ContractOutSchema(ContractSummaryOutSchema):
    plan = fields.List(fields.Nested(InstallmentOut))
    payments = fields.List(fields.Nested(PaymentOut))
    costs = fields.List(fields.Nested(CostOut))
    overdue = fields.List(fields.Nested(InstallmentOut), metadata={
        "description": "installments past due and not covered (today, organisation time)"})
    overdue_amount = MoneyText()


class ContractPageOutSchema(Schema):
    items = fields.List(fields.Nested(ContractSummaryOutSchema), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)


AgeingOut = Schema.from_dict({bucket: MoneyText() for bucket in BUCKETS}, name="AgeingOut")


class ReceivableRowOut(Schema):
    contract_id = fields.String()
    number = fields.String()
    customer_id = fields.String()
    customer_name = fields.String(allow_none=True)
    owner_id = fields.String(allow_none=True)
    owner_team = fields.String(allow_none=True)
    owner_region = fields.String(allow_none=True)
    status = fields.String()
    amount = MoneyText()
    received = MoneyText()
    receivable = MoneyText()
    not_due = MoneyText()
    overdue_amount = MoneyText()
    ageing = fields.Nested(AgeingOut, metadata={
        "description": "overdue outstanding by days past due: 0-30 | 31-60 | 61-90 | 90+"})


class ReceivableTotalsOut(Schema):
    receivable = MoneyText()
    not_due = MoneyText()
    overdue_amount = MoneyText()
    ageing = fields.Nested(AgeingOut)


class ReceivablesOutSchema(Schema):
    as_of = fields.Date()
    rows = fields.List(fields.Nested(ReceivableRowOut))
    totals = fields.Nested(ReceivableTotalsOut)


class CollectionRowOut(Schema):
    month = fields.String(metadata={"example": "2026-11"})
    count = fields.Integer()
    amount = MoneyText()


class CollectionsOutSchema(Schema):
    rows = fields.List(fields.Nested(CollectionRowOut))
    total = MoneyText()


class AmountVsCollectedRowOut(Schema):
    key = fields.String(allow_none=True, metadata={
        "description": "owner id, team path or region code (null: customer in the pool)"})
    label = fields.String(allow_none=True)
    contracts = fields.Integer()
    contract_amount = MoneyText()
    collected = MoneyText()
    receivable = MoneyText()
    collection_rate = fields.Float(allow_none=True, metadata={
        "description": "collected / contract_amount as a fraction"})


class AmountVsCollectedOutSchema(Schema):
    group_by = fields.String()
    rows = fields.List(fields.Nested(AmountVsCollectedRowOut))
