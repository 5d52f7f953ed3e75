"""Reminder benchmark: 10,000 reminders due at the same moment.

Measures what the reminder scheduler of the tasks service does in production: the
worker's `reminders` job (services.tasks.reminders_loop: crmkit.scheduling.run_periodic,
lease and all; it wakes a few seconds before the next reminder is due) reads the tasks
falling due, and at their moment fires them: a firing record per reminder (unique `_id`,
`reminder.due` in its outbox) inserted in bulk, the tasks marked afterwards.
Reported:
  - fired/s: reminders fired per second, from the due moment until the last one fired;
  - lateness of each reminder after its `remind_at` (p50 / p99 / max);
  - with --broker: the outbox relay also publishes every reminder.due to RabbitMQ (in a
    virtual host of its own) and the service's consumer turns each into an inbox entry;
    reports published/s and the inbox lateness (notification created_at - remind_at).
  - with --replicas 2 (the default): two replicas of the job on the same database (one
    holds the lease, the other stands by); the run checks that each reminder's
    reminder.due was recorded exactly once.
  - anchor: one reminder's lateness, measured first in the same run.

    .venv/bin/python bench/tasks.py [--count 10000] [--replicas 1|2] [--broker]

MONGO_URL picks the database; without it the benchmark starts FerretDB 1.24 (the server
`crm up` runs) on a temporary folder and stops it afterwards (bench/_database.py).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _database import local_database  # noqa: E402
from _harness import result  # noqa: E402

from crmkit.bus.outbox import OUTBOX, outbox_fields, pending_envelopes  # noqa: E402
from crmkit.clock import utcnow  # noqa: E402
from crmkit.directory import UserDirectory  # noqa: E402
from crmkit.identity import Identity  # noqa: E402
from crmkit.mongo import get_database  # noqa: E402
from crmkit.queries import count_matching  # noqa: E402
from crmkit.scheduling import run_periodic  # noqa: E402
from services.tasks import domain  # noqa: E402
from services.tasks.reminders_loop import reminder_job  # noqa: E402
from services.tasks.handlers import TaskHandlers  # noqa: E402
from services.tasks.repository import FIRINGS, Repositories, task_to_doc  # noqa: E402

REPS = [Identity(f"rep{i}", f"rep{i}", f"Rep {i}", "rep", "east/bench", "east")
        for i in range(50)]


def percentile(values, p):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def seed(db, count: int, due_at) -> None:
    """`count` tasks, one reminder each, all due at `due_at` (written directly: the
    set-up is not what is measured)."""
    made_at = due_at - timedelta(minutes=5)
    docs = []
    for i in range(count):
        task = domain.create_task(REPS[i % len(REPS)], title=f"基准任务 {i}",
                                  due_at=due_at + timedelta(hours=1),
                                  reminders=[{"remind_at": due_at}], now=made_at)
        task.events.clear()
        docs.append({**task_to_doc(task), **outbox_fields([])})
    for start in range(0, count, 1000):
        db["tasks"].insert_many(docs[start:start + 1000])


def ms(delta) -> float:
    return delta.total_seconds() * 1000


def run(count: int, replicas: int, broker: bool, lead: float, mongo_url: str) -> dict:
    prefix = f"bench_{uuid.uuid4().hex[:8]}_"
    db_name = prefix + "tasks"          # what Settings.database_name("tasks") gives
    db = get_database(mongo_url, db_name)
    services = [TaskHandlers(Repositories(db), UserDirectory(db))
                for _ in range(max(1, replicas))]
    Repositories(db).ensure_indexes()

    due_at = utcnow() + timedelta(seconds=lead + count / 2000)   # time to seed first
    t_seed = time.monotonic()
    seed(db, count, due_at)
    seed_seconds = time.monotonic() - t_seed
    if utcnow() >= due_at:
        raise SystemExit("seeding took longer than the lead time; raise --lead")

    worker = None
    vhost = None
    if broker:
        worker, vhost = start_broker_worker(mongo_url, prefix)

    stop = threading.Event()
    # Each replica runs the worker's own `reminders` job (lease, loop and all).
    threads = [threading.Thread(target=run_periodic,
                                args=(reminder_job(service), db["_leases"], stop),
                                daemon=True) for service in services]
    for thread in threads:
        thread.start()

    deadline = time.monotonic() + 600
    while count_matching(db["tasks"], {"next_remind_at": {"$ne": None}}) and \
            time.monotonic() < deadline:
        time.sleep(0.2)
    stop.set()
    for thread in threads:
        thread.join(10)

    fired, events = [], []
    for doc in db["tasks"].find({}, {"reminders": 1, OUTBOX: 1}):
        for reminder in doc["reminders"]:
            if reminder.get("fired_at"):
                fired.append((reminder["remind_at"], reminder["fired_at"]))
        events += [e for e in pending_envelopes(doc) if e["type"] == "reminder.due"]
    for doc in db[FIRINGS].find({}, {OUTBOX: 1}):   # where reminder.due is recorded
        events += [e for e in pending_envelopes(doc) if e["type"] == "reminder.due"]
    lateness = [ms(f - r) for r, f in fired]
    last_fired = max(f for _, f in fired)
    span = max((last_fired - due_at).total_seconds(), 1e-6)
    report = {
        "count": count, "replicas": replicas, "mongo": mongo_url.split("@")[-1],
        "seeded_in_s": round(seed_seconds, 2), "fired": len(fired),
        "fired_per_s": round(len(fired) / span, 1),
        "lateness_ms": {"p50": round(percentile(lateness, 50), 1),
                        "p99": round(percentile(lateness, 99), 1),
                        "max": round(max(lateness), 1)},
    }
    if not broker:
        per_reminder = Counter(e["data"]["reminder_id"] for e in events)
        report["reminder_due_events"] = len(events)
        report["fired_twice"] = sum(1 for n in per_reminder.values() if n > 1)
    else:
        try:
            report.update(broker_figures(db, worker, count, due_at))
        finally:
            worker.stop()
            delete_vhost(vhost)
    return report


# ---------------------------------------------------------------- --broker

def start_broker_worker(mongo_url: str, prefix: str):
    """The service's relay and consumers on RabbitMQ, in a virtual host of our own."""
    from crmkit.config import Settings
    from crmkit.service import Worker
    from services.tasks.app import bootstrap

    base = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    vhost = f"crm-bench-{uuid.uuid4().hex[:8]}"
    ok = all(subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True).returncode == 0
             for args in (["add_vhost", vhost],
                          ["set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"]))
    url = base.rstrip("/") + "/" + vhost if ok else base
    settings = Settings(amqp_url=url, mongo_url=mongo_url, db_prefix=prefix,
                        relay_interval=0.05, embedded=False, consumer_threads=2,
                        jwt_secret="bench-secret-" + "x" * 32)
    runtime, definition = bootstrap(settings)
    definition.jobs = []          # the bench runs the sweep itself
    worker = Worker(runtime, definition)
    worker.declare_topology()
    worker.start()
    worker.wait_ready(15)
    return worker, vhost if ok else None


