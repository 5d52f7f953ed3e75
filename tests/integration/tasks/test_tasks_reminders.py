"""Reminders fire exactly once each, at their time, as an inbox entry and a reminder.due
event: with one worker, with two worker replicas, and across a worker restart."""
from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest

from crm_testing import eventually
from crmkit.bus.outbox import pending_envelopes
from crmkit.clock import utcnow
from crmkit.directory import UserDirectory
from crmkit.scheduling import run_periodic
from crmkit.service import Worker
from people import person
from services.tasks.app import bootstrap
from services.tasks.domain import create_task
from services.tasks.handlers import TaskHandlers
from services.tasks.reminders_loop import READ_AHEAD, reminder_job
from services.tasks.repository import Repositories, task_to_doc
from tasks_helpers import iso, now, reminders_swept, spying
from crm_testing import fresh_database

API = "/api/v1"


def task_with_reminder(session, remind_at, title="提醒我"):
    reply = session.post(f"{API}/tasks", json={
        "title": title, "type": "call", "due_at": iso(remind_at + timedelta(days=1)),
        "reminders": [{"remind_at": iso(remind_at)}]})
    assert reply.status_code == 201, reply
    return reply.json


def reminder_notes(session):
    items = session.get(f"{API}/notifications?per_page=100").json["items"]
    return [n for n in items if n["kind"] == "reminder"]


def test_a_reminder_fires_once_at_its_time_as_inbox_entry_and_event(system, org, amqp_url):
    rep = org.user("rep")
    with spying(amqp_url, "reminder.due") as spy:
        remind_at = now() + timedelta(seconds=2)
        task = task_with_reminder(rep, remind_at)
        assert reminder_notes(rep) == []             # not before its time
        [event] = spy.wait_for(1, timeout=10)
        notes = eventually(lambda: reminder_notes(rep), timeout=5, message="inbox entry")
        reminders_swept(org.admin, spy)
        assert len(spy.drain()) == 1 and len(reminder_notes(rep)) == 1
    data = event["data"]
    assert data["task_id"] == task["id"] and data["user_id"] == rep.id
    assert data["reminder_id"] == task["reminders"][0]["id"]
    assert data["fired_at"] >= data["remind_at"]
    assert notes[0]["ref"] == {"type": "task", "id": task["id"]} and not notes[0]["read"]
    unread = rep.get(f"{API}/notifications?unread=true").json
    assert unread["total"] == 1 and unread["unread"] == 1
    fired = rep.get(f"{API}/tasks/{task['id']}").json["reminders"][0]
    assert fired["fired"] is True


def test_a_closed_task_does_not_remind(system, org, amqp_url):
    """Closed more than READ_AHEAD before its time (a sweep may read a reminder that
    early and fire it as read: TaskHandlers.fire_due_reminders says what that costs);
    the shelve must land that early, so a slow one tries again further ahead."""
    rep = org.user("rep")
    with spying(amqp_url, "reminder.due") as spy:
        for lead in (READ_AHEAD + 3, READ_AHEAD + 15, READ_AHEAD + 60):
            remind_at = now() + timedelta(seconds=lead)
            task = task_with_reminder(rep, remind_at)
            assert rep.post(f"{API}/tasks/{task['id']}/status",
                            json={"status": "shelved"}).status_code == 200
            if now() < remind_at - timedelta(seconds=READ_AHEAD):
                break
        else:
            pytest.fail("no task was shelved within 60 s of being made")
        eventually(lambda: now() > remind_at, timeout=lead + 5, message="its time")
        reminders_swept(org.admin, spy)              # a sweep after its time
        assert [e for e in spy.drain() if e["data"]["task_id"] == task["id"]] == []
        assert [n for n in reminder_notes(rep) if n["ref"]["id"] == task["id"]] == []


def second_replica(settings) -> Worker:
    runtime, definition = bootstrap(settings)
    worker = Worker(runtime, definition)
    worker.declare_topology()
    return worker.start()


def sweeper(settings):
    """The reminder sweep of a replica, to call directly (no lease): proves the
    per-reminder guarantee, not just the scheduler lease."""
    _, definition = bootstrap(settings)
    return definition.jobs[0].run


