"""Marshmallow fields for the `Out` schemas every service dumps its responses through, so
that what is sent and what OpenAPI documents are one declaration."""
from __future__ import annotations

from marshmallow import fields

from crmkit.clock import isoformat
from crmkit.money import format_money


class Instant(fields.DateTime):
    """A moment as the API sends it: ISO 8601 with offset and milliseconds
    (`crmkit.clock.isoformat`), e.g. 2026-11-23T02:00:00.000+00:00."""

    def _serialize(self, value, attr, obj, **kwargs):
        return isoformat(value)


class MoneyText(fields.String):
    """An exact amount as the API sends it: a string with two decimals."""

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {"example": "120000.50"})
        super().__init__(**kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return format_money(value)


class Money(fields.Field):
    """An input amount: a number or a string with at most two decimals, loaded as an exact
    Decimal (`crmkit.money.parse_money`); responses send amounts as `MoneyText`."""

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {"type": "string", "example": "12000.50",
                                       "description": "a number or a string, two decimals"})
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        from marshmallow import ValidationError
        from crmkit.money import parse_money
        try:
            return parse_money(value)
        except ValueError as error:
            raise ValidationError(str(error)) from None
