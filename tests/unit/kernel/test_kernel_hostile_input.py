"""Hostile request input is refused by the kernel's parsing, before any handler runs:
text that cannot be encoded (422 naming the field), JSON nested too deeply (400), a body
that is not declared as JSON (415), collections longer than their schema declares (422,
checked before any item is looked at)."""
from __future__ import annotations

import json
import time

import pytest
from flask import Flask
from marshmallow import Schema, fields, validate

from crmkit.errors import DomainError, Invalid
from crmkit.web import MAX_JSON_DEPTH, json_body, load, nests_deeper, parse_json, parse_query


def _nested(depth: int) -> bytes:
    return ("[" * depth + "]" * depth).encode()


# --------------------------------------------------------------------------- text

def test_a_lone_surrogate_is_refused_naming_its_field():
    raw = json.dumps({"subject": "\ud800"}).encode()      # ASCII: "\\ud800"
    with pytest.raises(Invalid) as raised:
        parse_json(raw)
    assert raised.value.status == 422
    assert list(raised.value.errors) == ["subject"]


def test_the_field_path_of_a_nested_lone_surrogate_is_dotted():
    raw = json.dumps({"primary_contact": {"name": "王"}, "tags": ["a", "b\udfff"]}).encode()
    with pytest.raises(Invalid) as raised:
        parse_json(raw)
    assert list(raised.value.errors) == ["tags.1"]
    raw = json.dumps({"primary_contact": {"name": "x\udc00y"}}).encode()
    with pytest.raises(Invalid) as raised:
        parse_json(raw)
    assert list(raised.value.errors) == ["primary_contact.name"]


def test_a_lone_surrogate_in_a_key_is_named_in_an_encodable_form():
    raw = json.dumps({"level_days": {"\ud800": 3}}).encode()
    with pytest.raises(Invalid) as raised:
        parse_json(raw)
    (name,) = raised.value.errors
    assert name.startswith("level_days.")
    name.encode("utf-8")   # the problem document itself must be encodable


def test_escaped_surrogate_pairs_and_plain_text_are_kept():
    raw = b'{"subject": "\\ud83d\\ude00 \\\\ud800 \xe5\xae\xa2\xe6\x88\xb7"}'
    assert parse_json(raw) == {"subject": "\U0001F600 \\ud800 客户"}


def test_bytes_that_are_not_utf8_are_malformed_json():
    with pytest.raises(DomainError) as raised:
        parse_json(b'{"subject": "\xed\xa0\x80"}')   # a surrogate encoded as UTF-8
    assert (raised.value.status, raised.value.code) == (400, "malformed_json")
    with pytest.raises(DomainError) as raised:
        parse_json(b'{"subject": "\xff"}')
    assert (raised.value.status, raised.value.code) == (400, "malformed_json")


def test_a_lone_surrogate_in_the_query_is_refused_naming_its_parameter():
    app = Flask("query-test")

    class Query(Schema):
        q = fields.String()

    with app.test_request_context("/?q=x"):
        from flask import request
        request.args = request.parameter_storage_class([("q", "a\ud800")])
        with pytest.raises(Invalid) as raised:
            parse_query(Query)
    assert list(raised.value.errors) == ["q"]


# --------------------------------------------------------------------------- depth

def test_depth_counts_brackets_outside_strings_only():
    text = '{"a": [1, {"b": "[[[[{{{{"}], "c": "\\\\", "d": "\\" [[[["}'
    assert json.loads(text)["d"] == '" [[[['
    assert nests_deeper(text, 2) and not nests_deeper(text, 3)
    assert not nests_deeper('"just text [[[["', 0)


def test_depth_is_the_deepest_point_not_the_number_of_brackets():
    wide = "[" + "[[]]," * 1000 + "[]]"
    assert not nests_deeper(wide, 3) and nests_deeper(wide, 2)
    assert nests_deeper("[]" * 1000 + "[" * 33 + "]" * 33)


def test_a_truncated_body_is_not_called_too_deep():
    assert not nests_deeper('{"a": [1, {"b": [' + "[]," * 40, 32)
    assert nests_deeper("[" * 33, 32)
    # a closer with nothing open ends what a parser reads: nothing after it is nested into
    assert not nests_deeper("[]]" + "[" * 40 + "]" * 40, 32)


