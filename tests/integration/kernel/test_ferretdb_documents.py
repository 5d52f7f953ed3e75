"""Every BSON value the CRM stores reads back exactly as written, one document at a time
and many in a scan. FerretDB's document decoding is patched at build time for speed
(crm/ferretdb_go/_overlay/internal/handler/sjson/fast.go, with the original decoder
kept for every form the fast path does not read); this holds both to the same answers."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from bson import Int64, ObjectId, Regex, Timestamp

from crm_testing import fresh_database

STRINGS = ["", "plain", "客户名称 有限公司", 'quote " inside', "back\\slash", "tab\tand\nnewline",
           "<script>&amp;</script>", "emoji 🎉", "\u2028separator", "\x01control", "ümlaut"]
NUMBERS = [0, 1, -1, 2**31 - 1, -2**31, Int64(2**31), Int64(-2**63), Int64(2**63 - 1),
           0.0, 1.5, -2.25, 1e300, 5e-324, 123456789.125, 1e21, float(2**53)]
MOMENTS = [datetime(2026, 12, 1, 22, 5, 59, 828000, tzinfo=timezone.utc),
           datetime(1969, 12, 31, 23, 59, 59, 1000, tzinfo=timezone.utc),
           datetime(1900, 1, 1, tzinfo=timezone.utc),
           datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc)]


def document(i: int) -> dict:
    return {"_id": f"d-{i}", "text": STRINGS[i % len(STRINGS)],
            "strings": STRINGS, "numbers": NUMBERS, "moments": MOMENTS,
            "flags": [True, False], "flag": i % 2 == 0, "nothing": None, "empty": [],
            "nested": {"level": {"deeper": [{"a": STRINGS[i % 3]}, {"b": [1, 2.5, "x"]}]}, "empty": {}},
            "oid": ObjectId("65a1f0c2e4b0a1b2c3d4e5f6"), "binary": b"\x00\xffbytes",
            "regex": Regex("^客户", "i"), "stamp": Timestamp(1796162759, 3)}


@pytest.fixture(scope="module")
def collection():
    values = fresh_database("documents")["values"]
    values.insert_many([document(i) for i in range(len(STRINGS))])
    return values


@pytest.mark.parametrize("i", range(len(STRINGS)))
def test_one_document_reads_back_as_written(collection, i):
    assert collection.find_one({"_id": f"d-{i}"}) == document(i)


def test_a_scan_reads_every_document_back_as_written(collection):
    read = {d["_id"]: d for d in collection.find({"numbers": {"$ne": "absent"}})}
    assert read == {f"d-{i}": document(i) for i in range(len(STRINGS))}


def test_values_keep_their_types(collection):
    doc = collection.find_one({"_id": "d-0"})
    assert [type(n) for n in doc["numbers"]] == [type(n) for n in NUMBERS]
    assert doc["numbers"][12:15] == [5e-324, 123456789.125, 1e21]   # exact, not rounded
    assert doc["moments"][1] < datetime(1970, 1, 1, tzinfo=timezone.utc) and doc["flag"] is True
    assert collection.count_documents({"moments": datetime(1900, 1, 1, tzinfo=timezone.utc)}) == 11


def test_a_long_document_reads_back_as_written(collection):
    # its schema text is longer than the parsed-schema cache keeps
    longer = collection.database["longer"]
    long = {"_id": "long", "items": [f"item-{i}" for i in range(3000)], "numbers": NUMBERS}
    longer.insert_one(long)
    assert longer.find_one({"_id": "long"}) == long
    assert list(longer.find({"numbers": 1})) == [long]
