"""apply_once: an event changes a document at most once, deduplicated in the same write."""
from __future__ import annotations

import threading

import pytest

from crmkit.bus.idempotent import SEEN, TRIM_SLACK, WINDOW, apply_once
from crm_testing import fresh_database


@pytest.fixture
def counters():
    return fresh_database("once")["counters"]


def test_applies_once_and_reports_a_duplicate(counters):
    counters.insert_one({"_id": "c", "n": 0})
    assert apply_once(counters, {"_id": "c"}, {"$inc": {"n": 1}}, "ev-1") is True
    assert apply_once(counters, {"_id": "c"}, {"$inc": {"n": 1}}, "ev-1") is False
    assert apply_once(counters, {"_id": "c"}, {"$inc": {"n": 1}}, "ev-2") is True
    doc = counters.find_one({"_id": "c"})
    assert doc["n"] == 2 and doc[SEEN] == ["ev-1", "ev-2"]


def test_keeps_the_callers_push_and_filter(counters):
    counters.insert_one({"_id": "c", "n": 0, "log": [], "kind": "a"})
    update = {"$inc": {"n": 1}, "$push": {"log": "x"}}
    assert apply_once(counters, {"_id": "c", "kind": "a"}, update, "ev-1")
    assert update == {"$inc": {"n": 1}, "$push": {"log": "x"}}  # not modified in place
    assert apply_once(counters, {"_id": "c", "kind": "b"}, update, "ev-2") is False
    assert counters.find_one({"_id": "c"})["log"] == ["x"]


def test_a_missing_document_is_not_applied_without_upsert(counters):
    assert apply_once(counters, {"_id": "nobody"}, {"$inc": {"n": 1}}, "ev-1") is False
    assert counters.count_documents({}) == 0


def test_upsert_creates_once_and_a_duplicate_is_refused(counters):
    update = {"$inc": {"n": 1}, "$set": {"name": "new"}}
    assert apply_once(counters, {"_id": "c"}, update, "ev-1", upsert=True) is True
    # The same event again: the guarded filter misses, the upsert collides on _id.
    assert apply_once(counters, {"_id": "c"}, update, "ev-1", upsert=True) is False
    assert counters.find_one({"_id": "c"})["n"] == 1
    assert apply_once(counters, {"_id": "c"}, update, "ev-2", upsert=True) is True
    assert counters.find_one({"_id": "c"})["n"] == 2


def test_the_seen_list_is_bounded(counters):
    counters.insert_one({"_id": "c", "n": 0})
    last = WINDOW + TRIM_SLACK + 4
    for number in range(last + 1):
        apply_once(counters, {"_id": "c"}, {"$inc": {"n": 1}}, f"ev-{number}")
    doc = counters.find_one({"_id": "c"})
    assert WINDOW <= len(doc[SEEN]) < WINDOW + TRIM_SLACK and doc[SEEN][-1] == f"ev-{last}"
    assert doc["n"] == last + 1 and "ev-0" not in doc[SEEN]
    assert apply_once(counters, {"_id": "c"}, {"$inc": {"n": 1}}, f"ev-{last}") is False


def test_concurrent_deliveries_of_one_event_apply_once(counters):
    # Two consumer replicas got the same message (a redelivery race): one applies it.
    counters.insert_one({"_id": "c", "n": 0})
    barrier = threading.Barrier(10)
    results = []

    def deliver():
        barrier.wait()
        results.append(apply_once(counters, {"_id": "c"}, {"$inc": {"n": 1}}, "ev-1"))

    threads = [threading.Thread(target=deliver) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 9 + [True]
    assert counters.find_one({"_id": "c"})["n"] == 1
