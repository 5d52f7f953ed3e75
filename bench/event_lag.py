"""Events from API write to consumer, vs a bare kombu publish-confirm/consume loop.

    .venv/bin/python bench/event_lag.py [--events 200] [--threads 8] [--wait 30]

1. System path: `crm up` on the local RabbitMQ and its own FerretDB (fresh temporary data
   folder); an outside subscriber binds its own queue to `customer.created`; N customers
   are POSTed through the gateway from T threads. Each event's lag = time received by the
   subscriber − the envelope's `occurred_at` (set inside the write). events/s = events
   received / (first POST → last event received). The subscriber waits at most --wait
   seconds after the last POST; events still in the customers' outboxes then are counted
   (`pending`) rather than waited for.
2. Bare broker path, same broker, same run: one thread publishes N messages with
   publisher confirms (persistent, mandatory), another consumes them with manual acks;
   lag = receive time − publish time.
"""
from __future__ import annotations

import argparse
import json
import os
import threading
import time
import uuid
from datetime import datetime

from kombu import Connection, Consumer, Exchange, Producer, Queue

from _harness import AMQP_URL, CpuMeter, System, percentile, show

from crmkit.bus.topology import events_exchange


def collect(queue: Queue, count: int, arrival: dict, ready: threading.Event, *, ack=True,
            give_up: threading.Event | None = None):
    with Connection(AMQP_URL) as connection:
        def on_message(body, message):
            data = body if isinstance(body, dict) else json.loads(body)
            arrival[data["id"]] = (time.time(), data)
            if ack:
                message.ack()

        with Consumer(connection, queues=[queue], callbacks=[on_message], prefetch_count=200,
                      accept=["json", "application/json"]):
            ready.set()
            deadline = time.monotonic() + 600
            while len(arrival) < count and time.monotonic() < deadline and \
                    not (give_up and give_up.is_set()):
                try:
                    connection.drain_events(timeout=1)
                except TimeoutError:
                    pass


def pending_in_outboxes(system: System) -> int:
    """Events of `customer` still waiting in its documents' outboxes (one scan)."""
    import pymongo

    from crmkit.bus.outbox import OUTBOX, PENDING

    with open(os.path.join(system.data_dir, "ferretdb.json")) as handle:
        url = json.load(handle)["url"]
    client = pymongo.MongoClient(url, serverSelectionTimeoutMS=5000)
    try:
        return sum(len(doc.get(OUTBOX) or []) for doc in client["crm_customer"]["customers"]
                   .find({PENDING: True}, {OUTBOX: 1}))
    finally:
        client.close()


def system_path(events: int, threads: int, wait: float) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    system = System()
    try:
        with ThreadPoolExecutor(threads) as pool:   # users in parallel: hashing is slow
            reps = list(pool.map(lambda _: system.org.user("rep"), range(threads)))
        queue = Queue(f"bench.spy.{uuid.uuid4().hex[:6]}", exchange=events_exchange,
                      routing_key="customer.created", auto_delete=True, durable=False)
        arrival: dict = {}
        ready, give_up = threading.Event(), threading.Event()
        per_thread = events // threads
        total = per_thread * threads
        listener = threading.Thread(target=collect, args=(queue, total, arrival, ready),
                                    kwargs={"give_up": give_up}, daemon=True)
        listener.start()
        ready.wait(10)

        def writer(rep, offset):
            for i in range(per_thread):
                reply = rep.post("/api/v1/customers", json={
                    "name": f"基准客户 {offset}-{i} {uuid.uuid4().hex[:6]}", "industry": "IT",
                    "status": "potential",
                    "primary_contact": {"name": "测试", "phone": "13800000000"}})
                assert reply.status_code == 201, reply

        meter = CpuMeter([system.process.pid]).__enter__()
        began = time.time()
        writers = [threading.Thread(target=writer, args=(rep, n)) for n, rep in enumerate(reps)]
        for w in writers:
            w.start()
        for w in writers:
            w.join()
        posted = time.time()
        listener.join(wait)
        give_up.set()
        listener.join(5)
        received = dict(arrival)
        figures = {"events": len(received), "of": total,
                   "posts_per_s": total / (posted - began)}
        if received:
            last = max(t for t, _ in received.values())
            lags = [(t - datetime.fromisoformat(d["occurred_at"]).timestamp()) * 1000
                    for t, d in received.values()]
            figures.update(events_per_s=len(received) / (last - began),
                           lag_p50_ms=percentile(lags, 0.5), lag_p99_ms=percentile(lags, 0.99))
        if len(received) < total:
            figures["gave_up_after_s"] = round(time.time() - posted, 1)
        meter.__exit__()
        wall = time.time() - began
        if len(received) < total:
            figures["pending"] = pending_in_outboxes(system)
        busy = sorted(meter.seconds.items(), key=lambda kv: -kv[1])
        print(f"CPU s from the first POST to the end ({wall:.0f} s wall; machine "
              f"{meter.machine_busy / max(meter.machine_total, 1e-9):.0%} busy, "
              f"{max(0.0, meter.machine_busy - sum(meter.seconds.values())):.0f} CPU s not "
              "ours): " + ", ".join(f"{role} {seconds:.1f}" for role, seconds in busy[:6]),
              flush=True)
        return figures
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
    listener = threading.Thread(target=collect, args=(queue, events, arrival, ready),
                                daemon=True)
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
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--wait", type=float, default=30,
                        help="seconds to wait for the events after the last POST")
    args = parser.parse_args()
    print(f"events={args.events} writer threads={args.threads} broker={AMQP_URL}")
    show("API write -> outbox -> subscriber", system_path(args.events, args.threads,
                                                          args.wait))
    show("bare kombu confirm publish/consume", bare_path(args.events))


if __name__ == "__main__":
    main()
