"""Background runs (crmkit.background): accepted at once, run in a thread, their state
in the database for any process to answer; failures and stopped processes reported."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from crmkit.background import STALE_SECONDS, BackgroundRuns
from crmkit.clock import utcnow
from crmkit.errors import Invalid, TooManyRequests
from crm_testing import eventually, fresh_database


@pytest.fixture
def runs():
    store = BackgroundRuns(fresh_database("runs"))
    store.ensure_indexes()
    return store


def finished(runs, run_id):
    return eventually(lambda: runs.get(run_id)["state"] in ("done", "failed")
                      and runs.get(run_id), message=f"run {run_id} finished")


def test_a_run_reports_its_progress_and_then_its_result(runs):
    may_finish = threading.Event()

    def work(progress):
        progress("writing", 3, 10)
        may_finish.wait(30)
        return {"created": 10}

    accepted = runs.start("import", "u1", work, details={"filename": "a.xlsx"})
    assert accepted["state"] == "queued" and accepted["filename"] == "a.xlsx"
    running = eventually(lambda: runs.get(accepted["id"])["done"] == 3
                         and runs.get(accepted["id"]), message="progress written")
    assert (running["state"], running["phase"], running["total"]) == ("running", "writing", 10)
    assert running["started_at"] and running["finished_at"] is None
    may_finish.set()
    done = finished(runs, accepted["id"])
    assert (done["state"], done["result"], done["error"]) == ("done", {"created": 10}, None)
    assert done["finished_at"] and done["phase"] is None


def test_refused_input_fails_the_run_with_its_problem_and_a_bug_without_its_details(runs):
    def refused(progress):
        raise Invalid("file", "At most 50000 rows per file.")

    def broken(progress):
        raise KeyError("secret internals")

    failed = finished(runs, runs.start("import", "u1", refused)["id"])
    assert failed["state"] == "failed" and failed["result"] is None
    assert failed["error"]["code"] == "validation_error"
    assert failed["error"]["errors"] == {"file": ["At most 50000 rows per file."]}
    crashed = finished(runs, runs.start("import", "u1", broken)["id"])
    assert crashed["error"]["code"] == "internal_error"
    assert "secret" not in str(crashed["error"])


def test_a_process_takes_one_run_and_max_waiting_more_then_refuses(runs):
    runs.max_waiting = 1
    release = threading.Event()
    first = runs.start("import", "u1", lambda progress: release.wait(30) and {})
    second = runs.start("import", "u1", lambda progress: {"n": 2})
    with pytest.raises(TooManyRequests) as refused:
        runs.start("import", "u1", lambda progress: {})
    assert refused.value.extra["headers"]["Retry-After"]
    assert runs.get(second["id"])["state"] == "queued"
    release.set()
    assert finished(runs, second["id"])["result"] == {"n": 2}
    assert finished(runs, first["id"])["state"] == "done"
    assert runs.start("import", "u1", lambda progress: {})["state"] == "queued"


def test_a_run_whose_process_stopped_beating_shows_as_interrupted(runs):
    now = utcnow()
    runs.runs.insert_one({"_id": "r1", "kind": "import", "owner_id": "u1", "state": "running",
                          "done": 5, "total": 9, "created_at": now, "heartbeat_at": now})
    assert runs.get("r1")["state"] == "running"
    runs.clock = lambda: now + timedelta(seconds=STALE_SECONDS + 1)
    late = runs.get("r1")
    assert late["state"] == "failed" and late["error"]["code"] == "interrupted"


def test_a_stopping_process_marks_its_unfinished_runs_interrupted(runs):
    release = threading.Event()
    held = runs.start("import", "u1", lambda progress: release.wait(30) and {})
    runs._abandon()   # what atexit calls
    try:
        stopped = runs.get(held["id"])
        assert stopped["state"] == "failed" and stopped["error"]["code"] == "interrupted"
    finally:
        release.set()
    # the thread's late finish does not overwrite it
    eventually(lambda: runs._held == set(), message="the run's thread let go")
    assert runs.get(held["id"])["state"] == "failed"


def test_recent_lists_an_owners_runs_of_a_kind_newest_first(runs):
    runs.max_waiting = 10
    start, ticks = utcnow(), iter(range(1000))
    runs.clock = lambda: start + timedelta(seconds=next(ticks))
    ids = [runs.start("import", "u1", lambda progress: {})["id"] for _ in range(2)]
    runs.start("import", "u2", lambda progress: {})
    runs.start("rebuild", "u1", lambda progress: {})
    assert [r["id"] for r in runs.recent("import", "u1")] == ids[::-1]
    assert len(runs.recent("import")) == 3


def test_a_run_whose_state_cannot_be_written_does_not_stop_the_next(runs, monkeypatch):
    real_set = runs._set
    failing = {"once": True}

    def set_failing_once(run_id, state, **fields):
        if failing.pop("once", False):
            raise OSError("database went away")
        real_set(run_id, state, **fields)

    monkeypatch.setattr(runs, "_set", set_failing_once)
    lost = runs.start("import", "u1", lambda progress: {"n": 1})
    after = runs.start("import", "u1", lambda progress: {"n": 2})
    assert finished(runs, after["id"])["result"] == {"n": 2}
    assert runs.get(lost["id"])["state"] == "queued"   # until its heartbeat goes stale
