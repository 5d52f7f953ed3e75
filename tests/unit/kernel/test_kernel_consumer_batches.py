"""A consumer in batch mode (Subscriptions.batch), decided without a broker: the valid
messages of a batch go to the batch handler together and are acked after it; an invalid
one is parked alone; a failing batch goes one by one, so only the failing event is
retried; a service that does not opt in keeps one message, one handler call."""
from __future__ import annotations

import json

from marshmallow import Schema, fields

from crmkit.bus.consumer import ATTEMPTS_HEADER, EventConsumer, Subscriptions
from crmkit.events import EventRegistry, EventSpec


class MadeData(Schema):
    name = fields.String(required=True)


KBATCH_EVENTS = EventRegistry()
KBATCH_EVENTS.register(EventSpec("x.made", 1, MadeData, "kbatch", "A thing was made."))


class RecordingPublisher:
    def __init__(self):
        self.sent = []

    def send_to_queue(self, body, queue, **args):
        self.sent.append((queue, json.loads(body)["id"], args["headers"][ATTEMPTS_HEADER]))


class FakeMessage:
    def __init__(self, envelope: dict):
        self.body = json.dumps(envelope).encode()
        self.headers = {}
        self.properties = {"message_id": envelope["id"], "type": envelope["type"]}
        self.acked = False

    def ack(self):
        self.acked = True


def made(event_id: str, name: str = "x") -> dict:
    return {"id": event_id, "type": "x.made", "version": 1, "data": {"name": name}}


def batch_consumer(on_one, on_batch, size=10):
    subscriptions = Subscriptions(batch=on_batch, batch_size=size)
    subscriptions.on("x.made")(on_one)
    publisher = RecordingPublisher()
    consumer = EventConsumer("memory://", "kbatch", subscriptions, max_attempts=3,
                             retry_delay_ms=250, publisher=publisher, registry=KBATCH_EVENTS)
    consumer._delayed_in_process = False
    return consumer, publisher


def deliver(consumer, envelopes) -> list[FakeMessage]:
    messages = [FakeMessage(envelope) for envelope in envelopes]
    for envelope, message in zip(envelopes, messages):
        consumer._on_message(envelope, message)
    return messages


def test_a_batch_goes_to_the_batch_handler_together_and_is_acked_after_it():
    batches, ones = [], []

    def on_batch(envelopes):
        assert not any(m.acked for m in messages)   # acked only after the handler
        batches.append([e["id"] for e in envelopes])

    consumer, publisher = batch_consumer(ones.append, on_batch)
    assert consumer.prefetch >= 2 * 10   # room for the next batch while one is handled
    messages = deliver(consumer, [made("e1"), made("e2"), made("e3")])
    assert batches == [] and not any(m.acked for m in messages)   # taken, not handled yet
    told = []
    consumer.watch(lambda envelope, outcome: told.append((envelope["id"], outcome)))
    consumer._flush()
    assert batches == [["e1", "e2", "e3"]] and ones == []
    assert all(m.acked for m in messages) and publisher.sent == []
    assert consumer.handled == 3 and told == [("e1", "handled"), ("e2", "handled"),
                                              ("e3", "handled")]


def test_an_invalid_event_is_parked_alone_and_the_rest_batched():
    batches = []
    consumer, publisher = batch_consumer(lambda e: None, lambda es: batches.append(
        [e["id"] for e in es]))
    bad = {"id": "e2", "type": "x.made", "version": 1, "data": {}}   # no name
    messages = deliver(consumer, [made("e1"), bad, made("e3")])
    consumer._flush()
    assert batches == [["e1", "e3"]]
    assert publisher.sent == [(consumer.names.parking, "e2", 1)]
    assert all(m.acked for m in messages)


def test_a_failing_batch_goes_one_by_one_and_only_the_failing_event_is_retried():
    def on_batch(envelopes):
        raise RuntimeError("one of them is poison")

    kept = []

    def on_one(envelope):
        if envelope["data"]["name"] == "poison":
            raise ValueError("cannot")
        kept.append(envelope["id"])

    consumer, publisher = batch_consumer(on_one, on_batch)
    messages = deliver(consumer, [made("e1"), made("e2", "poison"), made("e3")])
    consumer._flush()
    assert kept == ["e1", "e3"]
    assert publisher.sent == [(consumer.names.retry, "e2", 1)]
    assert all(m.acked for m in messages) and consumer.handled == 2


def test_without_opting_in_each_message_is_handled_as_it_comes():
    ones = []
    subscriptions = Subscriptions()
    subscriptions.on("x.made")(lambda e: ones.append(e["id"]))
    consumer = EventConsumer("memory://", "kbatch", subscriptions, prefetch=8,
                             publisher=RecordingPublisher(), registry=KBATCH_EVENTS)
    assert not consumer.batched and consumer.prefetch == 8
    messages = deliver(consumer, [made("e1"), made("e2")])
    assert ones == ["e1", "e2"] and all(m.acked for m in messages)
