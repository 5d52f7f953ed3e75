"""Domain events: what the domain records, the envelope on the bus, the registry.

The domain appends `DomainEvent`s (past-tense `type`, a `data` dict) to the entity it
changed. A handler turns them into envelopes (CONTRACT §8) that are written, in the same
MongoDB write as the state change, into the document's outbox.

Every event type has one marshmallow schema per version, registered with `@event_schema`
in the `events` package (the contracts, shared by producer and consumers); the registry
feeds validation at the producer (strict: `make_envelope`) and at each consumer
(tolerant of fields it does not know: `data_problems`), and the AsyncAPI catalog.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from marshmallow import Schema

from crmkit.clock import isoformat, utcnow
from crmkit.context import current_correlation_id


@dataclass(frozen=True)
class DomainEvent:
    type: str                 # past tense, dotted: "customer.claimed"
    aggregate_id: str
    data: dict[str, Any] = field(default_factory=dict)
    region: str | None = None


@dataclass(frozen=True)
class EventSpec:
    type: str
    version: int
    schema: type[Schema]
    producer: str
    summary: str

    @property
    def validator(self) -> Schema:
        """One schema instance per spec: building one per event costs more than using it."""
        instance = _validators.get(self)
        if instance is None:
            instance = _validators[self] = self.schema()
        return instance


_validators: dict = {}


class EventRegistry:
    def __init__(self):
        self._specs: dict[tuple[str, int], EventSpec] = {}

    def register(self, spec: EventSpec) -> None:
        existing = self._specs.get((spec.type, spec.version))
        if existing and existing.schema is not spec.schema:
            raise ValueError(f"event {spec.type} v{spec.version} registered twice")
        self._specs[(spec.type, spec.version)] = spec

    def latest(self, event_type: str) -> EventSpec | None:
        versions = [s for (t, _), s in self._specs.items() if t == event_type]
        return max(versions, key=lambda s: s.version) if versions else None

    def get(self, event_type: str, version: int) -> EventSpec | None:
        return self._specs.get((event_type, version))

    def specs(self, producer: str | None = None) -> list[EventSpec]:
        found = [s for s in self._specs.values() if producer in (None, s.producer)]
        return sorted(found, key=lambda s: (s.type, s.version))


registry = EventRegistry()


def event_schema(event_type: str, *, producer: str, version: int = 1, summary: str = ""):
    """Class decorator registering a marshmallow schema as the `data` of an event."""

    def register(schema_cls: type[Schema]) -> type[Schema]:
        registry.register(EventSpec(event_type, version, schema_cls, producer,
                                    summary or (schema_cls.__doc__ or "").strip()))
        return schema_cls

    return register


class UnregisteredEvent(Exception):
    pass


_UNKNOWN_FIELD = Schema().error_messages["unknown"]


def data_problems(spec: EventSpec, data) -> dict:
    """What keeps a consumer from acting on an event's `data`: its schema's errors, less
    the fields the schema does not know (at any depth). Producers add a field without a
    new version; a consumer that predates it must read on, not park every such event.
    (marshmallow's `unknown=EXCLUDE` would not do: it does not reach nested schemas.)"""
    return _without_unknown(spec.validator.validate(data))


def _without_unknown(errors: dict) -> dict:
    kept = {}
    for key, value in errors.items():
        if isinstance(value, dict):
            value = _without_unknown(value)
        elif isinstance(value, list):
            value = [message for message in value if message != _UNKNOWN_FIELD]
        if value:
            kept[key] = value
    return kept


def make_envelope(event: DomainEvent, *, producer: str, actor_id: str | None,
                  correlation_id: str | None = None) -> dict:
    """The CONTRACT §8 envelope; `data` is checked against the registered schema."""
    spec = registry.latest(event.type)
    if spec is None:
        raise UnregisteredEvent(f"no schema registered for {event.type}")
    problems = spec.validator.validate(event.data)
    if problems:
        raise ValueError(f"{event.type} data does not match its schema: {problems}")
    return {
        "id": uuid.uuid4().hex,
        "type": event.type,
        "version": spec.version,
        "occurred_at": isoformat(utcnow()),
        "producer": producer,
        "aggregate_id": event.aggregate_id,
        "actor_id": actor_id,
        "correlation_id": correlation_id or current_correlation_id() or uuid.uuid4().hex,
        "region": event.region,
        "data": event.data,
    }


def to_envelopes(events, *, producer: str, actor_id: str | None) -> list[dict]:
    """Envelopes for what an aggregate recorded, ready for its outbox."""
    return [make_envelope(event, producer=producer, actor_id=actor_id) for event in events]
