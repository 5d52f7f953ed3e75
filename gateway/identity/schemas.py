"""Marshmallow schemas: identity API input and output (the `user.*` events' are in
`events.identity`).

Input schemas check shape and types only (unknown fields are refused, marshmallow 4's
default `unknown=RAISE`); the rules with their zh/en messages live in the domain.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from crmkit.clock import isoformat
from crmkit.identity import ROLES
from crmkit.pagination import PageQuery
import events  # noqa: F401  (registers every event's schema, user.* among them)

# ---------------------------------------------------------------- API input

# Generous bounds: they only stop megabyte-sized inputs reaching the hasher or the
# attempt records; the real rules (and their messages) are the domain's.
_BOUNDED = validate.Length(max=1024)


class LoginIn(Schema):
    username = fields.String(required=True, validate=_BOUNDED)
    password = fields.String(required=True, validate=_BOUNDED)


class PasswordChangeIn(Schema):
    old_password = fields.String(required=True, validate=_BOUNDED)
    new_password = fields.String(required=True, validate=_BOUNDED)


class PasswordResetIn(Schema):
    password = fields.String(required=True)


class UserCreateIn(Schema):
    username = fields.String(required=True)
    name = fields.String(required=True)
    password = fields.String(required=True)
    role = fields.String(required=True, metadata={"enum": list(ROLES)})
    team = fields.String(required=True)
    region = fields.String(required=True)
    timezone = fields.String(load_default=None)
    email = fields.String(allow_none=True, load_default=None)


class UserPatchIn(Schema):
    name = fields.String()
    role = fields.String(metadata={"enum": list(ROLES)})
    team = fields.String()
    region = fields.String()
    timezone = fields.String()
    email = fields.String(allow_none=True)
    # Only real JSON booleans: "no" or 0 must not silently mean false.
    active = fields.Boolean(truthy={True}, falsy={False})





# ---------------------------------------------------------------- API output

class DirectoryEntryOut(Schema):
    """What every signed-in user may know of a colleague."""
    id = fields.String()
    username = fields.String()
    name = fields.String()
    role = fields.String()
    team = fields.String()
    region = fields.String()


class UserOut(DirectoryEntryOut):
    timezone = fields.String()
    email = fields.String(allow_none=True)
    active = fields.Boolean()
    must_change_password = fields.Boolean()
    created_at = fields.Function(lambda user: isoformat(user.created_at),
                                 metadata={"type": "string", "format": "date-time"})
    updated_at = fields.Function(lambda user: isoformat(user.updated_at),
                                 metadata={"type": "string", "format": "date-time"})
    version = fields.Integer()


class LoginOut(Schema):
    access_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()
    must_change_password = fields.Boolean()


def dump_user(user) -> dict:
    return UserOut().dump(user)


class DirectoryQuery(Schema):
    q = fields.String(load_default=None, metadata={"description": "username or name contains"})
    role = fields.String(load_default=None, validate=validate.OneOf(ROLES))
    team = fields.String(load_default=None, metadata={"description": "this team and below"})
    region = fields.String(load_default=None)


class UserListQuery(PageQuery, DirectoryQuery):
    active = fields.Boolean(load_default=None)


class DirectoryOut(Schema):
    items = fields.List(fields.Nested(DirectoryEntryOut))
    teams = fields.List(fields.String(), metadata={"description": "every team path in use, "
                                                   "with its parents"})
    regions = fields.List(fields.String())


# ---------------------------------------------------------------- settings (CONTRACT §11)

class _Options(fields.List):
    def __init__(self, **kwargs):
        super().__init__(fields.String(validate=validate.Length(max=1024)),
                         validate=validate.Length(max=1000), **kwargs)


class DictionaryIn(Schema):
    """Option lists: an empty or missing list means free text."""
    industry = _Options()
    source = _Options()
    tags = fields.Dict(keys=fields.String(validate=validate.Length(max=1024)),
                       values=_Options(), metadata={"description": "tag kind -> its tags"})
    relation = _Options(metadata={"description": "contact relation types"})
    loss_reason = _Options()
    task_type = _Options()


class SettingsIn(Schema):
    """The whole settings: what is left out takes its default."""
    superiors_see_subordinates = fields.Boolean(
        truthy={True}, falsy={False}, metadata={"description": "上下级强制共享 (default true)"})
    dictionary = fields.Nested(DictionaryIn)


class DictionaryOut(Schema):
    industry = fields.List(fields.String())
    source = fields.List(fields.String())
    tags = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
    relation = fields.List(fields.String())
    loss_reason = fields.List(fields.String())
    task_type = fields.List(fields.String())


class SettingsOut(Schema):
    superiors_see_subordinates = fields.Boolean()
    dictionary = fields.Nested(DictionaryOut)
    version = fields.Integer()
