"""Reads by `_id` are index lookups on the session's database server, also when the
filter holds more than the `_id` (as a conditional write under `version` does). On
FerretDB that takes the build-time patches in crm/ferretdb_go/patches.json; without them
each of these scanned the whole collection. (FerretDB explains only reads; its writes
find their documents through the same query and the same `_id` expression.)"""
from __future__ import annotations

import pytest

from crm_testing import fresh_database

FILTERS = [{"_id": "c-7"}, {"_id": "c-7", "version": 3}]


@pytest.fixture(scope="module")
def collection():
    customers = fresh_database("lookups")["customers"]
    customers.insert_many([{"_id": f"c-{i}", "version": 3, "name": f"客户{i}"}
                           for i in range(50)])
    return customers


def plan_of(collection, command: dict) -> str:
    explained = collection.database.command("explain", command)
    return str(explained.get("queryPlanner"))


def uses_the_id_index(plan: str) -> bool:
    # FerretDB (SQLite) reports SQLite's plan, MongoDB its own stages
    return ("USING INDEX" in plan and "__id_" in plan) or (
        "COLLSCAN" not in plan and ("IDHACK" in plan or "IXSCAN" in plan or "EXPRESS" in plan))


@pytest.mark.parametrize("query", FILTERS, ids=["id", "id+version"])
def test_a_find_by_id_is_an_index_lookup(collection, query):
    plan = plan_of(collection, {"find": collection.name, "filter": query})
    assert uses_the_id_index(plan), plan


def test_a_filter_beyond_the_id_still_decides(collection):
    assert collection.update_one({"_id": "c-9", "version": 2},
                                 {"$set": {"name": "x"}}).matched_count == 0
    assert collection.update_one({"_id": "c-9", "version": 3},
                                 {"$set": {"version": 4}}).modified_count == 1
    assert collection.find_one({"_id": "c-9", "version": 3}) is None
    assert collection.find_one({"_id": "c-9", "version": 4})["name"] == "客户9"
