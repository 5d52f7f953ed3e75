"""Kombu connections: RabbitMQ with publisher confirms, or the in-process memory bus."""
from __future__ import annotations

from kombu import Connection


HEARTBEAT_S = 30


def connect(url: str, *, heartbeat: float = HEARTBEAT_S, timeout: float = 5.0,
            confirm_each: bool = True) -> Connection:
    """A connection whose user sends heartbeats: `heartbeat_check()` at least twice per
    `heartbeat` seconds (consumers while draining, the publisher from its own thread),
    or the broker closes it as dead after two missed intervals. `confirm_each`: every
    publish on it waits for its confirm; the Publisher turns it off and waits once per
    batch on a confirm-mode channel of its own."""
    if url.startswith("memory://"):
        # The memory transport polls; keep its latency well under the 2 s freshness goal.
        return Connection(url, transport_options={"polling_interval": 0.01})
    return Connection(url, heartbeat=heartbeat, connect_timeout=timeout,
                      transport_options={"confirm_publish": confirm_each})


def supports_broker_delays(connection: Connection) -> bool:
    """RabbitMQ delays retries with a TTL queue; the memory bus has no TTL."""
    return connection.transport.driver_type == "amqp"
