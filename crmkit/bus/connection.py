"""Kombu connections: RabbitMQ with publisher confirms, or the in-process memory bus."""
from __future__ import annotations

from kombu import Connection


def connect(url: str) -> Connection:
    if url.startswith("memory://"):
        # The memory transport polls; keep its latency well under the 2 s freshness goal.
        return Connection(url, transport_options={"polling_interval": 0.01})
    return Connection(url, heartbeat=30, connect_timeout=5,
                      transport_options={"confirm_publish": True})


def supports_broker_delays(connection: Connection) -> bool:
    """RabbitMQ delays retries with a TTL queue; the memory bus has no TTL."""
    return connection.transport.driver_type == "amqp"
