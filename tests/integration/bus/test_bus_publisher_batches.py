"""A batch goes out without a read of the socket per message: py-amqp polls it before
each publish (timeout 0) when the broker may send connection.blocked, about half of a
publish's cost in the relay; the publisher reads it once per batch, for the confirms."""
from __future__ import annotations

import uuid

from crm_testing import eventually
from crmkit.bus.connection import connect
from crmkit.bus.publisher import Outgoing, Publisher

BATCH = 200


def test_a_batch_is_confirmed_without_a_socket_poll_per_message(amqp_url):
    queue = f"bustest.batches.{uuid.uuid4().hex[:8]}"
    with connect(amqp_url) as admin:
        admin.channel().queue_declare(queue, auto_delete=False)
    publisher = Publisher(amqp_url)
    try:
        publisher.send_to_queue(b"{}", queue, message_id="first", type_="t", headers={})
        amqp_connection = publisher._connection.connection
        polls = []
        drain = amqp_connection.drain_events

        def counted(timeout=None):
            polls.append(timeout)
            return drain(timeout=timeout)

        amqp_connection.drain_events = counted
        outcomes = publisher.publish_many([
            Outgoing(b"{}", "", queue, f"m{n}", "t", {}) for n in range(BATCH)])
        assert outcomes == [None] * BATCH
        assert 0 not in polls   # only the waits for the confirms read the socket

        def all_queued() -> bool:
            with connect(amqp_url) as admin:
                declared = admin.channel().queue_declare(queue, passive=True)
            return declared.message_count == BATCH + 1

        eventually(all_queued, timeout=30, message="every message of the batch queued")
    finally:
        publisher.close()
        with connect(amqp_url) as admin:
            admin.channel().queue_delete(queue)
