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
