"""Consumers: manual ack after the handler's own write, delayed retry, then parking.

Handlers take the envelope and must be idempotent by event id (see
`crmkit.bus.idempotent.apply_once`): a message is acknowledged only after the handler
returned, so a crash before the ack redelivers it.

A service may opt in to batches (`Subscriptions.batch`): the consumer then takes what
the broker delivers until `batch_size` messages or `batch_wait_s` after the first, hands
the valid ones to the batch handler together and acknowledges each after it returned. If
it raises, the batch goes one by one through the event's own handler, so that only the
failing event is retried or parked (handlers are idempotent: what the batch wrote before
failing counts once).

A handler only sees an event whose `data` its registered schema (type and version, from
the `events` package) accepts: anything else is parked at once, since no retry can make
it valid, and acting on it would corrupt what the service keeps (an empty
customer.created counted as a customer, say).
"""
from __future__ import annotations

import json
import logging
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

from kombu import Consumer

from crmkit.bus.connection import connect, supports_broker_delays
from crmkit.bus.publisher import Publisher
from crmkit.bus.topology import QueueNames, declare_service
from crmkit.clock import isoformat, utcnow
from crmkit.context import correlation
from crmkit.events import EventRegistry, data_problems, registry as event_registry
import events  # noqa: F401  (registers every event's schema, whichever service consumes)

log = logging.getLogger(__name__)

ATTEMPTS_HEADER = "x-attempts"
ERROR_HEADER = "x-last-error"
FAILED_AT_HEADER = "x-failed-at"

Handler = Callable[[dict], None]
BatchHandler = Callable[[list[dict]], None]
# Told after each delivery is acknowledged: the envelope (None if the body could not be
# decoded) and what became of it, one of OUTCOMES.
Watcher = Callable[[dict | None, str], None]
OUTCOMES = ("handled", "retried", "parked")
DRAIN_TIMEOUT_S = 2.0   # well inside the heartbeat interval and Worker.stop's deadline


@contextmanager
def _heartbeats(connection, every: float = 5.0):
    """Send the connection's heartbeats from a helper thread while the block runs: a
    batch can take longer than the broker waits for a silent client (HEARTBEAT_S), and
    its acks come only after it. The consumer thread does not touch the connection
    meanwhile, and the helper has stopped before the block is left."""
    if connection is None:
        yield
        return
    done = threading.Event()

    def beat():
        while not done.wait(every):
            try:
                connection.heartbeat_check()
            except Exception:  # the consumer meets the broken connection at its acks
                log.warning("heartbeat during a batch failed", exc_info=True)
                return

    helper = threading.Thread(target=beat, name="batch-heartbeats", daemon=True)
    helper.start()
    try:
        yield
    finally:
        done.set()
        helper.join()


class InvalidEvent(ValueError):
    """An envelope no handler may see: parked at once, never retried."""


def check_event(envelope: dict, registry: EventRegistry = event_registry) -> None:
    """Raise InvalidEvent unless `data` matches the schema of the envelope's type and
    version (fields the schema does not know are tolerated: `data_problems`)."""
    event_type, version = envelope.get("type"), envelope.get("version")
    spec = registry.get(event_type, version) if isinstance(version, int) else None
    if spec is None:
        raise InvalidEvent(f"unknown event version: {event_type} v{version}")
    problems = data_problems(spec, envelope.get("data"))
    if problems:
        raise InvalidEvent(f"{spec.type} v{spec.version} data does not match its schema: "
                           f"{problems}")


@dataclass
class Subscriptions:
    """Which event types a service consumes, and the handler for each."""

    handlers: dict[str, Handler] = field(default_factory=dict)
    catch_all: Handler | None = None   # binds "#": every event (reporting's event store)
    # opt-in: the events of a delivered batch together (each one's handler stays the
    # fallback); a batch waits at most batch_wait_s for more, for the time to a report
    batch: BatchHandler | None = None
    batch_size: int = 100
    batch_wait_s: float = 0.1

    def on(self, event_type: str):
        def register(handler: Handler) -> Handler:
            self.handlers[event_type] = handler
            return handler
        return register

    @property
    def routing_keys(self) -> list[str]:
        return ["#"] if self.catch_all else sorted(self.handlers)

    def handler_for(self, event_type: str) -> Handler | None:
        return self.handlers.get(event_type) or self.catch_all


