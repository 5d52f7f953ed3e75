"""An idle publisher keeps its connection: it sends heartbeats from its own thread while
no message goes out (the outbox relay of a quiet service), where before the broker
closed such connections as dead after two silent intervals."""
from __future__ import annotations

import uuid

from crm_testing import eventually
from crmkit.bus.connection import connect
from crmkit.bus.publisher import Publisher

HEARTBEAT_S = 2


def test_an_idle_publisher_sends_heartbeats_and_keeps_its_connection(amqp_url):
    queue = f"bustest.heartbeats.{uuid.uuid4().hex[:8]}"
    with connect(amqp_url) as admin:
        admin.channel().queue_declare(queue, auto_delete=False)
    publisher = Publisher(amqp_url, heartbeat=HEARTBEAT_S)
    try:
        publisher.send_to_queue(b"{}", queue, message_id="m1", type_="t", headers={})
        connection = publisher._connection
        sent = set()

        def several_heartbeats_sent() -> bool:
            sent.add(connection.connection.last_heartbeat_sent)
            return len(sent) >= 4

        # four beats span more than the two intervals after which the broker gives up
        eventually(several_heartbeats_sent, timeout=60, message="heartbeats sent while idle")
        publisher.send_to_queue(b"{}", queue, message_id="m2", type_="t", headers={})
        assert publisher._connection is connection   # the same connection, never dropped
    finally:
        publisher.close()
        with connect(amqp_url) as admin:
            admin.channel().queue_delete(queue)
