"""Reminders fire through firing records (TaskHandlers.fire_due_reminders): exactly once
when two schedulers race on the same tasks, after a crash between the record and the
task's mark, and when a task is edited between the two. Over FerretDB, no broker: no
relay runs, so every reminder.due ever written is still in an outbox to be counted."""
from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest

from crm_testing import fresh_database
from crmkit.bus.outbox import pending_envelopes
from crmkit.directory import UserDirectory
from people import person
from services.tasks import schemas  # noqa: F401  (registers the event schemas)
from services.tasks.handlers import TaskHandlers
from services.tasks.repository import Repositories
from task_people import NOW, Clock

REP = person("u1", "rep", "east/a")
COUNT = 8


@pytest.fixture
def world():
    """A database with COUNT tasks reminding at NOW + 1 h, and a clock past that."""
    db = fresh_database("firings")
    clock = Clock()
    maker = TaskHandlers(Repositories(db), UserDirectory(db), clock=clock)
    tasks = [maker.create(REP, {"title": f"t{i}", "due_at": NOW + timedelta(days=1),
                                "reminders": [{"remind_at": NOW + timedelta(hours=1)}]})
             for i in range(COUNT)]
    clock.now = NOW + timedelta(hours=2)
    return db, clock, tasks


def scheduler(db, clock) -> TaskHandlers:
    """One replica's scheduler: a process of its own (its own repositories, state)."""
    return TaskHandlers(Repositories(db), UserDirectory(db), clock=clock)


def recorded(db) -> Counter:
    """How many reminder.due each reminder has, wherever written."""
    return Counter(e["data"]["reminder_id"] for name in ("reminder_firings", "tasks")
                   for doc in db[name].find() for e in pending_envelopes(doc)
                   if e["type"] == "reminder.due")


def crash_after_the_records(db, clock) -> None:
    """A scheduler that dies between inserting the firing records and marking the
    tasks (its process gone: nothing of it is used again)."""
    def die(*args, **kwargs):
        raise SystemExit("worker killed between the firing records and the marks")

    crashing = scheduler(db, clock)
    crashing.repo.mark_fired = die
    with pytest.raises(SystemExit):
        crashing.fire_due_reminders()


def stored(db, task_id):
    return db["tasks"].find_one({"_id": task_id})


def assert_each_fired_once(db, tasks):
    counts = recorded(db)
    assert set(counts) == {t.reminders[0].id for t in tasks}
    assert set(counts.values()) == {1}
    for task in tasks:
        doc = stored(db, task.id)
        assert doc["reminders"][0]["fired_at"] is not None
        assert doc["next_remind_at"] is None


def test_two_schedulers_racing_on_the_same_read_fire_each_reminder_once(world):
    db, clock, tasks = world
    first, second = scheduler(db, clock), scheduler(db, clock)
    # Both read the due tasks before either fires (a lease that lapsed under a slow
    # holder): the second fires from a read that the first has made stale.
    stale = second.repo.due_for_reminders(clock.now)
    assert len(stale) == COUNT
    second.repo.due_for_reminders = lambda *args, **kwargs: stale
    assert first.fire_due_reminders() == COUNT
    assert second.fire_due_reminders() == 0
    assert_each_fired_once(db, tasks)
    # the tasks took the mark once: one version up from creation
    assert {stored(db, t.id)["version"] for t in tasks} == {2}


def test_a_crash_after_the_records_before_the_marks_fires_nothing_twice(world):
    db, clock, tasks = world
    crash_after_the_records(db, clock)
    assert sum(recorded(db).values()) == COUNT                   # the records went in
    fired_at = {doc["reminder_id"]: doc["fired_at"] for doc in db["reminder_firings"].find()}
    assert all(stored(db, t.id)["next_remind_at"] for t in tasks)   # still due

    clock.now += timedelta(minutes=1)
    restarted = scheduler(db, clock)
    assert restarted.fire_due_reminders() == 0       # every insert meets its record
    assert_each_fired_once(db, tasks)
    for task in tasks:   # marked with when it really fired, not with the restart's time
        reminder = stored(db, task.id)["reminders"][0]
        assert reminder["fired_at"] == fired_at[reminder["id"]]
    assert db["reminder_firings"].count_documents({"applied": False}) == 0
    assert restarted.fire_due_reminders() == 0


def test_a_task_edited_between_its_record_and_its_mark_keeps_the_edit(world):
    db, clock, tasks = world
    service = scheduler(db, clock)
    editor = scheduler(db, clock)
    real_record = service.repo.record_firings
    edited = tasks[0]

    def record_then_someone_edits(firings):
        went_in = real_record(firings)
        editor.edit(REP, edited.id, {"title": "edited meanwhile"})
        return went_in

    service.repo.record_firings = record_then_someone_edits
    assert service.fire_due_reminders() == COUNT
    assert_each_fired_once(db, tasks)
    doc = stored(db, edited.id)
    assert doc["title"] == "edited meanwhile"                 # the edit stands
    assert doc["version"] == 3                                # created, edited, marked
    assert db["reminder_firings"].count_documents({"applied": False}) == 0


def test_reminders_replaced_before_the_mark_leave_the_new_ones_to_fire(world):
    db, clock, tasks = world
    crash_after_the_records(db, clock)
    # The user replaces the reminders of a task that (unknown to its copy) has fired.
    replaced = tasks[0]
    editor = scheduler(db, clock)
    later = clock.now + timedelta(hours=1)
    editor.edit(REP, replaced.id, {"reminders": [{"remind_at": later}]})

    restarted = scheduler(db, clock)
    assert restarted.fire_due_reminders() == 0
    doc = stored(db, replaced.id)
    assert [r["fired_at"] for r in doc["reminders"]] == [None]   # the new one waits
    assert db["reminder_firings"].count_documents({"applied": False}) == 0
    clock.now = later
    assert restarted.fire_due_reminders() == 1
    counts = recorded(db)
    assert len(counts) == COUNT + 1 and set(counts.values()) == {1}


def test_read_ahead_fires_each_at_its_moment_not_before(world):
    db, clock, tasks = world
    clock.now = NOW + timedelta(minutes=59, seconds=59)    # one second before they are due
    service = scheduler(db, clock)
    moments = iter([clock.now] + [NOW + timedelta(hours=1)] * 100)
    service.clock = lambda: next(moments)
    assert service.fire_due_reminders(clock.now, read_ahead=5.0) == COUNT
    for task in tasks:
        assert stored(db, task.id)["reminders"][0]["fired_at"] >= NOW + timedelta(hours=1)
    assert_each_fired_once(db, tasks)


def test_a_stopping_worker_stops_waiting_for_a_read_ahead_moment_and_leaves_it_due(world):
    db, clock, tasks = world
    clock.now = NOW + timedelta(minutes=59, seconds=57)    # three seconds before
    service = scheduler(db, clock)
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    started = time.monotonic()
    assert service.fire_due_reminders(clock.now, read_ahead=5.0, stop=stop) == 0
    assert time.monotonic() - started < 2.5   # not the three seconds to their moment
    assert not recorded(db) and all(stored(db, t.id)["next_remind_at"] for t in tasks)
    clock.now = NOW + timedelta(hours=1)
    assert scheduler(db, clock).fire_due_reminders() == COUNT   # the next holder's
    assert_each_fired_once(db, tasks)
