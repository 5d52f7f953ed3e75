"""Building an index on FerretDB (the CRM's build, crm/ferretdb_go/patches.json): the new
index gets planner statistics at once, and an index SQLite built but FerretDB did not
record (its record failed, the database busy: seen adding an index to 11.7 million search
rows) is taken by the next createIndexes of the same keys instead of failing at every
start. On its own server, whose file the test reads and edits between two starts."""
from __future__ import annotations

import json
import sqlite3

from pymongo import MongoClient

from crm.ferretdb import FerretServer

KEYS = [("term", 1), ("lcp", 1)]


def sqlite_file(folder):
    return sqlite3.connect(folder / "crm_probe.sqlite")


def test_a_built_index_is_analyzed_and_one_left_unrecorded_is_taken_next_time(tmp_path):
    with FerretServer(tmp_path) as server:
        client = MongoClient(server.url, socketTimeoutMS=30_000)   # fails, never hangs
        # an index on a collection not made yet (its _id index is built from within)
        assert client["crm_probe"]["fresh"].create_index(KEYS) == "term_1_lcp_1"
        rows = client["crm_probe"]["rows"]
        rows.insert_many([{"_id": f"r{i}", "term": f"t{i % 7}", "lcp": i % 3}
                          for i in range(60)])
        name = rows.create_index(KEYS)
    with sqlite_file(tmp_path) as db:
        table, settings = db.execute("SELECT table_name, settings FROM _ferretdb_collections"
                                     " WHERE name = 'rows'").fetchone()
        assert db.execute("SELECT count(*) FROM sqlite_stat1 WHERE idx = ?",
                          (f"{table}_{name}",)).fetchone() == (1,)
        # as after a failed record: the index in the file, not in FerretDB's metadata
        settings = json.loads(settings)
        settings["indexes"] = [i for i in settings["indexes"] if i["name"] != name]
        db.execute("UPDATE _ferretdb_collections SET settings = ? WHERE name = 'rows'",
                   (json.dumps(settings),))
    with FerretServer(tmp_path) as server:
        rows = MongoClient(server.url, socketTimeoutMS=30_000)["crm_probe"]["rows"]
        assert name not in rows.index_information()
        assert rows.create_index(KEYS) == name
        assert name in rows.index_information()
        assert rows.count_documents({"term": "t3"}) == 9
