"""Marshmallow schemas of the reporting API: report queries and targets.

Reporting publishes no events (it only consumes), so nothing is registered with
`@event_schema` here. Unknown query parameters are refused (422 unknown_field).
"""
from __future__ import annotations

from datetime import date

from marshmallow import Schema, ValidationError, fields, post_load, validate

from services.reporting import periods

FORMATS = ("json", "csv", "xlsx")
GROUP_BYS = ("owner", "team", "region")
PERIODS = ("month", "quarter", "year")


class DateOrPeriod(fields.Field):
    """'2026-11-23', or a period '2026-11' / '2026-Q4' / '2026' (its first or last day)."""

    def __init__(self, *, end: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.end = end

    def _deserialize(self, value, attr, data, **kwargs):
        text = str(value).strip()
        if len(text) == 10:
            try:
                return date.fromisoformat(text)
            except ValueError:
                pass
        else:
            try:
                _, first, last = periods.parse_period(text)
                return last if self.end else first
            except ValueError:
                pass
        raise ValidationError("A date YYYY-MM-DD or a period like 2026-11, 2026-Q4, 2026. "
                              "日期格式 YYYY-MM-DD,或期间如 2026-11、2026-Q4、2026。")

    def _serialize(self, value, attr, obj, **kwargs):
        return value.isoformat() if value else None


class FormatQuery(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(FORMATS))


class FilterQuery(FormatQuery):
    owner_id = fields.String(load_default=None)
    team = fields.String(load_default=None)
    region = fields.String(load_default=None)


class RangeQuery(FilterQuery):
    from_ = DateOrPeriod(data_key="from", load_default=None, metadata={
        "description": "first day (YYYY-MM-DD) or period (2026-11, 2026-Q4, 2026) included",
        "example": "2026-10-01"})
    to = DateOrPeriod(end=True, load_default=None, metadata={
        "description": "last day (YYYY-MM-DD) or period (2026-11, 2026-Q4, 2026) included",
        "example": "2026-12-31"})

    @post_load
    def rename(self, data, **kwargs):
        data["from"] = data.pop("from_", None)
        return data


class FunnelQuery(RangeQuery):
    """from/to select opportunities by the day they were created."""


class PerformanceQuery(RangeQuery):
    group_by = fields.String(load_default="owner", validate=validate.OneOf(GROUP_BYS))
    period = fields.String(load_default="month", validate=validate.OneOf(PERIODS))


class ActivityQuery(PerformanceQuery):
    pass


class ForecastQuery(RangeQuery):
    period = fields.String(load_default="month",
                           validate=validate.OneOf(("month", "quarter")))


class CustomerValueQuery(FilterQuery):
    model = fields.String(load_default="abc", validate=validate.OneOf(("abc", "rfm")))
    as_of = fields.Date(load_default=None)


class WinLossQuery(RangeQuery):
    """from/to select opportunities by the day they were won or lost."""


class TargetIn(Schema):
    period = fields.String(required=True, metadata={"example": "2026-Q4"})
    owner_id = fields.String(load_default=None, allow_none=True)
    team = fields.String(load_default=None, allow_none=True)
    region = fields.String(load_default=None, allow_none=True)
    amount = fields.Raw(required=True, metadata={"example": "500000.00"})


class TargetOut(Schema):
    scope = fields.String()
    owner_id = fields.String()
    team = fields.String()
    region = fields.String()
    period = fields.String()
    amount = fields.String()
    currency = fields.String()
    updated_by = fields.String()
    updated_at = fields.String()


class TargetQuery(Schema):
    scope = fields.String(load_default=None, validate=validate.OneOf(("owner", "team",
                                                                      "region")))
    period = fields.String(load_default=None)