def test_hostile_strings_are_scanned_in_linear_time():
    for text in ("[" * 40 + '"' + '\\"' * 200_000,      # one unterminated string
                 "[" * 40 + '""' * 200_000,                  # many strings
                 "[]" * 200_000 + "[" * 40):
        started = time.process_time()
        nests_deeper(text)
        assert time.process_time() - started < 1.0


def test_the_deepest_allowed_body_parses():
    assert parse_json(_nested(MAX_JSON_DEPTH)) is not None


def test_a_body_nested_deeper_than_allowed_is_refused_before_parsing():
    for depth in (MAX_JSON_DEPTH + 1, 1000, 200_000):
        with pytest.raises(DomainError) as raised:
            parse_json(_nested(depth))
        assert (raised.value.status, raised.value.code) == (400, "too_deeply_nested")


def test_objects_count_towards_the_depth_too():
    deep = '{"a":' * (MAX_JSON_DEPTH + 1) + "1" + "}" * (MAX_JSON_DEPTH + 1)
    with pytest.raises(DomainError) as raised:
        parse_json(deep.encode())
    assert raised.value.code == "too_deeply_nested"


# --------------------------------------------------------------------------- content type

@pytest.fixture
def app():
    return Flask("body-test")


@pytest.mark.parametrize("content_type", [
    "application/json", "application/json; charset=utf-8", "application/merge-patch+json"])
def test_json_content_types_are_read(app, content_type):
    with app.test_request_context("/", method="POST", data=b'{"a": 1}',
                                  content_type=content_type):
        assert json_body() == {"a": 1}


@pytest.mark.parametrize("content_type", [
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
    "application/xml", None])
def test_json_sent_as_something_else_is_unsupported(app, content_type):
    with app.test_request_context("/", method="POST", data=b'{"a": 1}',
                                  content_type=content_type):
        with pytest.raises(DomainError) as raised:
            json_body()
    assert (raised.value.status, raised.value.code) == (415, "unsupported_media_type")


def test_no_body_is_an_empty_object_whatever_the_type(app):
    with app.test_request_context("/", method="POST", data=b"", content_type="text/plain"):
        assert json_body() == {}


# --------------------------------------------------------------------------- collection sizes

class CountingString(fields.String):
    calls = 0

    def _deserialize(self, value, attr, data, **kwargs):
        CountingString.calls += 1
        return super()._deserialize(value, attr, data, **kwargs)


class Relation(Schema):
    name = fields.String()


class Contact(Schema):
    relations = fields.List(fields.Nested(Relation), validate=validate.Length(max=3))


class Bounded(Schema):
    tags = fields.List(CountingString(), validate=validate.Length(max=5))
    days = fields.Dict(keys=fields.String(), values=fields.Integer(),
                       validate=validate.Length(max=2))
    contact = fields.Nested(Contact)
    contacts = fields.List(fields.Nested(Contact), validate=validate.Length(max=2))


def test_a_list_longer_than_declared_is_refused_before_any_item_is_read():
    CountingString.calls = 0
    with pytest.raises(Invalid) as raised:
        load(Bounded, {"tags": ["t"] * 600_000})
    assert list(raised.value.errors) == ["tags"]
    assert CountingString.calls == 0
    assert "5" in raised.value.errors["tags"][0]


def test_lists_within_their_bound_load():
    assert load(Bounded, {"tags": ["a"] * 5, "days": {"A": 1, "B": 2}}) == {
        "tags": ["a"] * 5, "days": {"A": 1, "B": 2}}


def test_a_mapping_longer_than_declared_is_refused():
    with pytest.raises(Invalid) as raised:
        load(Bounded, {"days": {str(i): i for i in range(3)}})
    assert list(raised.value.errors) == ["days"]


def test_bounds_inside_nested_objects_and_list_items_are_named_by_path():
    with pytest.raises(Invalid) as raised:
        load(Bounded, {"contact": {"relations": [{"name": "x"}] * 4}})
    assert list(raised.value.errors) == ["contact.relations"]
    with pytest.raises(Invalid) as raised:
        load(Bounded, {"contacts": [{"relations": []}, {"relations": [{}] * 4}]})
    assert list(raised.value.errors) == ["contacts.1.relations"]
