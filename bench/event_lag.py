"""Events: the outbox relay's drain and API write → subscriber lag, vs a bare kombu loop.

    .venv/bin/python bench/event_lag.py [--events 2000] [--rate 100] [--seconds 20]
                                        [--modes anchor,relay,lag] [--threads 8]

All on the same RabbitMQ (a private virtual host of this run), each figure printed as a
`result(...)` line:

anchor  the bare kombu loop: one connection with `confirm_publish` publishes --events
        persistent, mandatory messages, waiting for each one's confirm, to a topic
        exchange; an outside subscriber (a plain kombu consumer, manual acks) receives
        them. events/s = events / (first publish → last received).
relay   the outbox relay alone: --events envelopes (one per document, as one write
        makes them) are loaded into a collection's outboxes on FerretDB (the server
        `crm up` runs; bench/_database.py) through the outbox API, then the service's
        OutboxRelay (its own Publisher, one thread) starts and drains them to an outside
        subscriber bound to `crm.events`. events/s = events / (relay start → last
        received); ratio to the anchor (target ≥ 1.0×). Also the database server's CPU
        time per event drained (ferretdb_cpu_ms): the relay's cost that a busy machine's
        timings hide (its writes cost the database more than the publishing costs).
lag     `crm up` (gateway and services as separate processes, its own FerretDB): an
        outside subscriber binds a queue to `customer.created`; customers are POSTed
        through the gateway at a steady --rate per second (open loop: each POST starts
        on its own schedule, from a pool of --threads) for --seconds. Each event's lag =
        received − the envelope's `occurred_at` (set inside the write): p50 / p99
        (target p99 ≤ 100 ms).
burst   (not in the default modes) the former closed-loop figure: --threads writers
        POST as fast as they can; events/s from the first POST to the last event.
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
from marshmallow import Schema, fields

from _harness import AMQP_URL, CpuMeter, System, percentile, result, show

from crmkit.bus.topology import declare_exchanges, events_exchange
from crmkit.events import DomainEvent, event_schema, make_envelope

BENCH_EVENT = "bench.relay.made"


@event_schema(BENCH_EVENT, producer="bench", summary="Bench: a customer-sized event.")
class BenchData(Schema):
    name = fields.String(required=True)
    industry = fields.String(required=True)
    owner_id = fields.String(required=True)
    region = fields.String(required=True)


def collect(queue: Queue, count: int, arrival: dict, ready: threading.Event, *,
            give_up: threading.Event | None = None):
    """The outside subscriber: a plain kombu consumer with manual acks."""
    with Connection(AMQP_URL) as connection:
        def on_message(body, message):
            data = body if isinstance(body, dict) else json.loads(body)
            arrival[data["id"]] = (time.time(), data)
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


def subscriber(queue: Queue, count: int, *, give_up=None):
    arrival: dict = {}
    ready = threading.Event()
    with Connection(AMQP_URL) as setup:
        queue(setup.default_channel).declare()
    listener = threading.Thread(target=collect, args=(queue, count, arrival, ready),
                                kwargs={"give_up": give_up}, daemon=True)
    listener.start()
    if not ready.wait(30):
        raise SystemExit("the subscriber did not start")
    return listener, arrival


def anchor_path(events: int) -> dict:
    exchange = Exchange(f"bench.bare.{uuid.uuid4().hex[:6]}", type="topic", auto_delete=True)
    queue = Queue(f"bench.bare.{uuid.uuid4().hex[:6]}", exchange=exchange, routing_key="#",
                  auto_delete=True, durable=False)
    listener, arrival = subscriber(queue, events)
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


def load_outboxes(collection, events: int) -> None:
    """`events` documents with one pending event each, written as a service writes them
    (the document and its event in one insert: crmkit.bus.outbox.outbox_fields)."""
    from crmkit.bus.outbox import outbox_fields

    chunk = []
    for number in range(events):
        _id = uuid.uuid4().hex
        envelope = make_envelope(DomainEvent(BENCH_EVENT, _id, {
            "name": f"基准客户 {number}", "industry": "IT", "owner_id": uuid.uuid4().hex,
            "region": "east"}, region="east"), producer="bench", actor_id="u-bench")
        chunk.append({"_id": _id, "name": f"基准客户 {number}", "version": 1,
                      **outbox_fields([envelope])})
        if len(chunk) == 500:
            collection.insert_many(chunk)
            chunk = []
    if chunk:
        collection.insert_many(chunk)


def relay_path(events: int) -> dict:
    from _database import local_database

    from crmkit.bus.outbox import OutboxRelay
    from crmkit.bus.publisher import Publisher
    from crmkit.mongo import get_database

    with Connection(AMQP_URL) as connection:
        declare_exchanges(connection)
    queue = Queue(f"bench.relay.{uuid.uuid4().hex[:6]}", exchange=events_exchange,
                  routing_key=BENCH_EVENT, auto_delete=True, durable=False)
    with local_database() as url:
        database = get_database(url, f"bench_relay_{uuid.uuid4().hex[:8]}")
        relay = OutboxRelay(database, ["things"], Publisher(AMQP_URL), name="bench")
        relay.ensure_indexes()
        started = time.monotonic()
        load_outboxes(database["things"], events)
        loaded_s = time.monotonic() - started
        listener, arrival = subscriber(queue, events)
        stop = threading.Event()
        meter = CpuMeter([os.getpgid(0)]).__enter__()   # the database server is our child
        began = time.time()
        runner = threading.Thread(target=relay.run, args=(stop,), daemon=True)
        runner.start()
        listener.join(600)
        meter.__exit__()
        stop.set()
        relay.wake()
        runner.join(10)
        last = max((t for t, _ in arrival.values()), default=time.time())
        left = database["things"].count_documents({"_outbox_pending": True})
        database.client.drop_database(database.name)
    return {"events": len(arrival), "of": events, "loaded_in_s": loaded_s,
            "events_per_s": len(arrival) / max(last - began, 1e-9), "still_pending": left,
            "ferretdb_cpu_ms": meter.seconds.get("ferretdb", 0.0) * 1000 / max(len(arrival), 1)}


def customer_writer(system: System, threads: int):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as pool:   # users in parallel: hashing is slow
        reps = list(pool.map(lambda _: system.org.user("rep"), range(threads)))
    local = threading.local()
    assigned = iter(range(10 ** 9))
    lock = threading.Lock()

    def post(number: int) -> None:
        if not hasattr(local, "rep"):
            with lock:
                local.rep = reps[next(assigned) % len(reps)]
        reply = local.rep.post("/api/v1/customers", json={
            "name": f"基准客户 {number} {uuid.uuid4().hex[:6]}", "industry": "IT",
            "status": "potential", "primary_contact": {"name": "测试", "phone": "13800000000"}})
        assert reply.status_code == 201, reply

    return post


def spy_queue() -> Queue:
    return Queue(f"bench.spy.{uuid.uuid4().hex[:6]}", exchange=events_exchange,
                 routing_key="customer.created", auto_delete=True, durable=False)


def lags_of(received: dict) -> list[float]:
    return [(t - datetime.fromisoformat(d["occurred_at"]).timestamp()) * 1000
            for t, d in received.values()]


def cpu_line(meter: CpuMeter, wall: float) -> str:
    busy = sorted(meter.seconds.items(), key=lambda kv: -kv[1])
    return (f"CPU s ({wall:.0f} s wall; machine "
            f"{meter.machine_busy / max(meter.machine_total, 1e-9):.0%} busy): " +
            ", ".join(f"{role} {seconds:.1f}" for role, seconds in busy[:6]))


def lag_path(system: System, rate: float, seconds: float, threads: int, wait: float) -> dict:
    """Open loop: POST number n starts at began + n / rate, whatever the others do."""
    from concurrent.futures import ThreadPoolExecutor

    post = customer_writer(system, threads)
    total = int(rate * seconds)
    give_up = threading.Event()
    listener, arrival = subscriber(spy_queue(), total, give_up=give_up)
    meter = CpuMeter([system.process.pid]).__enter__()
    began = time.time()
    late = 0
    with ThreadPoolExecutor(threads) as pool:
        futures = []
        for number in range(total):
            delay = began + number / rate - time.time()
            if delay > 0:
                time.sleep(delay)   # the load's own pacing
            elif delay < -0.05:
                late += 1
            futures.append(pool.submit(post, number))
        for future in futures:
            future.result()
    posted = time.time()
    listener.join(wait)
    give_up.set()
    listener.join(5)
    meter.__exit__()
    print(cpu_line(meter, time.time() - began), flush=True)
    received = dict(arrival)
    lags = lags_of(received)
    return {"events": len(received), "of": total, "writes_per_s": total / (posted - began),
            "posts_started_late": late, "lag_p50_ms": percentile(lags, 0.5),
            "lag_p99_ms": percentile(lags, 0.99), "lag_max_ms": max(lags, default=float("nan"))}


def burst_path(system: System, events: int, threads: int, wait: float) -> dict:
    post = customer_writer(system, threads)
    per_thread = events // threads
    total = per_thread * threads
    give_up = threading.Event()
    listener, arrival = subscriber(spy_queue(), total, give_up=give_up)
    began = time.time()
    writers = [threading.Thread(target=lambda n=n: [post(n * per_thread + i)
                                                    for i in range(per_thread)])
               for n in range(threads)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    posted = time.time()
    listener.join(wait)
    give_up.set()
    listener.join(5)
    received = dict(arrival)
    figures = {"events": len(received), "of": total, "posts_per_s": total / (posted - began)}
    if received:
        last = max(t for t, _ in received.values())
        lags = lags_of(received)
        figures.update(events_per_s=len(received) / (last - began),
                       lag_p50_ms=percentile(lags, 0.5), lag_p99_ms=percentile(lags, 0.99))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000,
                        help="events of the anchor and the relay drain (and of burst)")
    parser.add_argument("--rate", type=float, default=100, help="writes/s of the lag mode")
    parser.add_argument("--seconds", type=float, default=20, help="length of the lag mode")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--wait", type=float, default=30,
                        help="seconds to wait for the events after the last POST")
    parser.add_argument("--modes", default="anchor,relay,lag")
    args = parser.parse_args()
    modes = set(args.modes.split(","))
    print(f"events={args.events} rate={args.rate}/s for {args.seconds:.0f} s "
          f"threads={args.threads} broker={AMQP_URL}", flush=True)
    anchor = None
    if "anchor" in modes or "relay" in modes:
        anchor = anchor_path(args.events)
        show("bare kombu confirm-per-message", anchor)
        result("bare kombu publish-with-confirm per message", anchor["events_per_s"],
               "events/s", target="anchor", events=anchor["events"])
    if "relay" in modes:
        drain = relay_path(args.events)
        show("outbox relay drain", drain)
        result("outbox relay drain to an outside subscriber", drain["events_per_s"],
               "events/s", anchor="bare kombu publish-with-confirm per message",
               anchor_value=anchor["events_per_s"], target="≥ 1.0× the anchor",
               passed=drain["events_per_s"] >= anchor["events_per_s"]
               and drain["events"] == drain["of"], events=drain["events"], of=drain["of"],
               still_pending=drain["still_pending"],
               ferretdb_cpu_ms_per_event=round(drain["ferretdb_cpu_ms"], 3))
    if modes & {"lag", "burst"}:
        system = System()
        try:
            if "lag" in modes:
                lag = lag_path(system, args.rate, args.seconds, args.threads, args.wait)
                show("API write -> subscriber (steady)", lag)
                common = dict(writes_per_s=round(lag["writes_per_s"], 1),
                              events=lag["events"], of=lag["of"])
                result("API write → outside subscriber lag p50", lag["lag_p50_ms"], "ms",
                       target=f"at {args.rate:.0f} writes/s", **common)
                result("API write → outside subscriber lag p99", lag["lag_p99_ms"], "ms",
                       target="≤ 100 ms at 100 writes/s",
                       # only at the rate the target names, and only if it was reached
                       passed=lag["lag_p99_ms"] <= 100 and lag["events"] == lag["of"]
                       and lag["writes_per_s"] >= 0.95 * 100,
                       **common)
            if "burst" in modes:
                burst = burst_path(system, args.events, args.threads, args.wait)
                show("API write -> subscriber (burst)", burst)
                result("API write → outside subscriber, closed loop",
                       burst.get("events_per_s", 0.0), "events/s",
                       target=f"{args.threads} writers as fast as they go", **burst)
        finally:
            system.stop()


if __name__ == "__main__":
    main()
