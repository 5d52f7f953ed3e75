"""Helpers of the bus tests: envelopes, test-only queues, background runners."""
from __future__ import annotations

import json
import threading

from marshmallow import Schema, fields

from crmkit.bus.connection import connect
from crmkit.bus.consumer import EventConsumer, Subscriptions
from crmkit.bus.outbox import OutboxRelay
from crmkit.bus.publisher import Publisher
from crmkit.bus.topology import QueueNames, declare_service
from crmkit.events import DomainEvent, event_schema
from crmkit.events import make_envelope as build_envelope
from crmkit.mongo import get_database
from crm_testing import session_mongo_url

BUSTEST = "bustest"
PAID = "bustest.consumer.paid"
FORGED = "bustest.forged"


class Crash(BaseException):
    """A process dying: not an Exception, so no `except Exception` in the kernel catches
    it, and nothing after the crash point runs (no ack, no "mark sent")."""


# The bus tests' own events, registered like the system's (consumers park what has no
# schema): only in the test process, under producer "bustest".
@event_schema(PAID, producer=BUSTEST, summary="Test: an account was paid.")
class PaidData(Schema):
    cents = fields.Integer(required=True, strict=True)


class NoData(Schema):
    """Test: something happened (no data)."""


for _type in ("bustest.parking.shipped", "bustest.parking.via_http", "bustest.relay.made",
              "bustest.relay.changed", "bustest.relay.nobody_listens", FORGED):
    event_schema(_type, producer=BUSTEST)(NoData)


def make_envelope(event_type: str, aggregate_id: str = "a1", data: dict | None = None, *,
                  actor_id: str | None = "u-test", region: str | None = "east") -> dict:
    """A bustest event's envelope from the producers' own builder: its data validated."""
    return build_envelope(DomainEvent(event_type, aggregate_id, data or {}, region=region),
                          producer=BUSTEST, actor_id=actor_id)


def forged_envelope(event_type: str, aggregate_id: str, data, *, producer: str,
                    actor_id: str | None = None, region: str | None = "east") -> dict:
    """An envelope no producer can build (`data` is what its schema refuses), to test
    what consumers do with one; every other field is the real builder's."""
    envelope = make_envelope(FORGED, aggregate_id, actor_id=actor_id, region=region)
    return {**envelope, "type": event_type, "producer": producer, "data": data}


class Background:
    """Runs a component's `run(stop)` in a thread; records a Crash instead of dying loudly."""

    def __init__(self, name: str, run):
        self.stop = threading.Event()
        self.crashed: BaseException | None = None

        def target():
            try:
                run(self.stop)
            except Crash as crash:
                self.crashed = crash

        self.thread = threading.Thread(target=target, name=name, daemon=True)
        self.thread.start()

    def halt(self, timeout: float = 5.0) -> None:
        self.stop.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"{self.thread.name} did not stop"


class BusWorld:
    """One test's view of the broker and its own fresh database."""

    def __init__(self, amqp_url: str, database: str):
        self.url = amqp_url
        self.db = get_database(session_mongo_url(), database)
        self.publisher = Publisher(amqp_url)
        self._services: list[str] = []
        self._running: list[Background] = []
        self._closables: list = [self.publisher]

    # ------------------------------------------------------------------ queues
    def fresh_service(self, service: str, routing_keys) -> QueueNames:
        """Delete the service's queues (a previous run may have left messages), then
        declare them again, empty, bound to `routing_keys`."""
        names = QueueNames(service)
        with connect(self.url) as connection:
            channel = connection.channel()
            for queue in (names.main, names.retry, names.parking):
                channel.queue_delete(queue)
            channel.close()
            declare_service(connection, service, list(routing_keys))
        self._services.append(service)
        return names

    def depth(self, queue: str) -> int:
        with connect(self.url) as connection:
            channel = connection.channel()
            _, count, _ = channel.queue_declare(queue, passive=True)
            channel.close()
            return count

    def take(self, queue: str):
        """One message from `queue` (acknowledged), as (envelope, message), or None."""
        with connect(self.url) as connection:
            message = connection.default_channel.basic_get(queue, no_ack=True)
            if message is None:
                return None
            return json.loads(message.body), message

    # ------------------------------------------------------------------ components
    def relay(self, collections, *, database=None, **options) -> OutboxRelay:
        publisher = Publisher(self.url)
        self._closables.append(publisher)
        options.setdefault("interval", 0.05)
        return OutboxRelay(database if database is not None else self.db, collections,
                           publisher, **options)

    def consumer(self, service: str, subscriptions: Subscriptions, **options) -> EventConsumer:
        options.setdefault("max_attempts", 3)
        options.setdefault("retry_delay_ms", 300)
        consumer = EventConsumer(self.url, service, subscriptions, **options)
        self._closables.append(consumer.publisher)
        return consumer

    def start(self, name: str, run) -> Background:
        running = Background(name, run)
        self._running.append(running)
        return running

    def start_consumer(self, consumer: EventConsumer, timeout: float = 10.0) -> Background:
        running = self.start(f"consumer-{consumer.service}", consumer.run)
        assert consumer.ready.wait(timeout), f"consumer of {consumer.service} not ready"
        return running

    def close(self) -> None:
        for running in self._running:
            running.stop.set()
        for running in self._running:
            running.thread.join(5)
        for closable in self._closables:
            closable.close()
        with connect(self.url) as connection:
            channel = connection.channel()
            for service in self._services:
                names = QueueNames(service)
                for queue in (names.main, names.retry, names.parking):
                    channel.queue_delete(queue)
            channel.close()
