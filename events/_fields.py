"""Field helpers shared by the event contracts."""
from __future__ import annotations

from marshmallow import fields, validate

ISO = {"format": "date-time", "description": "ISO 8601 with offset"}
DATE = {"format": "date", "description": "YYYY-MM-DD"}


def when(**kw):
    """A moment as the producers send it: an ISO 8601 string, or null."""
    return fields.String(allow_none=True, metadata=ISO, **kw)


def changes_field():
    """What an edit changed, {field: [old, new]}."""
    return fields.Dict(keys=fields.String(), values=fields.List(
        fields.Raw(allow_none=True), validate=validate.Length(equal=2)), required=True,
        metadata={"description": "{field: [old, new]}"})
