"""Publishing with confirms, persistent delivery and mandatory routing.

`publish` returns only once the broker has confirmed the message; a message no queue
would receive comes back (basic.return) and raises `Unroutable`, so the outbox keeps it.
"""
from __future__ import annotations

import json
import logging
import threading

from kombu import Producer

from crmkit.bus.connection import HEARTBEAT_S, connect
from crmkit.bus.topology import EXCHANGE

log = logging.getLogger(__name__)


class Unroutable(Exception):
    pass


def encode(envelope: dict) -> bytes:
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


class Publisher:
    def __init__(self, url: str, *, heartbeat: float = HEARTBEAT_S):
        self._url = url
        self._heartbeat = heartbeat
        self._lock = threading.Lock()
        self._connection = None
        self._producer = None
        self._returned: list[str] = []
        self._closed = threading.Event()
        self._beating: threading.Thread | None = None

    def publish(self, envelope: dict) -> None:
        """Publish one event to `crm.events` with routing key = its type."""
        self._send(encode(envelope), exchange=EXCHANGE, routing_key=envelope["type"],
                   message_id=envelope["id"], type_=envelope["type"], headers={})

    def send_to_queue(self, body: bytes, queue: str, *, message_id: str | None,
                      type_: str | None, headers: dict, expiration_ms: int | None = None) -> None:
        """Put a message straight into a queue (retry, parking, replay)."""
        self._send(body, exchange="", routing_key=queue, message_id=message_id,
                   type_=type_, headers=headers, expiration_ms=expiration_ms)

    def _send(self, body, *, exchange, routing_key, message_id, type_, headers,
              expiration_ms=None) -> None:
        # kombu takes `expiration` in seconds and writes str(int(expiration * 1000)); a
        # string here would be repeated a thousand times ("300" * 1000), not converted.
        extra = {"expiration": expiration_ms / 1000} if expiration_ms else {}
        with self._lock:
            producer = self._ensure_producer()
            self._returned.clear()
            try:
                producer.publish(body, exchange=exchange, routing_key=routing_key,
                                 mandatory=True, delivery_mode=2,
                                 content_type="application/json", content_encoding="utf-8",
                                 message_id=message_id, type=type_, headers=headers,
                                 retry=True, retry_policy={"max_retries": 3}, **extra)
            except Exception:
                self._reset()
                raise
            if self._returned:
                raise Unroutable(f"no queue is bound for {routing_key!r} on {exchange!r}")

    def _on_return(self, exception, exchange, routing_key, message):
        self._returned.append(routing_key)

    def _ensure_producer(self) -> Producer:
        if self._producer is None:
            self._connection = connect(self._url, heartbeat=self._heartbeat)
            self._connection.ensure_connection(max_retries=3)
            self._producer = Producer(self._connection.channel(), on_return=self._on_return)
            if self._beating is None and self._connection.supports_heartbeats:
                self._beating = threading.Thread(target=self._beat, daemon=True,
                                                 name="publisher-heartbeat")
                self._beating.start()
        return self._producer

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
        self._connection = self._producer = None

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            self._reset()
