"""The AsyncAPI 3 catalog: one channel per event type, the envelope around `data`."""
from __future__ import annotations

import pytest
from marshmallow import Schema, fields

import crmkit.catalog as catalog
from crmkit.catalog import ENVELOPE_PROPERTIES, asyncapi_document, json_schema, producer_events
from crmkit.events import EventRegistry, EventSpec

ENVELOPE = {"id", "type", "version", "occurred_at", "producer", "aggregate_id", "actor_id",
            "correlation_id", "region", "data"}   # CONTRACT §8


class ThingMadeV1(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    amount = fields.String(load_default=None, allow_none=True)


class ThingMadeV2(ThingMadeV1):
    colour = fields.String()


class ThingDropped(Schema):
    id = fields.String(required=True)


def _event(type_, schema, version=1, producer="kernel-test", summary="s"):
    return {"type": type_, "version": version, "producer": producer, "summary": summary,
            "schema": json_schema(schema)}


@pytest.fixture
def document():
    return asyncapi_document([_event("thing.made", ThingMadeV1),
                              _event("thing.made", ThingMadeV2, version=2),
                              _event("thing.dropped", ThingDropped, producer="other")])


def test_is_asyncapi_3(document):
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"] and document["info"]["version"]
    assert document["servers"]["rabbitmq"]["protocol"] == "amqp"


def test_one_channel_per_event_type_on_the_topic_exchange(document):
    assert set(document["channels"]) == {"thing.made", "thing.dropped"}
    made = document["channels"]["thing.made"]
    assert made["address"] == "thing.made"
    assert made["bindings"]["amqp"]["exchange"]["name"] == "crm.events"
    assert made["bindings"]["amqp"]["exchange"]["type"] == "topic"
    assert set(made["messages"]) == {"thing_made_v1", "thing_made_v2"}


def test_every_reference_resolves(document):
    def resolve(ref):
        node = document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        # An operation names its channel's message, which points at the component.
        return resolve(node["$ref"]) if "$ref" in node else node

    for channel in document["channels"].values():
        for message in channel["messages"].values():
            assert "payload" in resolve(message["$ref"])
    for operation in document["operations"].values():
        assert operation["action"] == "send"
        resolve(operation["channel"]["$ref"])
        for message in operation["messages"]:
            assert "payload" in resolve(message["$ref"])


def test_payload_is_the_envelope_with_the_data_schema(document):
    payload = document["components"]["messages"]["thing_made_v2"]["payload"]
    assert set(payload["properties"]) == ENVELOPE
    assert set(payload["required"]) == ENVELOPE
    assert payload["properties"]["version"] == {"const": 2}
    assert payload["properties"]["producer"] == {"const": "kernel-test"}
    data = payload["properties"]["data"]
    assert data["type"] == "object"
    assert set(data["properties"]) == {"id", "name", "amount", "colour"}
    assert set(data["required"]) == {"id", "name"}


def test_envelope_properties_name_every_field_but_data():
    assert set(ENVELOPE_PROPERTIES) | {"data"} == ENVELOPE


def test_producer_events_describes_what_one_service_registered(monkeypatch):
    registry = EventRegistry()   # a private registry: the global one belongs to services
    registry.register(EventSpec("thing.made", 1, ThingMadeV1, "kernel-test", "A thing was made."))
    registry.register(EventSpec("thing.dropped", 1, ThingDropped, "other", ""))
    monkeypatch.setattr(catalog, "registry", registry)
    events = producer_events("kernel-test")
    assert [(e["type"], e["version"], e["summary"]) for e in events] == [
        ("thing.made", 1, "A thing was made.")]
    assert set(events[0]["schema"]["properties"]) == {"id", "name", "amount"}
