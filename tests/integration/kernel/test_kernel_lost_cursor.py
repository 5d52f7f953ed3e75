"""A long read whose cursor the server dropped mid-way (crmkit.queries.resumed) reads on
from where it was, on the real server: each document once, in order."""
from __future__ import annotations

from crmkit.queries import resumed
from crm_testing import fresh_database


def test_a_read_goes_on_after_the_server_dropped_its_cursor():
    collection = fresh_database("reads").rows
    collection.insert_many([{"_id": f"r{n:03d}", "n": n} for n in range(30)])
    cursors = []

    def read(skip: int):
        cursor = collection.find({}, batch_size=5).sort([("n", 1)]).skip(skip).limit(30 - skip)
        cursors.append(cursor)
        return cursor

    seen = []
    for doc in resumed(read):
        seen.append(doc["n"])
        if len(seen) == 7:   # mid-way through the second batch: the server drops it
            collection.database.command("killCursors", collection.name,
                                        cursors=[cursors[0].cursor_id])
    assert seen == list(range(30))
    assert len(cursors) == 2, "read again once, past the 10 documents already handed out"
