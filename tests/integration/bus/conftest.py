"""Fixtures of the bus tests: the real local RabbitMQ, test-only queues, fresh databases on FerretDB.

Each test names its own service ("bustest_<something>"), so its queues crm.bustest_* never
collide with the system's; they are deleted and declared afresh at the start and
deleted at the end. While a test runs, the system's catch-all queue (reporting binds "#")
is unbound from crm.events, so test events neither leak into the system's queues nor
make every routing key routable; its binding is restored afterwards (and any `crm up` or
system fixture declares it again anyway).
"""
from __future__ import annotations

import uuid

import pytest

from bus_kit import BusWorld


def _catch_all_queues() -> list[str]:
    try:
        from crm.system import subscriptions

        return [f"crm.{service}" for service, keys in subscriptions().items() if "#" in keys]
    except Exception:  # a service mid-edit must not stop the kernel's own tests
        return ["crm.reporting"]   # the one catch-all subscriber (READY.md)


@pytest.fixture
def bus(amqp_url):
    from crmkit.bus.connection import connect
    from crmkit.bus.topology import EXCHANGE, declare_exchanges

    catch_alls = _catch_all_queues()
    unbound = []
    with connect(amqp_url) as connection:
        declare_exchanges(connection)
        for queue in catch_alls:
            channel = connection.channel()
            try:
                channel.queue_declare(queue, passive=True)
            except Exception:   # no such queue on this broker: nothing to unbind
                continue
            channel.queue_unbind(queue, EXCHANGE, "#")
            channel.close()
            unbound.append(queue)
    world = BusWorld(amqp_url, database=f"bustest_{uuid.uuid4().hex[:12]}")
    try:
        yield world
    finally:
        world.close()
        with connect(amqp_url) as connection:
            for queue in unbound:
                channel = connection.channel()
                channel.queue_bind(queue, EXCHANGE, "#")
                channel.close()
