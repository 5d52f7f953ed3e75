"""Many writes in one command. FerretDB 1.24 held a connection for each statement of an
update command until the command ended, so a bulk write of about 100 matching updates
waited forever for a connection, and every other write with it; the build's patch
(crm/ferretdb_go/patches.json, internal/handler/msg_update.go) closes each statement's
query once it is done."""
from __future__ import annotations

import pytest
from pymongo import UpdateOne

from crm_testing import fresh_database

MANY = 250   # past the pool's 100 connections


@pytest.mark.timeout(120)
def test_a_bulk_write_of_many_matching_updates_completes():
    collection = fresh_database("bulkupdates")["counters"]
    collection.insert_many([{"_id": f"c-{i}", "n": 0} for i in range(MANY)])
    result = collection.bulk_write([UpdateOne({"_id": f"c-{i}"}, {"$inc": {"n": 1}})
                                    for i in range(MANY)], ordered=False)
    assert result.matched_count == MANY and result.modified_count == MANY
    result = collection.bulk_write([UpdateOne({"_id": f"c-{i}", "n": 1}, {"$inc": {"n": i}})
                                    for i in range(MANY)])
    assert result.modified_count == MANY
    assert sorted(d["n"] for d in collection.find()) == [1 + i for i in range(MANY)]


@pytest.mark.timeout(120)
def test_an_update_of_many_documents_writes_each_once_in_hundreds():
    """One update command changing 250 documents (written 100 per statement by the
    build's UpdateAll) writes each of them, only those its filter matched, and counts
    the unchanged ones as matched, not modified."""
    collection = fresh_database("manyupdates")["things"]
    collection.insert_many([{"_id": f"t-{i}", "n": i, "group": i % 3, "tags": ["a"]}
                            for i in range(MANY)])
    collection.insert_one({"_id": 'quote"and\\slash', "n": -1, "group": 0, "tags": []})
    result = collection.update_many({"group": 0}, {"$set": {"seen": True},
                                                   "$push": {"tags": "b"}})
    in_group = [i for i in range(MANY) if i % 3 == 0]
    assert result.matched_count == result.modified_count == len(in_group) + 1
    result = collection.update_many({"group": {"$in": [0, 1]}}, {"$set": {"seen": True}})
    in_groups = [i for i in range(MANY) if i % 3 < 2]
    assert result.matched_count == len(in_groups) + 1
    assert result.modified_count == len(in_groups) - len(in_group)
    by_id = {doc["_id"]: doc for doc in collection.find()}
    assert len(by_id) == MANY + 1
    for i in range(MANY):
        doc = by_id[f"t-{i}"]
        assert doc["n"] == i and doc.get("seen") is (True if i % 3 < 2 else None)
        assert doc["tags"] == (["a", "b"] if i % 3 == 0 else ["a"])
    assert by_id['quote"and\\slash'] == {"_id": 'quote"and\\slash', "n": -1, "group": 0,
                                         "tags": ["b"], "seen": True}
