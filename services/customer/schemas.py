"""Customer API and event schemas (walking skeleton; the customer issue extends it)."""
from marshmallow import Schema, fields, validate

from crmkit.events import event_schema

STATUSES = ("potential", "intent", "deal", "lost")


class ContactInSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    phone = fields.String(required=True, validate=validate.Length(min=3, max=20))
    email = fields.Email(load_default=None, allow_none=True)
    title = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))


class CustomerCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    industry = fields.String(required=True, validate=validate.Length(min=1, max=100))
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    primary_contact = fields.Nested(ContactInSchema, required=True)
    in_pool = fields.Boolean(load_default=False)


class CustomerOutSchema(Schema):
    id = fields.String()
    number = fields.String()
    name = fields.String()
    industry = fields.String()
    status = fields.String()
    owner_id = fields.String(allow_none=True)
    region = fields.String(allow_none=True)
    primary_contact = fields.Dict()
    version = fields.Integer()
    created_at = fields.String()
    updated_at = fields.String()


@event_schema("customer.created", producer="customer", summary="A customer was created.")
class CustomerCreatedV1(Schema):
    id = fields.String(required=True)
    number = fields.String(required=True)
    name = fields.String(required=True)
    industry = fields.String(required=True)
    status = fields.String(required=True)
    owner_id = fields.String(required=True, allow_none=True)
    owner_team = fields.String(load_default=None, allow_none=True)
    region = fields.String(required=True, allow_none=True)
    created_by = fields.String(required=True)
    created_at = fields.String(required=True)
