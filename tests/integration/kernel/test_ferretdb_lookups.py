"""Reads by `_id`, and by a field's value, are index lookups on the session's database
server, also when the filter holds more than that (as a conditional write under
`version` does, or a list's `$and` of clauses). On FerretDB that takes the build-time
patches in crm/ferretdb_go (patches.json and _overlay/); without them each of these
scanned and decoded the whole collection. The narrowing must never change a result:
MongoDB's equality also matches an array holding the value, and null a missing field.
(FerretDB explains only reads; its writes find their documents through the same query.)"""
from __future__ import annotations

import pytest

from crm_testing import fresh_database, plan_of, uses_an_index

ID_FILTERS = [{"_id": "c-7"}, {"_id": "c-7", "version": 3}]
FIELD_FILTERS = {
    "owner": {"owner_id": "u-3"},
    "owner in $and": {"$and": [{"deleted": False}, {"owner_id": "u-3"}]},
    "$in of owners": {"owner_id": {"$in": ["u-3", "u-4"]}},
    "$eq": {"owner_id": {"$eq": "u-3"}},
    "ids": {"_id": {"$in": ["c-1", "c-2"]}},
}
# Filters whose answer depends on MongoDB's equality rules; compared with a plain scan.
SEMANTICS = [
    {"owner_id": "u-3"}, {"owner_id": None}, {"owner_id": {"$in": ["u-4", None]}},
    {"shared_with": "u-3"}, {"shared_with": {"$in": ["u-9", "u-3"]}},
    {"deleted": True}, {"deleted": False}, {"$and": [{"deleted": False}, {"owner_id": "u-2"}]},
    {"name": "客户<1>"}, {"name": '客户"引号"'}, {"owner_id": "u-3", "deleted": False},
    {"owner_id": {"$in": []}}, {"$and": [{"owner_id": "u-3"}, {"owner_id": "u-4"}]},
]


@pytest.fixture(scope="module")
def collection():
    customers = fresh_database("lookups")["customers"]
    # enough documents and owners that, by the planner's statistics, an owner's index
    # beats reading the table
    docs = [{"_id": f"c-{i}", "version": 3, "name": f"客户{i}", "deleted": i % 10 == 0,
             "owner_id": f"u-{i % 100}", "shared_with": [f"u-{(i + 1) % 100}"]}
            for i in range(2000)]
    docs += [{"_id": "odd-1", "name": "客户<1>", "owner_id": None, "deleted": [False]},
             {"_id": "odd-2", "name": '客户"引号"', "shared_with": "u-3", "deleted": False},
             {"_id": "odd-3", "name": "客户x", "owner_id": ["u-3", "u-8"], "deleted": False}]
    customers.insert_many(docs)
    customers.create_index([("owner_id", 1), ("created_at", -1)])
    customers.create_index([("shared_with", 1)])
    return customers




@pytest.mark.parametrize("query", ID_FILTERS, ids=["id", "id+version"])
def test_a_find_by_id_is_an_index_lookup(collection, query):
    plan = plan_of(collection, {"find": collection.name, "filter": query})
    assert uses_an_index(plan, "_id_"), plan


@pytest.mark.parametrize("name", FIELD_FILTERS)
def test_a_find_by_a_fields_value_is_an_index_lookup(collection, name):
    index = "_id_" if name == "ids" else "owner_id_1_created_at_-1"
    plan = plan_of(collection, {"find": collection.name, "filter": FIELD_FILTERS[name]})
    assert uses_an_index(plan, index), plan


@pytest.mark.parametrize("query", SEMANTICS, ids=str)
def test_the_narrowing_never_changes_a_result(collection, query):
    # the same filter inside an `$or`, which nothing narrows: the server's own matcher
    # decides for every document
    expected = {d["_id"] for d in collection.find({"$or": [query]})}
    assert {d["_id"] for d in collection.find(query)} == expected
    assert collection.count_documents(query) == len(expected)
    assert expected or query in ({"owner_id": {"$in": []}},
                                 {"$and": [{"owner_id": "u-3"}, {"owner_id": "u-4"}]})


def test_a_filter_beyond_the_id_still_decides(collection):
    assert collection.update_one({"_id": "c-9", "version": 2},
                                 {"$set": {"name": "x"}}).matched_count == 0
    assert collection.update_one({"_id": "c-9", "version": 3},
                                 {"$set": {"version": 4}}).modified_count == 1
    assert collection.find_one({"_id": "c-9", "version": 3}) is None
    assert collection.find_one({"_id": "c-9", "version": 4})["name"] == "客户9"


def test_a_long_list_of_ids_is_read(collection):
    """Thousands of ids, as a bulk read or write names them: one `IN` list, which SQLite
    takes however long (a chain of ORs, one per id, past 1,000 made the query too deep
    for it: refused); strings and other types each keep to their own."""
    ids = [f"c-{i}" for i in range(0, 2000, 2)] + [f"missing-{i}" for i in range(2000)]
    query = {"_id": {"$in": ids}}
    assert {d["_id"] for d in collection.find(query)} == {f"c-{i}" for i in range(0, 2000, 2)}
    assert collection.count_documents({"_id": {"$in": [*ids, 7, None]}}) == 1000
    assert collection.update_many({"_id": {"$in": ids}, "version": 0},
                                  {"$set": {"name": "x"}}).matched_count == 0


def test_a_prefix_in_an_or_is_a_range_of_its_index():
    """What a supervisor sees: their own, their team's, and the teams below it (a prefix
    of `owner_team`). Each branch of the $or reads its index: the prefix as a range (it
    was a substr() no index serves, and the whole $or scanned the table: 8.8 s for a
    supervisor's search of 200,000 customers, 0.2 s now)."""
    customers = fresh_database("prefix-or")["customers"]
    customers.insert_many([{"_id": f"c-{i}", "owner_id": f"u-{i % 200}",
                            "owner_team": f"t-{i % 40}/s-{i % 3}" if i % 2 else f"t-{i % 40}"}
                           for i in range(4000)])
    customers.create_index([("owner_id", 1)])
    customers.create_index([("owner_team", 1)])
    query = {"$or": [{"owner_id": "u-7"}, {"owner_team": "t-3"},
                     {"owner_team": {"$regex": "^t-3/"}}]}
    plan = plan_of(customers, {"find": customers.name, "filter": query})
    assert "MULTI-INDEX OR" in plan and uses_an_index(plan, "owner_team_1"), plan
    scanned = {"$and": [query, {"_id": {"$exists": True}}]}   # the handler's own matcher
    assert sorted(d["_id"] for d in customers.find(query)) == sorted(
        d["_id"] for d in customers.find(scanned)) and customers.count_documents(query) == 120
