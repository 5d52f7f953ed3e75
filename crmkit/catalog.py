"""The event catalog: the registered event schemas, and the AsyncAPI 3 document."""
from __future__ import annotations

from crmkit.bus.topology import EXCHANGE
from crmkit.events import EventSpec, registry
import events  # noqa: F401  (registers every event's schema, whichever service runs)

ENVELOPE_PROPERTIES = {
    "id": {"type": "string", "description": "Unique event id; dedupe by it."},
    "type": {"type": "string"}, "version": {"type": "integer"},
    "occurred_at": {"type": "string", "format": "date-time"},
    "producer": {"type": "string"}, "aggregate_id": {"type": "string"},
    "actor_id": {"type": ["string", "null"]}, "correlation_id": {"type": "string"},
    "region": {"type": ["string", "null"]},
}


def json_schema(schema_cls) -> dict:
    from apispec import APISpec
    from apispec.ext.marshmallow import MarshmallowPlugin

    plugin = MarshmallowPlugin(schema_name_resolver=lambda _: None)
    APISpec(title="x", version="1", openapi_version="3.0.3", plugins=[plugin])
    return plugin.converter.schema2jsonschema(schema_cls())


def producer_events(producer: str | None = None) -> list[dict]:
    """What one service publishes, as plain JSON (served at /events/catalog.json); with
    no producer, every event of the system (the gateway's AsyncAPI catalog)."""
    return [_describe(spec) for spec in registry.specs(producer)]


def _describe(spec: EventSpec) -> dict:
    return {"type": spec.type, "version": spec.version, "producer": spec.producer,
            "summary": spec.summary, "schema": json_schema(spec.schema)}


def asyncapi_document(events: list[dict], *, server_host: str = "rabbitmq:5672") -> dict:
    channels, operations, messages = {}, {}, {}
    for event in sorted(events, key=lambda e: (e["type"], e["version"])):
        name = f"{event['type'].replace('.', '_')}_v{event['version']}"
        messages[name] = {
            "name": event["type"], "title": event["type"], "summary": event["summary"],
            "contentType": "application/json",
            "headers": {"type": "object", "properties": {
                "message_id": {"type": "string"}, "type": {"const": event["type"]}}},
            "payload": {"type": "object", "required": [*ENVELOPE_PROPERTIES, "data"],
                        "properties": {**ENVELOPE_PROPERTIES,
                                       "version": {"const": event["version"]},
                                       "producer": {"const": event["producer"]},
                                       "data": event["schema"]}},
        }
        channel = channels.setdefault(event["type"], {
            "address": event["type"], "messages": {},
            "bindings": {"amqp": {"is": "routingKey", "exchange": {
                "name": EXCHANGE, "type": "topic", "durable": True, "autoDelete": False,
                "vhost": "/"}}}})
        channel["messages"][name] = {"$ref": f"#/components/messages/{name}"}
        operations[f"publish_{name}"] = {
            "action": "send", "channel": {"$ref": f"#/channels/{event['type']}"},
            "summary": f"{event['producer']} publishes {event['type']}",
            "messages": [{"$ref": f"#/channels/{event['type']}/messages/{name}"}]}
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "CRM domain events", "version": "1.0.0",
                 "description": "Every event on the topic exchange crm.events; routing "
                                "key = event type. At-least-once: dedupe by id."},
        "defaultContentType": "application/json",
        "servers": {"rabbitmq": {"host": server_host, "protocol": "amqp"}},
        "channels": channels, "operations": operations,
        "components": {"messages": messages},
    }
