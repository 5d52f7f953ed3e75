"""The database server decides races on single-document writes: a conditional update
wins for exactly one thread (what optimistic concurrency and the pool's claim rely on)."""
from __future__ import annotations

import threading
import uuid

import pytest

from crm_testing import fresh_database, session_mongo_url
from crmkit.mongo import get_database, mongo_client


def _race(threads, target):
    barrier = threading.Barrier(threads)

    def run(number):
        barrier.wait()
        target(number)

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


@pytest.mark.parametrize("round_", range(3))
def test_twenty_threads_one_conditional_update_one_winner(round_):
    customers = fresh_database("race")["customers"]
    customers.insert_one({"_id": "c1", "owner_id": None, "version": 1})
    wins = []

    def claim(number):
        result = customers.update_one({"_id": "c1", "version": 1, "owner_id": None},
                                      {"$set": {"owner_id": f"rep{number}"},
                                       "$inc": {"version": 1}})
        if result.modified_count:
            wins.append(f"rep{number}")

    _race(20, claim)
    assert len(wins) == 1
    doc = customers.find_one({"_id": "c1"})
    assert doc["owner_id"] == wins[0] and doc["version"] == 2


def test_find_one_and_update_hands_each_item_to_one_thread():
    jobs = fresh_database("race")["jobs"]
    jobs.insert_many([{"_id": n, "taken_by": None} for n in range(5)])
    taken = []

    def take(number):
        doc = jobs.find_one_and_update({"taken_by": None}, {"$set": {"taken_by": number}})
        if doc is not None:
            taken.append(doc["_id"])

    _race(20, take)
    assert sorted(taken) == [0, 1, 2, 3, 4]


def test_one_client_and_database_per_url_and_name():
    name, url = f"race_{uuid.uuid4().hex[:10]}", session_mongo_url()
    assert mongo_client(url) is mongo_client(url)
    get_database(url, name)["x"].insert_one({"_id": 1})
    assert get_database(url, name)["x"].find_one({"_id": 1}) == {"_id": 1}
    assert list(get_database(url, name + "_other")["x"].find()) == []
