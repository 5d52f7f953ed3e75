"""The parking queue of a service: list what is parked, replay some or all of it.

Reading a parked message takes it off the queue until it is put back, so lists and
replays take turns (`_turn`): otherwise concurrent lists each see part of the queue and a
replay misses what a list holds at that moment."""
from __future__ import annotations

import json
import time
from contextlib import contextmanager

from amqp.exceptions import ResourceLocked
from kombu import Queue

from crmkit.bus.connection import connect
from crmkit.bus.consumer import ATTEMPTS_HEADER, ERROR_HEADER, FAILED_AT_HEADER
from crmkit.bus.publisher import Publisher
from crmkit.bus.topology import QueueNames, parking_queue


def _describe(message) -> dict:
    headers = message.headers or {}
    try:
        envelope = json.loads(message.body)
    except (TypeError, ValueError):
        envelope = None
    return {
        "id": message.properties.get("message_id"),
        "type": message.properties.get("type"),
        "attempts": headers.get(ATTEMPTS_HEADER),
        "error": headers.get(ERROR_HEADER),
        "failed_at": headers.get(FAILED_AT_HEADER),
        "envelope": envelope,
    }


TURN_WAIT_S = 30.0


@contextmanager
def _turn(connection, service: str):
    """This connection's turn at the service's parking queue: an exclusive queue that one
    connection at a time may declare, which the broker deletes when that connection
    closes (so a crashed holder frees it too)."""
    name = f"{QueueNames(service).parking}.turn"
    deadline = time.monotonic() + TURN_WAIT_S
    delay = 0.02
    while True:
        try:
            Queue(name, exclusive=True, auto_delete=True)(connection.channel()).declare()
            break
        except ResourceLocked:   # another connection's turn (the broker closed our channel)
            if time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
    yield


def _drain(channel, service: str, limit: int):
    queue = parking_queue(service)(channel)
    queue.declare()
    messages = []
    while len(messages) < limit:
        message = queue.get(no_ack=False)
        if message is None:
            break
        messages.append(message)
    return messages


def list_parked(url: str, service: str, limit: int = 1000) -> list[dict]:
    with connect(url) as connection, _turn(connection, service):
        channel = connection.channel()
        messages = _drain(channel, service, limit)
        described = [_describe(m) for m in messages]
        for message in messages:
            message.requeue()
        return described


def replay_parked(url: str, service: str, ids: list[str] | None = None,
                  publisher: Publisher | None = None) -> list[str]:
    """Send parked messages (all, or those with `ids`) back to the service's queue."""
    publisher = publisher or Publisher(url)
    names = QueueNames(service)
    replayed = []
    with connect(url) as connection, _turn(connection, service):
        channel = connection.channel()
        for message in _drain(channel, service, 100_000):
            message_id = message.properties.get("message_id")
            if ids is not None and message_id not in ids:
                message.requeue()
                continue
            headers = {k: v for k, v in (message.headers or {}).items()
                       if k not in (ATTEMPTS_HEADER, ERROR_HEADER, FAILED_AT_HEADER)}
            publisher.send_to_queue(message.body, names.main, message_id=message_id,
                                    type_=message.properties.get("type"), headers=headers)
            message.ack()
            replayed.append(message_id)
    return replayed