def broker_figures(db, worker, count, due_at) -> dict:
    deadline = time.monotonic() + 600
    while db["notifications"].count_documents({"kind": "reminder"}) < count and \
            time.monotonic() < deadline:
        time.sleep(0.2)
    notes = list(db["notifications"].find({"kind": "reminder"}, {"created_at": 1}))
    if not notes:
        return {"published": worker.relay.published, "inbox_entries": 0}
    lateness = [ms(n["created_at"] - due_at) for n in notes]
    last = max(n["created_at"] for n in notes)
    return {"published": worker.relay.published,
            "inbox_entries": len(notes),
            "inbox_per_s": round(len(notes) / max((last - due_at).total_seconds(), 1e-6), 1),
            "inbox_lateness_ms": {"p50": round(percentile(lateness, 50), 1),
                                  "p99": round(percentile(lateness, 99), 1),
                                  "max": round(max(lateness), 1)}}


def delete_vhost(vhost):
    if vhost:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--replicas", type=int, choices=(1, 2), default=2)
    parser.add_argument("--broker", action="store_true")
    parser.add_argument("--lead", type=float, default=3.0,
                        help="seconds between seeding and the due moment")
    args = parser.parse_args(argv)
    with local_database() as mongo_url:
        single = run(1, args.replicas, False, args.lead, mongo_url)
        report = run(args.count, args.replicas, args.broker, args.lead, mongo_url)
    width = max(len(k) for k in report)
    for key, value in report.items():
        print(f"{key:<{width}}  {value}")
    exactly_once = report.get("fired_twice", 0) == 0 and report["fired"] == args.count \
        and report.get("reminder_due_events", args.count) == args.count
    p99_s = report["lateness_ms"]["p99"] / 1000
    result(f"reminders {args.count} due at once, {args.replicas} replicas: p99 lateness",
           p99_s, "s", anchor="one reminder's lateness",
           anchor_value=single["lateness_ms"]["p99"] / 1000,
           target="p99 ≤ 2 s, exactly once", passed=p99_s <= 2 and exactly_once,
           p50_s=report["lateness_ms"]["p50"] / 1000, fired_per_s=report["fired_per_s"],
           exactly_once=exactly_once)
    return 0 if exactly_once else 1

if __name__ == "__main__":
    raise SystemExit(main())
