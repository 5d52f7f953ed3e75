"""The RabbitMQ topology, declared in code and exported as broker definitions.

One topic exchange `crm.events` (routing key = event type). Each consuming service has
its own durable queue `crm.<service>` (its replicas compete on it), a retry queue where
messages expire back to it after a delay, and a parking queue for messages that failed too
often (reached through the `crm.dlx` exchange as well, so a broker-side rejection also
lands there).
"""
from __future__ import annotations

from dataclasses import dataclass

from kombu import Exchange, Queue

EXCHANGE = "crm.events"
DLX = "crm.dlx"

events_exchange = Exchange(EXCHANGE, type="topic", durable=True)
dead_letter_exchange = Exchange(DLX, type="direct", durable=True)


@dataclass(frozen=True)
class QueueNames:
    service: str

    @property
    def main(self) -> str:
        return f"crm.{self.service}"

    @property
    def retry(self) -> str:
        return f"crm.{self.service}.retry"

    @property
    def parking(self) -> str:
        return f"crm.{self.service}.parking"


def _type_args(queue_type: str) -> dict:
    return {"x-queue-type": queue_type} if queue_type == "quorum" else {}


def main_queue(service: str, routing_keys, queue_type="classic") -> Queue:
    names = QueueNames(service)
    arguments = {"x-dead-letter-exchange": DLX, "x-dead-letter-routing-key": names.parking,
                 **_type_args(queue_type)}
    bindings = [_binding(key) for key in sorted(set(routing_keys))]
    return Queue(names.main, exchange=events_exchange, bindings=bindings or None,
                 durable=True, queue_arguments=arguments,
                 routing_key=None if bindings else names.main)


def retry_queue(service: str, queue_type="classic") -> Queue:
    """Messages wait here for their per-message expiration (the retry delay), then
    dead-letter back to the main queue. One delay per service keeps FIFO = expiry order."""
    names = QueueNames(service)
    return Queue(names.retry, durable=True, queue_arguments={
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": names.main, **_type_args(queue_type)})


def parking_queue(service: str, queue_type="classic") -> Queue:
    names = QueueNames(service)
    return Queue(names.parking, exchange=dead_letter_exchange, routing_key=names.parking,
                 durable=True, queue_arguments=_type_args(queue_type) or None)


def _binding(key):
    from kombu import binding

    return binding(events_exchange, routing_key=key)


def declare_exchanges(connection) -> None:
    channel = connection.default_channel
    events_exchange(channel).declare()
    dead_letter_exchange(channel).declare()


def declare_service(connection, service: str, routing_keys, *, queue_type="classic") -> None:
    declare_exchanges(connection)
    channel = connection.default_channel
    for queue in (main_queue(service, routing_keys, queue_type),
                  retry_queue(service, queue_type),
                  parking_queue(service, queue_type)):
        queue(channel).declare()


def definitions(subscriptions: dict[str, list[str]], *, queue_type="quorum",
                vhost="/") -> dict:
    """RabbitMQ definitions (management import format) for the whole system."""
    exchanges = [
        {"name": EXCHANGE, "vhost": vhost, "type": "topic", "durable": True,
         "auto_delete": False, "internal": False, "arguments": {}},
        {"name": DLX, "vhost": vhost, "type": "direct", "durable": True,
         "auto_delete": False, "internal": False, "arguments": {}},
    ]
    queues, bindings = [], []
    for service in sorted(subscriptions):
        names = QueueNames(service)
        for queue in (main_queue(service, subscriptions[service], queue_type),
                      retry_queue(service, queue_type),
                      parking_queue(service, queue_type)):
            queues.append({"name": queue.name, "vhost": vhost, "durable": True,
                           "auto_delete": False, "arguments": queue.queue_arguments or {}})
        for key in sorted(set(subscriptions[service])):
            bindings.append({"source": EXCHANGE, "vhost": vhost, "destination": names.main,
                             "destination_type": "queue", "routing_key": key,
                             "arguments": {}})
        bindings.append({"source": DLX, "vhost": vhost, "destination": names.parking,
                         "destination_type": "queue", "routing_key": names.parking,
                         "arguments": {}})
    return {"rabbit_version": "3.12.0", "vhosts": [{"name": vhost}],
            "exchanges": exchanges, "queues": queues, "bindings": bindings,
            "policies": [], "users": [], "permissions": [], "parameters": []}
