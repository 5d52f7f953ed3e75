"""A write through the gateway reaches another service over the real RabbitMQ."""
from __future__ import annotations

import json
import time

from kombu import Queue

from crm_testing import eventually
from crmkit.bus.connection import connect
from crmkit.bus.topology import events_exchange

CUSTOMER = {"name": "商策科技有限公司", "industry": "IT", "status": "potential",
            "primary_contact": {"name": "张三", "phone": "13812345678"}}


def test_created_customer_is_published_and_counted_by_reporting(system, org, amqp_url):
    rep = org.user("rep")
    with connect(amqp_url) as connection:
        # An outside subscriber binds its own queue, as another internal system would.
        spy = Queue(f"test.spy.{time.time_ns()}", exchange=events_exchange,
                    routing_key="customer.*", exclusive=True, auto_delete=True)
        spy(connection.default_channel).declare()
        before = rep.get("/api/v1/reports/summary").json["customers"]

        created = rep.post("/api/v1/customers", json=CUSTOMER,
                           headers={"X-Request-ID": "req-skeleton-1"})
        assert created.status_code == 201, created
        customer = created.json

        message = eventually(lambda: spy(connection.default_channel).get(no_ack=True),
                             timeout=5, message="customer.created on crm.events")
        envelope = json.loads(message.body)
        assert envelope["type"] == "customer.created"
        assert set(envelope) == {"id", "type", "version", "occurred_at", "producer",
                                 "aggregate_id", "actor_id", "correlation_id", "region",
                                 "data"}
        assert envelope["aggregate_id"] == customer["id"]
        assert envelope["actor_id"] == rep.id
        assert envelope["correlation_id"] == "req-skeleton-1"
        assert envelope["producer"] == "customer"
        assert message.properties["message_id"] == envelope["id"]
        assert message.properties["type"] == "customer.created"
        assert message.properties["delivery_mode"] == 2
        assert message.properties["content_type"] == "application/json"

    # CONTRACT's 2 s "at ordinary load" is a benchmark figure (bench/event_lag.py), not a
    # deadline for a loaded CI machine
    eventually(lambda: rep.get("/api/v1/reports/summary").json["customers"] == before + 1,
               message="reporting counts the new customer")
