"""The contracts service's events: quote.*, contract.*, payment.received, cost.recorded
(CONTRACT §9).

quote.* and contract.* events carry the record as it is after the change (a snapshot);
`version` orders them. payment.received and cost.recorded carry the contract's snapshot
too, with the payment or cost that was added.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from crmkit.events import event_schema
from events._fields import DATE, changes_field, when

PRODUCER = "contracts"
# The vocabularies the events carry (the domain takes them from here: the contract owns them).
QUOTE_STATUSES = ("draft", "sent", "accepted", "rejected")
CONTRACT_STATUSES = ("draft", "active", "completed", "terminated")
MONEY_PATTERN = r"^\d+\.\d{2}$"
MONEY = {"description": "exact decimal, two places", "example": "12000.50"}


def _money(**kw):
    return fields.String(validate=validate.Regexp(MONEY_PATTERN), metadata=MONEY, **kw)


def _day(**kw):
    return fields.String(metadata=DATE, **kw)


class _Owned(Schema):
    customer_id = fields.String(required=True)
    owner_id = fields.String(required=True, allow_none=True, metadata={
        "description": "the customer's owner (null: the customer is in the pool)"})
    owner_team = fields.String(required=True, allow_none=True)
    owner_region = fields.String(required=True, allow_none=True)
    region = fields.String(required=True, allow_none=True)
    version = fields.Integer(required=True)


class QuoteSnapshot(_Owned):
    quote_id = fields.String(required=True)
    number = fields.String(required=True)
    opportunity_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(QUOTE_STATUSES))
    total = _money(required=True)
    currency = fields.String(required=True)
    valid_until = _day(required=True, allow_none=True)
    line_count = fields.Integer(required=True)
    created_at = when(required=True)


class ContractSnapshot(_Owned):
    contract_id = fields.String(required=True)
    number = fields.String(required=True)
    opportunity_id = fields.String(required=True, allow_none=True)
    quote_id = fields.String(required=True, allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(CONTRACT_STATUSES))
    amount = _money(required=True)
    currency = fields.String(required=True)
    signed_on = _day(required=True)
    starts_on = _day(required=True, allow_none=True)
    ends_on = _day(required=True, allow_none=True)
    received = _money(required=True)
    receivable = _money(required=True)
    costs_total = _money(required=True)
    created_at = when(required=True)


@event_schema("quote.created", producer=PRODUCER,
              summary="A quote was made for an opportunity (status draft).")
class QuoteCreatedV1(QuoteSnapshot):
    pass


@event_schema("quote.updated", producer=PRODUCER,
              summary="A draft quote's lines, validity or notes changed: {field: [old, new]}.")
class QuoteUpdatedV1(QuoteSnapshot):
    changes = changes_field()


@event_schema("quote.status_changed", producer=PRODUCER,
              summary="A quote moved draft -> sent -> accepted / rejected (or back to draft).")
class QuoteStatusChangedV1(QuoteSnapshot):
    from_ = fields.String(required=True, data_key="from",
                          validate=validate.OneOf(QUOTE_STATUSES))
    to = fields.String(required=True, validate=validate.OneOf(QUOTE_STATUSES))


@event_schema("contract.created", producer=PRODUCER,
              summary="A contract was made (by hand, or as a draft from opportunity.won).")
class ContractCreatedV1(ContractSnapshot):
    source = fields.String(required=True, validate=validate.OneOf(["api", "opportunity.won"]))


@event_schema("contract.updated", producer=PRODUCER,
              summary="A contract's terms or payment plan changed: {field: [old, new]}.")
class ContractUpdatedV1(ContractSnapshot):
    changes = changes_field()


@event_schema("contract.status_changed", producer=PRODUCER,
              summary="A contract moved draft -> active -> completed, or was terminated.")
class ContractStatusChangedV1(ContractSnapshot):
    from_ = fields.String(required=True, data_key="from",
                          validate=validate.OneOf(CONTRACT_STATUSES))
    to = fields.String(required=True, validate=validate.OneOf(CONTRACT_STATUSES))


class PaymentDataSchema(Schema):
    id = fields.String(required=True)
    received_on = _day(required=True)
    amount = _money(required=True)
    method = fields.String(required=True)
    reference = fields.String(required=True, allow_none=True)


class CostDataSchema(Schema):
    id = fields.String(required=True)
    incurred_on = _day(required=True)
    amount = _money(required=True)
    category = fields.String(required=True)
    notes = fields.String(required=True, allow_none=True)


@event_schema("payment.received", producer=PRODUCER,
              summary="Money was received (已收) against a contract; `received` and "
                      "`receivable` are the contract's totals after it.")
class PaymentReceivedV1(ContractSnapshot):
    payment = fields.Nested(PaymentDataSchema, required=True)


@event_schema("cost.recorded", producer=PRODUCER,
              summary="A cost (成本费用) was recorded against a contract.")
class CostRecordedV1(ContractSnapshot):
    cost = fields.Nested(CostDataSchema, required=True)
