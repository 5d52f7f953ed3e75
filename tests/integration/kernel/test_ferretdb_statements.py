"""Statements the database server keeps for reuse. The build's driver keeps each SQLite
connection's prepared statements (crm/ferretdb_go/_dependencies/modernc.org/sqlite/
stmtcache.go) where it prepared every statement again for each command: the same SQL
text is then run again with other arguments, after a failed run, and after the table
under it was dropped, made again or given an index. Each answer must be what a fresh
statement gives."""
from __future__ import annotations

import pytest
from pymongo.errors import DuplicateKeyError

from crm_testing import fresh_database

ROUNDS = 60   # distinct statements past the 32 a connection keeps


def test_the_same_statements_with_other_arguments_answer_each_time():
    collection = fresh_database("statements")["things"]
    for n in range(ROUNDS):
        collection.insert_one({"_id": f"t-{n}", "n": n, "group": n % 4})
    for n in range(ROUNDS):
        assert collection.find_one({"_id": f"t-{n}"})["n"] == n
        collection.update_one({"_id": f"t-{n}"}, {"$set": {"seen": n}})
        assert collection.count_documents({"group": n % 4}) == ROUNDS // 4
    assert sorted(d["seen"] for d in collection.find()) == list(range(ROUNDS))
    for n in range(1, ROUNDS + 1):   # a text of its own each (the IN list's length)
        ids = [f"t-{i}" for i in range(n)]
        assert sorted(d["n"] for d in collection.find({"_id": {"$in": ids}})) == \
            list(range(n))
    collection.delete_many({"group": 0})
    assert collection.count_documents({}) == ROUNDS - ROUNDS // 4


def test_a_statement_that_failed_runs_again():
    collection = fresh_database("statements")["things"]
    collection.insert_one({"_id": "a", "n": 1})
    for n in range(3):
        with pytest.raises(DuplicateKeyError):
            collection.insert_one({"_id": "a", "n": 2})
        collection.insert_one({"_id": f"b-{n}", "n": n})
    assert collection.find_one({"_id": "a"}) == {"_id": "a", "n": 1}
    assert collection.count_documents({}) == 4


def test_statements_follow_their_table_dropped_made_again_and_indexed():
    database = fresh_database("statements")
    collection = database["things"]
    collection.insert_many([{"_id": f"t-{n}", "n": n} for n in range(5)])
    assert collection.count_documents({"n": {"$gte": 2}}) == 3
    collection.drop()
    assert collection.count_documents({"n": {"$gte": 2}}) == 0
    collection.insert_many([{"_id": f"u-{n}", "n": n * 10} for n in range(5)])
    assert [d["_id"] for d in collection.find({"n": {"$gte": 20}}).sort("n", 1)] == \
        ["u-2", "u-3", "u-4"]
    collection.create_index([("n", 1)])
    collection.insert_one({"_id": "u-5", "n": 50})
    assert [d["_id"] for d in collection.find({"n": {"$gte": 20}}).sort("n", 1)] == \
        ["u-2", "u-3", "u-4", "u-5"]
    collection.drop_index([("n", 1)])
    assert collection.count_documents({"n": {"$gte": 20}}) == 4