def hammer(sweeps, stop: threading.Event) -> list[threading.Thread]:
    threads = []
    for sweep in sweeps:
        def loop(sweep=sweep):
            while not stop.is_set():
                sweep(utcnow())
        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        threads.append(thread)
    return threads


def test_two_worker_replicas_fire_each_reminder_exactly_once(system, org, amqp_url, settings):
    rep = org.user("rep")
    count = 30
    replica = second_replica(settings)
    stop = threading.Event()
    threads: list[threading.Thread] = []
    try:
        with spying(amqp_url, "reminder.due") as spy:
            # due together, far enough ahead that all 30 are made first on a loaded machine
            remind_at = now() + timedelta(seconds=12)
            tasks = [task_with_reminder(rep, remind_at, f"任务 {i}") for i in range(count)]
            # Besides both replicas' schedulers, sweep from both sides without a lease.
            threads = hammer([sweeper(settings), sweeper(settings)], stop)
            events = spy.wait_for(count, timeout=40)
            eventually(lambda: len(reminder_notes(rep)) >= count, timeout=10,
                       message="all inbox entries")
            reminders_swept(org.admin, spy)
            events = spy.drain()
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
        replica.stop()
    per_reminder = Counter(e["data"]["reminder_id"] for e in events)
    assert len(per_reminder) == count and set(per_reminder.values()) == {1}
    assert {e["data"]["task_id"] for e in events} == {t["id"] for t in tasks}
    notes = reminder_notes(rep)
    assert len(notes) == count
    assert len({n["ref"]["id"] for n in notes}) == count
    assert min(e["data"]["fired_at"] for e in events) >= iso(remind_at)[:23]


def test_reminders_survive_a_worker_crash_and_restart_firing_once(system, org, amqp_url,
                                                                  settings):
    rep = org.user("rep")
    count = 12
    worker = system.services["tasks"].extensions["crm.worker"]
    worker.stop()                                   # the worker goes down
    restarted = None
    try:
        with spying(amqp_url, "reminder.due") as spy:
            remind_at = now() + timedelta(seconds=1)
            tasks = [task_with_reminder(rep, remind_at, f"重启 {i}") for i in range(count)]
            eventually(lambda: utcnow() > remind_at + timedelta(seconds=0.5),
                       message="the reminders due")
            assert spy.drain() == []                 # nobody is firing while it is down

            # A replica dies in the middle of its sweep: its firing records are written,
            # none of its tasks marked.
            crashing = crashing_sweeper(settings)
            with pytest.raises(SystemExit):
                crashing(utcnow())

            restarted = second_replica(settings)     # the worker comes back
            events = spy.wait_for(count, timeout=20)
            eventually(lambda: len(reminder_notes(rep)) >= count, timeout=10,
                       message="all inbox entries after restart")
            reminders_swept(org.admin, spy)
            events = spy.drain()
    finally:
        # the module's system carries on with the restarted worker in the stopped one's place
        system.services["tasks"].extensions["crm.worker"] = (
            restarted or second_replica(settings))
    per_reminder = Counter(e["data"]["reminder_id"] for e in events)
    assert len(per_reminder) == count and set(per_reminder.values()) == {1}
    assert {e["data"]["task_id"] for e in events} == {t["id"] for t in tasks}
    assert len(reminder_notes(rep)) == count


def crashing_sweeper(settings):
    """One sweep of a replica's reminder loop whose process dies after writing the
    firing records, before marking any task."""
    _, definition = bootstrap(settings)
    sweep = definition.jobs[0].run.__self__.fire_due   # one sweep of the reminder loop
    service = sweep.func.__self__

    def die(*args, **kwargs):
        raise SystemExit("worker killed mid-sweep")

    service.repo.mark_fired = die
    return sweep


# ---------------------------------------------------------------- storage-level race

def recorded_reminders(db) -> list[dict]:
    """Every reminder.due ever written (no relay runs: they are all still in outboxes):
    in the firing records, and in the tasks (where none should be)."""
    return [e for name in ("reminder_firings", "tasks") for doc in db[name].find()
            for e in pending_envelopes(doc) if e["type"] == "reminder.due"]


TASKS = 60


