"""Publishing with confirms, persistent delivery and mandatory routing.

Messages go out in batches on a channel in confirm mode, and the broker's confirms are
awaited once per batch (RabbitMQ acks by delivery tag, several at a time with
`multiple`): per-message waits cost a round trip and a disk sync each. A message the
broker nacks, or returns because no queue would receive it (basic.return, which RabbitMQ
sends before that message's ack), is reported refused, so the outbox keeps it. When
the connection fails mid-batch, what the broker had not confirmed yet is reported
failed: publishing it again may only duplicate (consumers dedupe by event id).
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass

from kombu import Producer

from crmkit.bus.connection import HEARTBEAT_S, connect
from crmkit.bus.topology import EXCHANGE

log = logging.getLogger(__name__)

CONFIRM_TIMEOUT_S = 30.0


class NotConfirmed(Exception):
    """The broker did not take a message; whoever published it keeps it and retries."""


class Unroutable(NotConfirmed):
    pass


class Nacked(NotConfirmed):
    pass


def encode(envelope: dict) -> bytes:
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Outgoing:
    body: bytes
    exchange: str
    routing_key: str
    message_id: str | None
    type_: str | None
    headers: dict
    expiration_ms: int | None = None


def event_message(envelope: dict) -> Outgoing:
    """An event for `crm.events`, routing key = its type."""
    return Outgoing(encode(envelope), EXCHANGE, envelope["type"], envelope["id"],
                    envelope["type"], {})


class _Confirms:
    """Delivery tags of one confirm-mode channel still awaiting the broker's ack or nack,
    and which of them were nacked or returned."""

    def __init__(self):
        self.next_tag = 1          # the broker numbers a channel's publishes from 1
        self.unsettled: set[int] = set()
        self.nacked: set[int] = set()
        self.returned: set[str | None] = set()   # message ids

    def published(self) -> int:
        tag, self.next_tag = self.next_tag, self.next_tag + 1
        self.unsettled.add(tag)
        return tag

    def _settle(self, tag: int, multiple: bool) -> set[int]:
        settled = {t for t in self.unsettled if t <= tag} if multiple else {tag}
        self.unsettled -= settled
        return settled

    def on_ack(self, tag, multiple) -> None:
        self._settle(tag, multiple)

    def on_nack(self, tag, multiple) -> None:
        self.nacked |= self._settle(tag, multiple)

    def on_return(self, exception, exchange, routing_key, message) -> None:
        self.returned.add(getattr(message, "properties", {}).get("message_id"))


def _raise_first(outcomes: list[Exception | None]) -> None:
    for outcome in outcomes:
        if outcome is not None:
            raise outcome


class Publisher:
    def __init__(self, url: str, *, heartbeat: float = HEARTBEAT_S):
        self._url = url
        self._heartbeat = heartbeat
        self._lock = threading.Lock()
        self._connection = None
        self._producer = None
        self._confirms: _Confirms | None = None   # None: a transport without confirms
        self._closed = threading.Event()
        self._beating: threading.Thread | None = None

    def publish(self, envelope: dict) -> None:
        """Publish one event to `crm.events` with routing key = its type; returns once
        the broker confirmed it, raises Unroutable / Nacked if it did not take it, or
        the connection's failure."""
        _raise_first(self.publish_batch([envelope]))

    def publish_batch(self, envelopes: list[dict]) -> list[Exception | None]:
        """Publish events, waiting once for all their confirms. Per envelope: None if
        the broker confirmed it, else why not (NotConfirmed, or the connection's
        failure for those still unconfirmed when it failed)."""
        return self.publish_many([event_message(envelope) for envelope in envelopes])

    def send_to_queue(self, body: bytes, queue: str, *, message_id: str | None,
                      type_: str | None, headers: dict, expiration_ms: int | None = None) -> None:
        """Put a message straight into a queue (retry, parking, replay)."""
        _raise_first(self.publish_many([Outgoing(body, "", queue, message_id, type_,
                                                 headers, expiration_ms)]))

    def publish_many(self, messages: list[Outgoing]) -> list[Exception | None]:
        """Send `messages` in order, then wait for the broker's confirms once. On a
        connection that turns out stale (the broker restarted while we were idle) the
        unconfirmed ones are sent once more on a new one: a duplicate at worst."""
        if not messages:
            return []
        with self._lock:
            stale = self._producer is not None
            outcomes = self._send(messages)
            again = [n for n, outcome in enumerate(outcomes)
                     if outcome is not None and not isinstance(outcome, NotConfirmed)]
            if stale and again:
                log.warning("publisher connection lost; sending %d messages again",
                            len(again))
                for n, outcome in zip(again, self._send([messages[n] for n in again])):
                    outcomes[n] = outcome
            return outcomes

    def _send(self, messages: list[Outgoing]) -> list[Exception | None]:
        confirms, tags, failure = None, [], None
        try:
            producer = self._ensure_producer()
            confirms = self._confirms
            if confirms is not None:
                confirms.nacked.clear()
                confirms.returned.clear()
            for message in messages:
                # kombu takes `expiration` in seconds and writes str(int(expiration *
                # 1000)); a string would be repeated a thousand times ("300" * 1000).
                extra = {"expiration": message.expiration_ms / 1000} \
                    if message.expiration_ms else {}
                producer.publish(message.body, exchange=message.exchange,
                                 routing_key=message.routing_key, mandatory=True,
                                 delivery_mode=2, content_type="application/json",
                                 content_encoding="utf-8", message_id=message.message_id,
                                 type=message.type_, headers=message.headers, **extra)
                tags.append(confirms.published() if confirms is not None else None)
            deadline = time.monotonic() + CONFIRM_TIMEOUT_S
            while confirms is not None and confirms.unsettled:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("the broker did not confirm the batch in time")
                self._connection.drain_events(timeout=remaining)
        except Exception as error:   # what the broker had not confirmed is not sent
            failure = error
            self._reset()
        outcomes: list[Exception | None] = []
        for number, message in enumerate(messages):
            if number >= len(tags):          # never went out
                outcomes.append(failure)
            elif confirms is None:           # the in-process memory bus: delivered
                outcomes.append(None)
            elif tags[number] in confirms.unsettled:
                outcomes.append(failure)
            elif tags[number] in confirms.nacked:
                outcomes.append(Nacked(f"the broker nacked {message.message_id}"))
            elif message.message_id in confirms.returned:
                outcomes.append(Unroutable(f"no queue is bound for {message.routing_key!r}"
                                           f" on {message.exchange!r}"))
            else:
                outcomes.append(None)
        return outcomes

    def _ensure_producer(self) -> Producer:
        if self._producer is None:
            # confirm mode is set on our channel here, so that a batch waits once
            # (the connection's own confirm_publish waits after every message)
            self._connection = connect(self._url, heartbeat=self._heartbeat,
                                       confirm_each=False)
            self._connection.ensure_connection(max_retries=3)
            self._skip_poll_per_message()
            channel = self._connection.channel()
            self._confirms = None
            if self._connection.transport.driver_type == "amqp":
                confirms = _Confirms()
                channel.confirm_select()
                channel.events["basic_ack"].add(confirms.on_ack)
                channel.events["basic_nack"].add(confirms.on_nack)
                self._confirms = confirms
            self._producer = Producer(
                channel, on_return=self._confirms.on_return if self._confirms else None)
            if self._beating is None and self._connection.supports_heartbeats:
                self._beating = threading.Thread(target=self._beat, daemon=True,
                                                 name="publisher-heartbeat")
                self._beating.start()
        return self._producer

    def _skip_poll_per_message(self) -> None:
        """py-amqp reads the socket (timeout 0) before every message it publishes when
        the broker may send connection.blocked, to see such a notice early: about half
        of what a publish cost the relay (py-spy). This publisher reads the socket after
        each batch, waiting for its confirms, and a notice is handled then, so the
        per-message read goes (the broker still sends the notices)."""
        amqp_connection = getattr(self._connection, "connection", None)
        capabilities = getattr(amqp_connection, "client_properties", {}).get("capabilities")
        if capabilities and capabilities.get("connection.blocked"):
            capabilities["connection.blocked"] = False

    def _beat(self) -> None:
        """Heartbeats while no message goes out (an idle relay): without them the broker
        closed idle publisher connections as dead and the next publish found them gone."""
        while not self._closed.wait(self._heartbeat / 4):
            with self._lock:
                if self._connection is None:
                    continue
                try:
                    self._connection.heartbeat_check(rate=2)
                except Exception:   # the broker went away: the next publish reconnects
                    log.warning("publisher connection lost; reconnecting on next publish")
                    self._reset()

    def _reset(self) -> None:
        try:
            if self._connection is not None:
                self._connection.release()
        except Exception:  # the connection is already broken
            pass
        self._connection = self._producer = self._confirms = None

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            self._reset()
