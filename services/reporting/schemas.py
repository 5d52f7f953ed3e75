"""Marshmallow schemas of the reporting API: report queries and targets.

Reporting publishes no events (it only consumes), so nothing is registered with
`@event_schema` here. Unknown query parameters are refused (422 unknown_field).
"""
from __future__ import annotations

from datetime import date

from marshmallow import Schema, ValidationError, fields, missing, post_load, validate

from crmkit.clock import isoformat
from services.reporting import periods
from services.reporting.figures import money

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
                           validate=validate.OneOf(("month", "quarter", "year")), metadata={
        "description": "month | quarter | year (年度销售预测): the expected close period"})


class ForecastVsTargetQuery(RangeQuery):
    """from/to select the periods (default: the current one)."""

    group_by = fields.String(load_default="owner", validate=validate.OneOf(GROUP_BYS))
    period = fields.String(load_default="year", validate=validate.OneOf(PERIODS), metadata={
        "description": "month | quarter | year (default year)"})


class CustomerValueQuery(FilterQuery):
    model = fields.String(load_default="abc", validate=validate.OneOf(("abc", "rfm")))
    as_of = fields.Date(load_default=None)
    # the items are paged as every list is (CONTRACT §2); the figures (classes, shares,
    # scores) are those of all the customers; csv / xlsx hold every row
    page = fields.Integer(load_default=1, validate=validate.Range(min=1), metadata={
        "description": "page of items, from 1 (json only: csv / xlsx hold every row)"})
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100),
                              metadata={"description": "items per page (default 20, "
                                                       "max 100)"})


class WinLossQuery(RangeQuery):
    """from/to select opportunities by the day they were won or lost."""


class TargetIn(Schema):
    period = fields.String(required=True, metadata={"example": "2026-Q4"})
    owner_id = fields.String(load_default=None, allow_none=True)
    team = fields.String(load_default=None, allow_none=True)
    region = fields.String(load_default=None, allow_none=True)
    amount = fields.Raw(required=True, metadata={"example": "500000.00"})


SCOPE_FIELDS = {"owner": "owner_id", "team": "team", "region": "region"}


def _scope_key(field: str):
    """The target's key under its scope's field name; the other two are left out."""
    return lambda target: target["key"] if SCOPE_FIELDS[target["scope"]] == field else missing


class TargetOut(Schema):
    """A target record as the stores keep it; only its scope's owner_id / team / region."""
    scope = fields.String()
    owner_id = fields.Function(_scope_key("owner_id"), metadata={"type": "string"})
    team = fields.Function(_scope_key("team"), metadata={"type": "string"})
    region = fields.Function(_scope_key("region"), metadata={"type": "string"})
    period = fields.String()
    amount = fields.Function(lambda target: money(target["amount_c"]),
                             metadata={"type": "string"})
    currency = fields.Constant("CNY", metadata={"type": "string"})
    updated_by = fields.String(allow_none=True)
    updated_at = fields.Function(lambda target: isoformat(target.get("updated_at")),
                                 metadata={"type": "string", "format": "date-time"})


class TargetQuery(Schema):
    scope = fields.String(load_default=None, validate=validate.OneOf(("owner", "team",
                                                                      "region")))
    period = fields.String(load_default=None)
