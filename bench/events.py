"""Events from API write to consumer, vs a bare kombu publish-confirm/consume loop.

    .venv/bin/python bench/events.py [--events 2000] [--threads 8]

1. System path: `crm up` on the local RabbitMQ; an outside subscriber binds its own queue
   to `customer.created`; N customers are POSTed through the gateway from T threads.
   Each event's lag = time received by the subscriber − the envelope's `occurred_at`
   (set inside the write). events/s = N / (first POST → last event received).
2. Bare broker path, same broker, same run: one thread publishes N messages with
   publisher confirms (persistent, mandatory), another consumes them with manual acks;
   lag = receive time − publish time.
"""
from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from datetime import datetime

from kombu import Connection, Consumer, Exchange, Producer, Queue

from _harness import AMQP_URL, System, percentile, show

from crmkit.bus.topology import events_exchange


def collect(queue: Queue, count: int, arrival: dict, ready: threading.Event, *, ack=True):
    with Connection(AMQP_URL) as connection:
        def on_message(body, message):
            data = body if isinstance(body, dict) else json.loads(body)
            arrival[data["id"]] = (time.time(), data)
            if ack:
                message.ack()

        with Consumer(connection, queues=[queue], callbacks=[on_message], prefetch_count=200,
                      accept=["json", "application/json"]):
            ready.set()
            deadline = time.monotonic() + 300
            while len(arrival) < count and time.monotonic() < deadline:
                try:
                    connection.drain_events(timeout=1)
                except TimeoutError:
                    pass


def system_path(events: int, threads: int) -> dict:
    system = System()
    try:
        reps = [system.org.user("rep") for _ in range(threads)]
        queue = Queue(f"bench.spy.{uuid.uuid4().hex[:6]}", exchange=events_exchange,
                      routing_key="customer.created", auto_delete=True, durable=False)
        arrival: dict = {}
        ready = threading.Event()
        listener = threading.Thread(target=collect, args=(queue, events, arrival, ready))
        listener.start()
        ready.wait(10)
        per_thread = events // threads

        def writer(rep, offset):
            for i in range(per_thread):
                reply = rep.post("/api/v1/customers", json={
                    "name": f"基准客户 {offset}-{i} {uuid.uuid4().hex[:6]}", "industry": "IT",
                    "status": "potential",
                    "primary_contact": {"name": "测试", "phone": "13800000000"}})
                assert reply.status_code == 201, reply

        began = time.time()
        writers = [threading.Thread(target=writer, args=(rep, n)) for n, rep in enumerate(reps)]
        for w in writers:
            w.start()
        for w in writers:
            w.join()
        listener.join()
        total = per_thread * threads
        last = max(t for t, _ in arrival.values())
        lags = [(t - datetime.fromisoformat(d["occurred_at"]).timestamp()) * 1000
                for t, d in arrival.values()]
        return {"events": len(arrival), "of": total, "events_per_s": len(arrival) / (last - began),
                "lag_p50_ms": percentile(lags, 0.5), "lag_p99_ms": percentile(lags, 0.99)}
    finally:
        system.stop()


def bare_path(events: int) -> dict:
    exchange = Exchange(f"bench.bare.{uuid.uuid4().hex[:6]}", type="topic", auto_delete=True)
    queue = Queue(f"bench.bare.{uuid.uuid4().hex[:6]}", exchange=exchange, routing_key="#",
                  auto_delete=True, durable=False)
    arrival: dict = {}
    ready = threading.Event()
    with Connection(AMQP_URL) as setup:
        queue(setup.default_channel).declare()
    listener = threading.Thread(target=collect, args=(queue, events, arrival, ready))
    listener.start()
    ready.wait(10)
    sent: dict = {}
    began = time.time()
    with Connection(AMQP_URL, transport_options={"confirm_publish": True}) as connection:
        producer = Producer(connection.channel(), exchange=exchange)
        for i in range(events):
            event_id = uuid.uuid4().hex
            sent[event_id] = time.time()
            producer.publish({"id": event_id, "n": i}, routing_key="bench.event",
                             delivery_mode=2, mandatory=True, serializer="json")
    listener.join()
    last = max(t for t, _ in arrival.values())
    lags = [(t - sent[i]) * 1000 for i, (t, _) in arrival.items()]
    return {"events": len(arrival), "of": events, "events_per_s": len(arrival) / (last - began),
            "lag_p50_ms": percentile(lags, 0.5), "lag_p99_ms": percentile(lags, 0.99)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    print(f"events={args.events} writer threads={args.threads} broker={AMQP_URL}")
    show("API write -> outbox -> subscriber", system_path(args.events, args.threads))
    show("bare kombu confirm publish/consume", bare_path(args.events))


if __name__ == "__main__":
    main()
