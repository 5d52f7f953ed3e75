"""What a consumer does with one message, decided without a broker: ack after the
handler, retry with the delay, park after max_attempts, never ack on a crash; park at
once what its schema refuses."""
from __future__ import annotations

import pytest
from marshmallow import Schema, fields

from crmkit.bus.consumer import (ATTEMPTS_HEADER, ERROR_HEADER, FAILED_AT_HEADER,
                                 EventConsumer, Subscriptions, check_event)
from crmkit.context import current_correlation_id
from crmkit.events import EventRegistry, EventSpec, data_problems, registry


class PartData(Schema):
    sku = fields.String(required=True)


class MadeData(Schema):
    name = fields.String(required=True)
    parts = fields.List(fields.Nested(PartData))


KUNIT_EVENTS = EventRegistry()   # private: the global registry is the system's events
KUNIT_EVENTS.register(EventSpec("x.made", 1, MadeData, "kunit", "A thing was made."))


def made(**envelope) -> dict:
    return {"id": "e1", "type": "x.made", "version": 1, "data": {"name": "x"}, **envelope}


class RecordingPublisher:
    def __init__(self):
        self.sent = []

    def send_to_queue(self, body, queue, **args):
        self.sent.append((queue, body, args))


class FakeMessage:
    def __init__(self, body=b'{"id": "e1", "type": "x.made"}', attempts=None):
        self.body = body
        self.headers = {} if attempts is None else {ATTEMPTS_HEADER: attempts}
        self.properties = {"message_id": "e1", "type": "x.made"}
        self.acked = False

    def ack(self):
        self.acked = True


class Crash(BaseException):
    pass


def consumer_with(handler, *, max_attempts=3):
    subscriptions = Subscriptions()
    subscriptions.on("x.made")(handler)
    publisher = RecordingPublisher()
    consumer = EventConsumer("memory://", "kunit", subscriptions, max_attempts=max_attempts,
                             retry_delay_ms=250, publisher=publisher, registry=KUNIT_EVENTS)
    consumer._delayed_in_process = False   # as on RabbitMQ: retries via the retry queue
    return consumer, publisher


def fail(envelope):
    raise ValueError("cannot")


def test_a_handled_message_is_acked_after_the_handler_with_its_correlation():
    seen = []
    consumer, publisher = consumer_with(lambda env: seen.append(current_correlation_id()))
    message = FakeMessage()
    consumer._on_message(made(correlation_id="req-7"), message)
    assert seen == ["req-7"] and message.acked and publisher.sent == []
    assert consumer.handled == 1


def test_a_failure_goes_to_the_retry_queue_with_the_delay():
    consumer, publisher = consumer_with(fail)
    message = FakeMessage()
    consumer._on_message(made(), message)
    [(queue, body, args)] = publisher.sent
    assert queue == "crm.kunit.retry" and body == message.body
    assert args["expiration_ms"] == 250
    assert args["message_id"] == "e1" and args["type_"] == "x.made"
    assert args["headers"][ATTEMPTS_HEADER] == 1
    assert "cannot" in args["headers"][ERROR_HEADER] and args["headers"][FAILED_AT_HEADER]
    assert message.acked   # the copy in the retry queue now carries it


def test_the_last_attempt_parks_it():
    consumer, publisher = consumer_with(fail, max_attempts=3)
    consumer._on_message(made(), FakeMessage(attempts=1))
    consumer._on_message(made(), FakeMessage(attempts=2))
    assert [queue for queue, _, _ in publisher.sent] == ["crm.kunit.retry", "crm.kunit.parking"]
    assert publisher.sent[1][2]["headers"][ATTEMPTS_HEADER] == 3
    assert "expiration_ms" not in publisher.sent[1][2]


def test_a_crash_in_the_handler_is_not_acknowledged():
    def crash(envelope):
        raise Crash()

    consumer, publisher = consumer_with(crash)
    message = FakeMessage()
    with pytest.raises(Crash):
        consumer._on_message(made(), message)
    assert not message.acked and publisher.sent == []


def test_an_event_without_a_handler_is_acknowledged_and_dropped():
    consumer, publisher = consumer_with(fail)
    message = FakeMessage()
    consumer._on_message({"id": "e2", "type": "y.other"}, message)
    assert message.acked and publisher.sent == []


def test_an_undecodable_message_is_parked_at_once():
    consumer, publisher = consumer_with(fail, max_attempts=5)
    message = FakeMessage(body=b"{oops")
    consumer._on_undecodable(message, ValueError("not json"))
    [(queue, _, args)] = publisher.sent
    assert queue == "crm.kunit.parking" and args["headers"][ATTEMPTS_HEADER] == 1
    assert message.acked


