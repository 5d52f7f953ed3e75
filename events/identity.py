"""The gateway's events: user.* (never carrying a password or a hash) and settings.updated."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from crmkit.events import event_schema
from crmkit.identity import ROLES
from events._fields import changes_field

PRODUCER = "gateway"


class UserProfileData(Schema):
    id = fields.String(required=True)
    username = fields.String(required=True)
    name = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    team = fields.String(required=True,
                         metadata={"description": "slash path, e.g. east/shanghai/team-1"})
    region = fields.String(required=True, metadata={"description": "region code, e.g. east"})
    timezone = fields.String(required=True, metadata={"description": "IANA time zone"})
    email = fields.String(allow_none=True, load_default=None)
    active = fields.Boolean(required=True)
    version = fields.Integer(metadata={
        "description": "the user's version after the change: newer wins (the gateway "
                       "always sends it; events from before it was added lack it)"})


@event_schema("user.created", producer=PRODUCER,
              summary="An admin (or the start-up bootstrap) created a user.")
class UserCreatedData(UserProfileData):
    """A user was created. Never carries a password or a hash."""


@event_schema("user.updated", producer=PRODUCER,
              summary="An admin changed a user's profile, role, team, region or active flag.")
class UserUpdatedData(UserProfileData):
    """A user's profile after the change, plus `changes: {field: [old, new]}`."""

    changes = changes_field()


class SettingsDictionaryData(Schema):
    industry = fields.List(fields.String(), required=True)
    source = fields.List(fields.String(), required=True)
    tags = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                       required=True, metadata={"description": "tag kind -> its tags"})
    relation = fields.List(fields.String(), required=True)
    loss_reason = fields.List(fields.String(), required=True)
    task_type = fields.List(fields.String(), required=True)


@event_schema("settings.updated", producer=PRODUCER,
              summary="An admin changed the organisation's settings (参数设置): the whole "
                      "settings after the change.")
class SettingsUpdatedData(Schema):
    """上下级强制共享 and the data dictionary (an empty list: free text)."""

    superiors_see_subordinates = fields.Boolean(required=True)
    dictionary = fields.Nested(SettingsDictionaryData, required=True)
    version = fields.Integer(required=True)
