"""Counts and list pages are answered by the database server without reading the whole
collection, and the answers are exactly MongoDB's. On FerretDB that takes the build-time
patch crm/ferretdb_go/_overlay/internal/backends/sqlite/exact.go: a filter with an exact
SQL form is counted, sorted, skipped and limited in SQL. Every answer here is compared
with the same query given a clause nothing translates (`_id: {$exists: true}`), which
leaves FerretDB's own matcher and sort to decide, and on MongoDB changes nothing."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from bson import ObjectId

from crm_testing import fresh_database, plan_of, uses_an_index
from crmkit.queries import count_matching

OID = [ObjectId(f"{i:024x}") for i in range(1, 6)]
DAY = datetime(2026, 3, 1)


def documents() -> list[dict]:
    docs = []
    for i in range(48):
        doc = {"_id": f"c-{i:02d}", "name": f"客户{i % 7}号", "owner_id": f"u-{i % 5}",
               "deleted": i % 9 == 0, "n": [i, i * 1.5, i * 10 ** 10][i % 3],
               "created_at": DAY + timedelta(hours=i * 7), "tags": [f"t{i % 3}", f"t{i % 4}"],
               "ref": OID[i % 5]}
        if i % 11 == 0:
            del doc["owner_id"]
        if i % 13 == 0:
            doc["owner_id"] = None
        docs.append(doc)
    docs += [
        {"_id": "odd-array", "name": "Zeta", "owner_id": ["u-1", "u-9"], "n": [3, 400],
         "deleted": [False], "tags": "t1", "created_at": [DAY, DAY + timedelta(days=40)]},
        {"_id": "odd-types", "name": 42, "owner_id": OID[1], "n": "5", "deleted": 0,
         "created_at": "2026-03-02", "ref": str(OID[1]), "tags": []},
        {"_id": "odd-text", "name": 'a"quoted"\\name', "owner_id": "u-1\n", "n": -0.5,
         "deleted": False, "tags": ["t1", None], "created_at": None},
        {"_id": OID[0], "name": "客户", "owner_id": True, "n": 2 ** 62, "deleted": None},
        {"_id": "客户-甲", "name": "甲", "owner_id": "u-1", "n": 7, "deleted": False},
    ]
    return docs


INDEXES = ([("owner_id", 1), ("deleted", 1), ("created_at", -1), ("_id", -1)], [("deleted", 1)],
           [("name", 1), ("_id", 1)], [("n", -1), ("_id", -1)], [("created_at", 1), ("_id", 1)],
           [("tags", 1)], [("ref", 1)])


def without_arrays(doc: dict) -> dict:
    """The document with each array replaced by its first element (or left out)."""
    flat = {}
    for key, value in doc.items():
        if not isinstance(value, list):
            flat[key] = value
        elif value:
            flat[key] = value[0]
    return flat


@pytest.fixture(scope="module", params=["with-arrays", "flat"])
def collection(request):
    """Every query runs on documents holding arrays in indexed fields and on documents
    holding none, where conditions drop their branch for array elements and counts read
    an index alone."""
    customers = fresh_database(f"exact-{request.param}")["customers"]
    docs = documents()
    customers.insert_many(docs if request.param == "with-arrays" else list(map(without_arrays, docs)))
    for keys in INDEXES:
        customers.create_index(keys)
    return customers


def undecided(query: dict) -> dict:
    return {"$and": [query, {"_id": {"$exists": True}}]}


FILTERS = [
    {}, {"owner_id": "u-1"}, {"owner_id": None}, {"owner_id": {"$ne": None}},
    {"owner_id": {"$in": ["u-2", None, "u-9"]}}, {"owner_id": {"$nin": ["u-2", None]}},
    {"owner_id": {"$ne": "u-1"}}, {"owner_id": "u-1\n"}, {"owner_id": True}, {"owner_id": OID[1]},
    {"deleted": False}, {"deleted": True}, {"deleted": {"$ne": True}}, {"deleted": 0},
    {"n": 3}, {"n": 3.0}, {"n": {"$gt": 20}}, {"n": {"$gte": 3, "$lt": 10}}, {"n": {"$lte": -0.5}},
    {"n": 2 ** 62}, {"n": {"$gt": 300, "$lt": 350}}, {"n": "5"}, {"n": {"$gt": "4"}},
    {"name": "客户3号"}, {"name": {"$regex": "^客户"}}, {"name": {"$regex": "^客户1"}},
    {"name": {"$regex": r"^a\"quoted\"\\"}}, {"name": {"$regex": "^客户", "$options": "i"}},
    {"name": {"$regex": "客户"}}, {"name": {"$regex": "^客.号"}}, {"name": 42},
    {"created_at": {"$gte": DAY + timedelta(days=5)}},
    {"created_at": {"$gte": DAY + timedelta(days=5), "$lt": DAY + timedelta(days=8)}},
    {"created_at": {"$gt": DAY + timedelta(days=30)}}, {"created_at": None},
    {"tags": "t1"}, {"tags": {"$all": ["t1", "t2"]}}, {"tags": {"$all": []}}, {"tags": None},
    {"tags": {"$in": ["t3", "t0"]}}, {"ref": OID[1]}, {"ref": {"$in": [OID[2], str(OID[1])]}},
    {"_id": {"$in": ["c-01", "c-02", OID[0]]}}, {"_id": {"$gt": "c-40"}}, {"_id": "客户-甲"},
    {"_id": str(OID[0])},
    {"$or": [{"owner_id": "u-1"}, {"tags": "t2"}]},
    {"$and": [{"deleted": False}, {"$or": [{"owner_id": "u-2"}, {"n": {"$lt": 5}}]}]},
    {"$or": [{"created_at": None}, {"created_at": {"$lt": DAY + timedelta(days=2)}}]},
    {"$nor": [{"tags": {"$regex": "^t1"}}]}, {"$nor": [{"owner_id": "u-1"}, {"n": {"$gt": 20}}]},
    {"$and": [{"deleted": False}, {"tags": {"$regex": "^t"}}, {"$nor": [{"tags": "t0"}]}]},
    {"$nor": [{"owner_id": None}]},
    {"owner_id": {"$exists": True}}, {"n": {"$type": "string"}}, {"name.x": None},
]
SORTS = [[("name", 1), ("_id", 1)], [("n", -1), ("_id", -1)], [("created_at", 1), ("_id", 1)],
         [("owner_id", 1), ("_id", 1)], [("deleted", -1), ("_id", 1)], [("ref", 1), ("_id", 1)],
         [("_id", -1)], [("tags", 1), ("_id", 1)],
         # indexes built the other way round: walked backwards (see walkPage)
         [("name", -1), ("_id", -1)], [("created_at", -1), ("_id", -1)]]


def ids(cursor) -> list:
    return [doc["_id"] for doc in cursor]


@pytest.mark.parametrize("query", FILTERS, ids=str)
def test_a_filter_matches_and_counts_what_mongodb_matches(collection, query):
    expected = sorted(map(str, ids(collection.find(undecided(query)))))
    assert sorted(map(str, ids(collection.find(query)))) == expected
    assert count_matching(collection, query) == len(expected)


@pytest.mark.parametrize("sort", SORTS, ids=str)
@pytest.mark.parametrize("query", [{}, {"deleted": False}, {"owner_id": {"$ne": None}},
                                   {"owner_id": "u-1", "deleted": False},
                                   {"$or": [{"n": {"$gte": 10}}, {"tags": "t1"}]}], ids=str)
def test_a_sorted_page_is_mongodbs_page(collection, query, sort):
    """Pages near the start are read walking the sort's index forwards, pages near the
    end backwards, when the filter can be counted from an index; a find of many from the
    first is streamed along that index."""
    everything = ids(collection.find(undecided(query)).sort(sort))
    assert ids(collection.find(query).sort(sort)) == everything
    middle = len(everything) // 2
    for skip, limit in ((0, 5), (5, 7), (middle - 3, 6), (middle, 1), (len(everything) - 3, 10),
                        (len(everything) - 1, 1), (len(everything), 5), (len(everything) + 1, 5),
                        (0, 5000)):   # many from the first (an export): streamed in order
        assert ids(collection.find(query).sort(sort).skip(skip).limit(limit)) == \
            everything[skip:skip + limit], (skip, limit)


def test_an_export_right_after_a_bulk_insert_is_every_match_in_order():
    """Statistics taken before a bulk insert (an import) count far fewer rows than then
    match: an export-sized find is still every match in the sort's order (walkPage takes
    the collection as at least as large as its matches, and streams it)."""
    customers = fresh_database("exact-stale-statistics")["customers"]
    customers.insert_many([{"_id": f"early-{i}", "deleted": False,
                            "created_at": DAY + timedelta(minutes=i)} for i in range(10)])
    for keys in ([("deleted", 1)], [("created_at", -1), ("_id", -1)]):
        customers.create_index(keys)   # analyzed now, with 10 rows
    customers.insert_many([{"_id": f"bulk-{i:04d}", "deleted": i % 50 == 0,
                            "created_at": DAY + timedelta(hours=i % 97)} for i in range(3000)])
    sort = [("created_at", -1), ("_id", -1)]
    everything = ids(customers.find(undecided({"deleted": False})).sort(sort))
    assert len(everything) == 10 + 3000 - 60
    assert ids(customers.find({"deleted": False}).sort(sort).limit(5000)) == everything
    assert ids(customers.find({"deleted": False}).sort(sort).skip(7).limit(2000)) == \
        everything[7:2007]


def test_a_count_skips_and_limits(collection):
    total = count_matching(collection, {"deleted": False})
    assert count_matching(collection, {"deleted": False}, skip=3, limit=5) == 5
    assert count_matching(collection, {"deleted": False}, skip=total - 2, limit=5) == 2
    assert count_matching(collection, {"deleted": False}, skip=total + 2) == 0


def test_an_unsorted_page_skips_once(collection):
    everything = ids(collection.find({"deleted": False}))
    page = ids(collection.find({"deleted": False}).skip(4).limit(3))
    assert len(page) == 3 and set(page) <= set(everything)
    assert len(ids(collection.find({"deleted": False}).skip(len(everything) - 1))) == 1


def test_a_page_of_a_missing_collection_is_empty(collection):
    missing = collection.database["never_written"]
    assert ids(missing.find({"deleted": False}).sort("name").limit(3)) == []
    assert count_matching(missing, {"deleted": False}) == 0


def test_an_array_stored_later_is_matched(collection):
    """Whether a field holds arrays is asked on every query, not remembered."""
    later = collection.database[f"{collection.name}_later"]
    later.create_index([("owner_id", 1), ("deleted", 1)])
    later.insert_many([{"_id": "a", "owner_id": "u-1", "deleted": False},
                       {"_id": "b", "owner_id": "u-2", "deleted": False}])
    assert count_matching(later, {"owner_id": "u-3", "deleted": False}) == 0
    later.insert_one({"_id": "c", "owner_id": ["u-2", "u-3"], "deleted": False})
    assert count_matching(later, {"owner_id": "u-3", "deleted": False}) == 1
    assert ids(later.find({"owner_id": "u-3"}).sort([("deleted", 1), ("_id", 1)])) == ["c"]


def test_an_object_id_inserted_after_a_sorted_page_is_sorted_as_mongodb_sorts_it():
    """Whether any `_id` has a type with sort rules of its own is remembered per
    collection as of its newest document (exact.go `complexIDs`): a document inserted
    later is asked about again. {a: 9} sorts before {a: 10} (their JSON text the other
    way round)."""
    collection = fresh_database("exactids")["docs"]
    collection.create_index([("x", 1), ("_id", 1)])
    collection.insert_many([{"_id": f"s-{i}", "x": 1} for i in range(3)])
    sort = [("x", 1), ("_id", 1)]
    assert ids(collection.find({"x": 1}).sort(sort).limit(10)) == ["s-0", "s-1", "s-2"]
    collection.insert_one({"_id": {"a": 10}, "x": 1})
    collection.insert_one({"_id": {"a": 9}, "x": 1})
    expected = ["s-0", "s-1", "s-2", {"a": 9}, {"a": 10}]
    assert ids(collection.find({"x": 1}).sort(sort).limit(10)) == expected
    assert ids(collection.find(undecided({"x": 1})).sort(sort).limit(10)) == expected


ESCAPED_IDS = ["row\x1fp\x1f商策\x1f0", "tab\there", 'quote"d\\', "line\nbreak", "a<b&c",
               "bell\x07", "back\x08space", "form\x0cfeed", "line\u2028sep"]


def test_ids_with_escaped_characters_are_found_and_deleted_by_the_id_index():
    """`_id: {$in}` of strings JSON escapes (the search rows' ids hold \\x1f) is an index
    lookup where Go's encoder and SQLite write the string alike, and exact either way: a
    delete by them read every row (35 s at 11.7 million search rows)."""
    rows = fresh_database("exact-escaped")["rows"]
    rows.insert_many([{"_id": i, "n": n} for n, i in enumerate(ESCAPED_IDS)] +
                     [{"_id": f"plain-{n}", "n": n} for n in range(20)])
    for chosen in (ESCAPED_IDS[:4], ESCAPED_IDS[4:], ["row\x1fp\x1f商策\x1f0", "plain-3"]):
        query = {"_id": {"$in": chosen}}
        assert sorted(ids(rows.find(query))) == sorted(chosen)
        assert count_matching(rows, query) == len(chosen)
    plan = plan_of(rows, {"find": "rows", "filter": {"_id": {"$in": ESCAPED_IDS[:4]}}})
    assert uses_an_index(plan, "_id_"), plan
    assert rows.delete_many({"n": {"$gte": 0}, "_id": {"$in": ESCAPED_IDS}}).deleted_count == 9
    assert count_matching(rows, {}) == 20
