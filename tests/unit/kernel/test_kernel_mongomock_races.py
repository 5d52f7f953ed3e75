"""The mongomock factory serialises single-document writes, as MongoDB does, so a
conditional update decides a race for exactly one thread."""
from __future__ import annotations

import sys
import threading
import uuid

import pytest

from crmkit.mongo import get_database, mongo_client


@pytest.fixture(autouse=True)
def eager_thread_switching():
    """Switch threads every microsecond so that an unserialised find-then-modify really
    interleaves (with the default 5 ms, plain mongomock loses races too rarely to see)."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


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


@pytest.mark.parametrize("round_", range(10))
def test_twenty_threads_one_conditional_update_one_winner(round_):
    customers = get_database("mongomock://", f"kernel_race_{uuid.uuid4().hex}")["customers"]
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
    jobs = get_database("mongomock://", f"kernel_race_{uuid.uuid4().hex}")["jobs"]
    jobs.insert_many([{"_id": n, "taken_by": None} for n in range(5)])
    taken = []

    def take(number):
        doc = jobs.find_one_and_update({"taken_by": None}, {"$set": {"taken_by": number}})
        if doc is not None:
            taken.append(doc["_id"])

    _race(20, take)
    assert sorted(taken) == [0, 1, 2, 3, 4]


def test_one_client_and_database_per_url_and_name():
    name = f"kernel_race_{uuid.uuid4().hex}"
    assert mongo_client("mongomock://") is mongo_client("mongomock://")
    get_database("mongomock://", name)["x"].insert_one({"_id": 1})
    assert get_database("mongomock://", name)["x"].find_one({"_id": 1}) == {"_id": 1}
    assert list(get_database("mongomock://", name + "_other")["x"].find()) == []