def test_concurrent_sweeps_over_one_database_write_each_reminder_once():
    """Four sweepers (two services) race over 60 tasks x 2 due reminders; no relay
    runs, so every reminder.due ever written is still in the outbox to be counted.
    (Exactly-once is the point here; how many fire how fast is bench/tasks.py's.)"""
    db = fresh_database("race")
    t0 = utcnow()
    services = [TaskHandlers(Repositories(db), UserDirectory(db), clock=lambda: t0)
                for _ in range(2)]
    rep = person("u1", "rep", "east/a")
    for i in range(TASKS):
        services[0].create(rep, {"title": f"t{i}", "due_at": t0 + timedelta(days=1),
                                 "reminders": [{"remind_at": t0 + timedelta(seconds=1)},
                                               {"remind_at": t0 + timedelta(seconds=2)}]})
    later = t0 + timedelta(seconds=3)
    fired = []
    barrier = threading.Barrier(4)

    def sweep(service):
        barrier.wait()
        deadline = time.monotonic() + 60   # sweep until nothing is due, as the job does
        while time.monotonic() < deadline:
            count = service.fire_due_reminders(later)
            fired.append(count)
            if not count and not db["tasks"].count_documents({"next_remind_at": {"$lte": later}}):
                return

    threads = [threading.Thread(target=sweep, args=(s,)) for s in services * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    outbox = recorded_reminders(db)
    per_reminder = Counter(e["data"]["reminder_id"] for e in outbox)
    assert len(per_reminder) == 2 * TASKS and set(per_reminder.values()) == {1}
    assert sum(fired) == 2 * TASKS
    assert db["tasks"].count_documents({"next_remind_at": {"$ne": None}}) == 0


def test_two_replicas_of_the_reminder_job_fire_each_reminder_exactly_once():
    """The worker's own `reminders` job in two replicas (lease, loop and batches) over
    one database: every reminder fires, none twice (bench/tasks.py measures how fast)."""
    db = fresh_database("replicas")
    t0 = utcnow()
    services = [TaskHandlers(Repositories(db), UserDirectory(db)) for _ in range(2)]
    rep = person("u1", "rep", "east/a")
    count = 40
    for i in range(count):
        services[0].create(rep, {"title": f"r{i}", "due_at": t0 + timedelta(days=1),
                                 "reminders": [{"remind_at": t0 + timedelta(seconds=1)}]})
    stop = threading.Event()
    threads = [threading.Thread(target=run_periodic, daemon=True,
                                args=(reminder_job(s), db["_leases"], stop))
               for s in services]
    for thread in threads:
        thread.start()
    try:
        eventually(lambda: db["tasks"].count_documents({"next_remind_at": {"$ne": None}}) == 0,
                   timeout=60, message="every reminder fired")
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    outbox = recorded_reminders(db)
    per_reminder = Counter(e["data"]["reminder_id"] for e in outbox)
    assert len(per_reminder) == count and set(per_reminder.values()) == {1}



def test_a_sweep_hands_out_only_due_tasks_oldest_first_up_to_its_limit():
    """The due query (`next_remind_at` $lte the horizon, sorted on its index): a task
    with no reminder left (null, or no field at all) or one due later is never handed
    out; the due ones come oldest first, each once, at most `limit` of them."""
    db = fresh_database("due")
    repositories = Repositories(db)
    repositories.ensure_indexes()
    t0 = utcnow()
    rep = person("u1", "rep", "east/a")

    def task_doc(title, remind_at):
        task = create_task(rep, title=title, due_at=t0 + timedelta(days=1),
                           reminders=[{"remind_at": remind_at}], now=t0 - timedelta(hours=1))
        return task_to_doc(task)

    db["tasks"].insert_many(
        [task_doc(f"due {i}", t0 - timedelta(minutes=i)) for i in range(5)]
        + [task_doc("later", t0 + timedelta(minutes=1)),
           {**task_doc("closed", t0 - timedelta(minutes=9)), "next_remind_at": None}])
    bare = task_doc("no field", t0 - timedelta(minutes=8))
    del bare["next_remind_at"]
    db["tasks"].insert_one(bare)
    handed = [task.title for task in repositories.tasks.due_for_reminders(t0)]
    assert [task.title for task in repositories.tasks.due_for_reminders(t0, limit=2)] == \
        ["due 4", "due 3"]
    assert handed == [f"due {i}" for i in (4, 3, 2, 1, 0)]
