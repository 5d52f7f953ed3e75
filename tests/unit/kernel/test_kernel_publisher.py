"""What the publisher puts on a message, seen through kombu's in-process memory bus
(the confirms and mandatory returns are proven on RabbitMQ in tests/integration/bus)."""
from __future__ import annotations

import json
import uuid

import pytest
from kombu import Queue

from crmkit.bus.publisher import Publisher, encode
from crmkit.bus.topology import events_exchange


@pytest.fixture
def publisher():
    publisher = Publisher("memory://")
    yield publisher
    publisher.close()


def _queue(publisher, **options):
    queue = Queue(f"kernel.pub.{uuid.uuid4().hex}", **options)(publisher._ensure_producer().channel)
    queue.declare()
    return queue


def test_a_retry_message_expires_after_the_delay_in_milliseconds(publisher):
    queue = _queue(publisher)
    publisher.send_to_queue(b'{"id": "m1"}', queue.name, message_id="m1", type_="x.y",
                            headers={"x-attempts": 2}, expiration_ms=300)
    message = queue.get(no_ack=True)
    # AMQP's expiration is a string of milliseconds: "300", not a 3000-character string.
    assert message.properties["expiration"] == "300"
    assert message.properties["message_id"] == "m1" and message.properties["type"] == "x.y"
    assert message.properties["delivery_mode"] == 2
    assert message.headers == {"x-attempts": 2}


def test_without_a_delay_there_is_no_expiration(publisher):
    queue = _queue(publisher)
    publisher.send_to_queue(b"{}", queue.name, message_id="m2", type_="x.y", headers={})
    assert "expiration" not in queue.get(no_ack=True).properties


def test_an_event_goes_to_the_topic_exchange_keyed_by_its_type(publisher):
    queue = _queue(publisher, exchange=events_exchange, routing_key="kernel.thing.made")
    envelope = {"id": uuid.uuid4().hex, "type": "kernel.thing.made", "data": {"名": "值"}}
    publisher.publish(envelope)
    message = queue.get(no_ack=True)
    assert json.loads(message.body) == envelope
    assert message.properties["message_id"] == envelope["id"]
    assert message.properties["type"] == "kernel.thing.made"
    assert message.content_type == "application/json"
    assert message.properties["delivery_mode"] == 2


def test_envelopes_are_compact_utf8_json():
    assert encode({"a": "张三", "b": 1}) == '{"a":"张三","b":1}'.encode()


def test_a_batch_on_the_memory_bus_is_delivered_in_order(publisher):
    queue = _queue(publisher, exchange=events_exchange, routing_key="kernel.batch.made")
    envelopes = [{"id": uuid.uuid4().hex, "type": "kernel.batch.made", "n": n} for n in range(3)]
    assert publisher.publish_batch(envelopes) == [None, None, None]
    assert [json.loads(queue.get(no_ack=True).body)["n"] for _ in envelopes] == [0, 1, 2]


def test_confirms_settle_single_and_multiple_acks_and_remember_nacks():
    from crmkit.bus.publisher import _Confirms

    confirms = _Confirms()
    tags = [confirms.published() for _ in range(5)]
    assert tags == [1, 2, 3, 4, 5]
    confirms.on_ack(2, True)            # 1 and 2 at once
    assert confirms.unsettled == {3, 4, 5}
    confirms.on_nack(4, False)
    confirms.on_ack(5, False)
    assert confirms.unsettled == {3} and confirms.nacked == {4}
    confirms.on_ack(5, True)
    assert not confirms.unsettled and confirms.nacked == {4}