class EventConsumer:
    def __init__(self, url: str, service: str, subscriptions: Subscriptions, *,
                 max_attempts: int = 5, retry_delay_ms: int = 1000, prefetch: int = 8,
                 queue_type: str = "classic", publisher: Publisher | None = None,
                 on_handled: Callable[[dict], None] | None = None,
                 registry: EventRegistry = event_registry):
        self.url = url
        self.service = service
        self.names = QueueNames(service)
        self.subscriptions = subscriptions
        self.max_attempts = max_attempts
        self.retry_delay_ms = retry_delay_ms
        # a batch is what the broker delivers unacknowledged: room for one being
        # handled and the next arriving meanwhile
        self.batched = subscriptions.batch is not None and subscriptions.batch_size > 1
        self.prefetch = max(prefetch, 2 * subscriptions.batch_size) if self.batched \
            else prefetch
        self._batch: list[tuple] = []   # (body, message) taken, not yet handled
        self._batch_since = 0.0
        self.queue_type = queue_type
        self.publisher = publisher or Publisher(url)
        self.on_handled = on_handled
        self.registry = registry
        self.handled = 0
        self.ready = threading.Event()
        self.watchers: list[Watcher] = []   # tests wait on these (crm_testing.handled)

    def watch(self, watcher: Watcher) -> Callable[[], None]:
        """Have `watcher` told of every delivery once it is acknowledged; returns what
        stops it."""
        self.watchers.append(watcher)
        return lambda: self.watchers.remove(watcher)

    def _tell(self, envelope: dict | None, outcome: str) -> None:
        for watcher in list(self.watchers):
            try:
                watcher(envelope, outcome)
            except Exception:  # an observer must not stop the consumer
                log.exception("a watcher of %s failed", self.service)

    def declare(self, connection) -> None:
        declare_service(connection, self.service, self.subscriptions.routing_keys,
                        queue_type=self.queue_type)

    def queue(self):
        """The queue this consumer reads (declared by `declare`)."""
        from kombu import Queue

        return Queue(self.names.main, no_declare=True)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self._consume(stop)
            except Exception:
                self.ready.clear()
                log.exception("consumer %s lost its connection; reconnecting", self.service)
                stop.wait(1.0)

    def _consume(self, stop: threading.Event) -> None:
        with connect(self.url) as connection:
            connection.ensure_connection(max_retries=3)
            self.declare(connection)
            self._delayed_in_process = not supports_broker_delays(connection)
            with Consumer(connection.channel(), queues=[self.queue()],
                          callbacks=[self._on_message],
                          accept=["json", "application/json"], prefetch_count=self.prefetch,
                          no_ack=False, on_decode_error=self._on_undecodable):
                self._batch = []   # a lost channel's deliveries come again
                self.ready.set()
                while not stop.is_set():
                    wait = self._batch_wait()
                    if wait > 0:
                        try:   # blocks on the broker; wakes for heartbeats, `stop`, a batch
                            connection.drain_events(timeout=wait)
                        except socket.timeout:
                            connection.heartbeat_check()
                    if self._batch and (len(self._batch) >= self.subscriptions.batch_size
                                        or self._batch_wait() <= 0):
                        self._flush(connection)
                if self._batch:  # what was taken is handled before leaving
                    self._flush(connection)

    def _batch_wait(self) -> float:
        if not self._batch:
            return DRAIN_TIMEOUT_S
        return self._batch_since + self.subscriptions.batch_wait_s - time.monotonic()

    def _on_message(self, body, message) -> None:
        if not self.batched:
            self._handle_one(body, message)
            return
        if not self._batch:
            self._batch_since = time.monotonic()
        self._batch.append((body, message))

    def _flush(self, connection=None) -> None:
        """Hand the batch taken to the batch handler, then acknowledge each message;
        one by one if it fails (or for a message it may not see). `connection`: kept
        alive with heartbeats while the handler runs (nothing else uses it then)."""
        taken, self._batch = self._batch, []
        ready = []
        for body, message in taken:
            try:
                envelope = body if isinstance(body, dict) else json.loads(body)
                wanted = self.subscriptions.handler_for(envelope.get("type", "")) is not None
                if wanted:
                    check_event(envelope, self.registry)
            except Exception:
                wanted = False
            if wanted:
                ready.append((envelope, message))
            else:  # parked, or passed over, as it would be alone
                self._handle_one(body, message)
        if not ready:
            return
        try:
            with _heartbeats(connection):
                self.subscriptions.batch([envelope for envelope, _ in ready])
        except Exception as error:
            log.warning("%s failed to handle a batch of %d (%r): one by one", self.service,
                        len(ready), error)
            for envelope, message in ready:
                self._handle_one(envelope, message)
            return
        for envelope, message in ready:
            self._settle(envelope, message, "handled")

    def _settle(self, envelope, message, outcome: str) -> None:
        if outcome == "handled":
            self.handled += 1
            if self.on_handled:
                self.on_handled(envelope)
        message.ack()
        self._tell(envelope if isinstance(envelope, dict) else None, outcome)

    def _handle_one(self, body, message) -> None:
        attempts = int((message.headers or {}).get(ATTEMPTS_HEADER, 0))
        envelope = None
        try:
            envelope = body if isinstance(body, dict) else json.loads(body)
            handler = self.subscriptions.handler_for(envelope.get("type", ""))
            if handler is not None:
                check_event(envelope, self.registry)
                with correlation(envelope.get("correlation_id")):
                    handler(envelope)
        except InvalidEvent as error:
            log.error("%s parks %s: %s", self.service,
                      message.properties.get("message_id"), error)
            outcome = self._retry_or_park(message, attempts + 1, error, park=True)
        except Exception as error:  # the handler failed: retry later or park it
            log.warning("%s failed to handle %s (attempt %d): %r", self.service,
                        message.properties.get("message_id"), attempts + 1, error)
            outcome = self._retry_or_park(message, attempts + 1, error)
        else:
            outcome = "handled"
        self._settle(envelope, message, outcome)

    def _on_undecodable(self, message, error: Exception) -> None:
        """A body that is not JSON (or not allowed) can never be handled: park it now
        rather than let it break the connection and come back forever."""
        attempts = int((message.headers or {}).get(ATTEMPTS_HEADER, 0)) + 1
        log.error("%s cannot decode %s: %r", self.service,
                  message.properties.get("message_id"), error)
        self._retry_or_park(message, attempts, error, park=True)
        message.ack()
        self._tell(None, "parked")

    def _retry_or_park(self, message, attempts: int, error: Exception, *,
                       park: bool = False) -> str:
        headers = dict(message.headers or {})
        headers.update({ATTEMPTS_HEADER: attempts, ERROR_HEADER: repr(error)[:500],
                        FAILED_AT_HEADER: isoformat(utcnow())})
        properties = message.properties
        args = dict(message_id=properties.get("message_id"), type_=properties.get("type"),
                    headers=headers)
        if park or attempts >= self.max_attempts:
            self.publisher.send_to_queue(message.body, self.names.parking, **args)
            return "parked"
        if self._delayed_in_process:
            timer = threading.Timer(self.retry_delay_ms / 1000, self.publisher.send_to_queue,
                                    (message.body, self.names.main), args)
            timer.daemon = True
            timer.start()
        else:  # it expires in the retry queue, which dead-letters it back to the main one
            self.publisher.send_to_queue(message.body, self.names.retry,
                                         expiration_ms=self.retry_delay_ms, **args)
        return "retried"

