"""What a consumer does with one message, decided without a broker: ack after the
handler, retry with the delay, park after max_attempts, never ack on a crash."""
from __future__ import annotations

import pytest

from crmkit.bus.consumer import (ATTEMPTS_HEADER, ERROR_HEADER, FAILED_AT_HEADER,
                                 EventConsumer, Subscriptions)
from crmkit.context import current_correlation_id


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
                             retry_delay_ms=250, publisher=publisher)
    consumer._delayed_in_process = False   # as on RabbitMQ: retries via the retry queue
    return consumer, publisher


def fail(envelope):
    raise ValueError("cannot")


def test_a_handled_message_is_acked_after_the_handler_with_its_correlation():
    seen = []
    consumer, publisher = consumer_with(lambda env: seen.append(current_correlation_id()))
    message = FakeMessage()
    consumer._on_message({"id": "e1", "type": "x.made", "correlation_id": "req-7"}, message)
    assert seen == ["req-7"] and message.acked and publisher.sent == []
    assert consumer.handled == 1


def test_a_failure_goes_to_the_retry_queue_with_the_delay():
    consumer, publisher = consumer_with(fail)
    message = FakeMessage()
    consumer._on_message({"id": "e1", "type": "x.made"}, message)
    [(queue, body, args)] = publisher.sent
    assert queue == "crm.kunit.retry" and body == message.body
    assert args["expiration_ms"] == 250
    assert args["message_id"] == "e1" and args["type_"] == "x.made"
    assert args["headers"][ATTEMPTS_HEADER] == 1
    assert "cannot" in args["headers"][ERROR_HEADER] and args["headers"][FAILED_AT_HEADER]
    assert message.acked   # the copy in the retry queue now carries it


def test_the_last_attempt_parks_it():
    consumer, publisher = consumer_with(fail, max_attempts=3)
    consumer._on_message({"id": "e1", "type": "x.made"}, FakeMessage(attempts=1))
    consumer._on_message({"id": "e1", "type": "x.made"}, FakeMessage(attempts=2))
    assert [queue for queue, _, _ in publisher.sent] == ["crm.kunit.retry", "crm.kunit.parking"]
    assert publisher.sent[1][2]["headers"][ATTEMPTS_HEADER] == 3
    assert "expiration_ms" not in publisher.sent[1][2]


def test_a_crash_in_the_handler_is_not_acknowledged():
    def crash(envelope):
        raise Crash()

    consumer, publisher = consumer_with(crash)
    message = FakeMessage()
    with pytest.raises(Crash):
        consumer._on_message({"id": "e1", "type": "x.made"}, message)
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