def test_subscriptions_bind_their_types_or_everything():
    subscriptions = Subscriptions()
    subscriptions.on("b.two")(fail)
    subscriptions.on("a.one")(fail)
    assert subscriptions.routing_keys == ["a.one", "b.two"]
    assert subscriptions.handler_for("a.one") is fail and subscriptions.handler_for("c") is None
    everything = Subscriptions(catch_all=fail)
    assert everything.routing_keys == ["#"] and everything.handler_for("any.thing") is fail


# ------------------------------------------------------------- validation before acting

def parked_reason(publisher) -> str:
    [(queue, _, args)] = publisher.sent
    assert queue == "crm.kunit.parking"
    assert "expiration_ms" not in args and args["headers"][ATTEMPTS_HEADER] == 1
    return args["headers"][ERROR_HEADER]


@pytest.mark.parametrize("data", [{}, None, [], {"name": 7}, {"parts": [{"sku": 1}]}])
def test_data_its_schema_refuses_is_parked_at_once_without_the_handler(data):
    seen = []
    consumer, publisher = consumer_with(seen.append, max_attempts=5)
    message = FakeMessage()
    consumer._on_message(made(data=data), message)
    assert seen == [] and message.acked and consumer.handled == 0
    assert "x.made v1 data does not match its schema" in parked_reason(publisher)


def test_the_parking_reason_names_the_refused_fields():
    consumer, publisher = consumer_with(fail)
    consumer._on_message(made(data={}), FakeMessage())
    assert "'name': ['Missing data for required field.']" in parked_reason(publisher)


@pytest.mark.parametrize("version", [2, None, "1"])
def test_a_version_without_a_schema_is_parked_as_unknown(version):
    consumer, publisher = consumer_with(fail, max_attempts=5)
    message = FakeMessage()
    consumer._on_message(made(version=version), message)
    assert f"unknown event version: x.made v{version}" in parked_reason(publisher)
    assert message.acked


def test_an_unknown_version_nobody_handles_is_ignored_as_before():
    consumer, publisher = consumer_with(fail)
    message = FakeMessage()
    consumer._on_message({"id": "e3", "type": "y.other", "version": 9, "data": {}}, message)
    assert message.acked and publisher.sent == []


def test_fields_the_schema_does_not_know_are_read_past_at_any_depth():
    # A producer may add a field without a new version; a consumer that predates it
    # must not park every such event. Producers still may not send it (strict).
    seen = []
    consumer, publisher = consumer_with(seen.append)
    newer = made(data={"name": "x", "colour": "red", "parts": [{"sku": "a", "qty": 2}]})
    consumer._on_message(newer, FakeMessage())
    assert seen == [newer] and publisher.sent == []
    spec = KUNIT_EVENTS.get("x.made", 1)
    assert spec.validator.validate(newer["data"])      # the producer's check refuses them
    assert data_problems(spec, newer["data"]) == {}
    assert data_problems(spec, {"colour": "red", "parts": [{"qty": 2}]}) == {
        "name": ["Missing data for required field."],
        "parts": {0: {"sku": ["Missing data for required field."]}}}


def test_a_real_customer_created_with_empty_data_is_refused_by_the_system_schemas():
    # issue 12.3: the default registry is every event of the system (package `events`)
    with pytest.raises(ValueError, match="customer.created v1 data does not match"):
        check_event({"type": "customer.created", "version": 1, "data": {}})
    assert registry.get("customer.deleted", 1) is not None


# ------------------------------------------------------------- watchers (what tests wait on)

def test_watchers_are_told_of_each_delivery_once_acked_with_its_outcome():
    told = []
    consumer, _ = consumer_with(fail, max_attempts=2)

    def watcher(envelope, outcome):
        told.append((envelope and envelope["id"], outcome, message.acked))

    stop = consumer.watch(watcher)
    message = FakeMessage()
    consumer._on_message(made(id="retried"), message)
    message = FakeMessage(attempts=1)
    consumer._on_message(made(id="parked"), message)
    message = FakeMessage()
    consumer._on_undecodable(message, ValueError("not json"))
    consumer.subscriptions.on("x.made")(lambda envelope: None)
    message = FakeMessage()
    consumer._on_message(made(id="done"), message)
    assert told == [("retried", "retried", True), ("parked", "parked", True),
                    (None, "parked", True), ("done", "handled", True)]
    stop()
    consumer._on_message(made(id="unwatched"), FakeMessage())
    assert len(told) == 4


def test_a_failing_watcher_does_not_stop_the_consumer():
    consumer, _ = consumer_with(lambda envelope: None)
    consumer.watch(lambda envelope, outcome: 1 / 0)
    message = FakeMessage()
    consumer._on_message(made(), message)
    assert message.acked and consumer.handled == 1
