"""Field errors become the CONTRACT's flat {dotted.field: [messages]}; unknown input
fields are refused with code unknown_field."""
from __future__ import annotations

import pytest
from marshmallow import Schema, fields, validate

from crmkit.errors import Invalid
from crmkit.problems import flatten_errors
from crmkit.web import load


def test_flat_errors_stay_as_they_are():
    assert flatten_errors({"name": ["Missing data for required field."]}) == {
        "name": ["Missing data for required field."]}


def test_nested_errors_are_dotted():
    assert flatten_errors({"primary_contact": {"phone": ["bad"], "name": ["empty"]}}) == {
        "primary_contact.phone": ["bad"], "primary_contact.name": ["empty"]}


def test_errors_of_list_items_carry_the_index():
    messages = {"contacts": {1: {"phone": ["bad"]}, 3: {"email": ["worse"]}},
                "tags": {0: ["Not a valid string."]}}
    assert flatten_errors(messages) == {"contacts.1.phone": ["bad"],
                                        "contacts.3.email": ["worse"],
                                        "tags.0": ["Not a valid string."]}


def test_schema_level_errors_belong_to_their_parent():
    assert flatten_errors({"_schema": ["Pick one."]}) == {"_schema": ["Pick one."]}
    assert flatten_errors({"period": {"_schema": ["start after end"]}}) == {
        "period": ["start after end"]}


def test_a_list_of_error_dicts_is_merged():
    messages = {"items": [{"qty": ["too small"]}, {"qty": ["too big"]}]}
    assert flatten_errors(messages) == {"items.qty": ["too small", "too big"]}


def test_a_bare_message_is_kept():
    assert flatten_errors("boom") == {"_schema": ["boom"]}
    assert flatten_errors(["a", "b"], "field") == {"field": ["a", "b"]}


class Contact(Schema):
    name = fields.String(required=True)
    phone = fields.String(validate=validate.Length(max=5))


class Customer(Schema):
    name = fields.String(required=True)
    primary_contact = fields.Nested(Contact)


def test_load_returns_clean_data():
    assert load(Customer, {"name": "Acme"}) == {"name": "Acme"}


def test_an_unknown_field_is_refused_with_its_code():
    with pytest.raises(Invalid) as raised:
        load(Customer, {"name": "Acme", "owner_id": "me"})
    assert raised.value.code == "unknown_field"
    assert raised.value.status == 422
    assert raised.value.errors == {"owner_id": ["Unknown field."]}


def test_an_unknown_nested_field_is_refused_too():
    with pytest.raises(Invalid) as raised:
        load(Customer(), {"name": "Acme", "primary_contact": {"name": "Li", "fax": "1"}})
    assert raised.value.code == "unknown_field"
    assert "primary_contact.fax" in raised.value.errors


def test_plain_validation_errors_keep_the_general_code():
    with pytest.raises(Invalid) as raised:
        load(Customer, {"primary_contact": {"name": "Li", "phone": "1234567"}})
    assert raised.value.code == "validation_error"
    assert set(raised.value.errors) == {"name", "primary_contact.phone"}


def test_partial_load_skips_required_fields():
    assert load(Customer, {"primary_contact": {"phone": "1"}}, partial=True) == {
        "primary_contact": {"phone": "1"}}
