"""Search and lists: q over name, number, contact name, phone and pinyin; every filter of
§4; sort; pagination; and every query served by a declared index."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from crm_testing import fresh_database
from customer_helpers import (CUSTOMERS, Clock, create, customer_body, identity,
                              service_handlers, unique_name, url)
from services.customer.repository import RETIRED_INDEXES, CustomerRepository
from services.customer.terms_repository import TERM_INDEXES


@pytest.fixture(scope="module")
def searcher(corg):
    rep = corg.user("rep")
    stem = unique_name("商策科技").removesuffix("科技有限公司")  # e.g. 商策科技1a2b3c4d
    first = create(rep, name=f"上海{stem}有限公司", industry="软件", level="A",
                   tags=["重点", "华东"], source="展会",
                   primary_contact={"name": "欧阳娜娜", "phone": "13987654321"})
    second = create(rep, name=unique_name("华为"), industry="制造", status="intent",
                    level="B", tags=["华东"], source="转介绍")
    third = create(rep, name=unique_name("阿里"), industry="软件", status="lost")
    return {"rep": rep, "stem": stem, "first": first, "second": second, "third": third}


def found(session, query: str) -> list[str]:
    reply = session.get(f"{CUSTOMERS}?scope=mine&per_page=100&{query}")
    assert reply.status_code == 200, reply
    return [c["id"] for c in reply.json["items"]]


@pytest.mark.parametrize("q", ["{stem}", "商策", "上海", "{number}", "{number_prefix}",
                               "欧阳", "娜娜", "13987654321", "4321", "+8613987654321",
                               "sckj", "SCKJ", "shsckj", "shangce", "oynn"])
def test_q_finds_by_name_number_contact_phone_and_pinyin(searcher, q):
    first = searcher["first"]
    text = q.format(stem=searcher["stem"], number=first["number"],
                    number_prefix=first["number"][:11])
    ids = found(searcher["rep"], f"q={text.replace('+', '%2B')}")
    assert first["id"] in ids
    assert searcher["third"]["id"] not in ids or text.startswith("CRM")


def test_filters(searcher):
    rep, first, second, third = (searcher[k] for k in ("rep", "first", "second", "third"))
    assert found(rep, "status=intent") == [second["id"]]
    assert found(rep, "level=A") == [first["id"]]
    assert set(found(rep, "industry=软件")) == {first["id"], third["id"]}
    assert set(found(rep, "tag=华东")) == {first["id"], second["id"]}
    assert found(rep, "tag=华东&tag=重点") == [first["id"]]
    assert found(rep, "source=转介绍") == [second["id"]]
    assert len(found(rep, f"owner_id={rep.id}")) == 3
    assert len(found(rep, "region=east")) == 3 and found(rep, "region=north") == []
    today = datetime.now(timezone.utc).astimezone().date()
    assert len(found(rep, f"created_from={today - timedelta(days=1)}")) == 3
    assert found(rep, f"created_to={today - timedelta(days=2)}") == []
    assert rep.get(f"{CUSTOMERS}?status=hot").status_code == 422
    assert rep.get(f"{CUSTOMERS}?created_from=someday").status_code == 422


def test_no_followup_since(searcher, customer_settings):
    rep, first = searcher["rep"], searcher["first"]
    logged = rep.post(url(first, "/interactions"), json={
        "occurred_at": datetime.now(timezone.utc).isoformat(), "method": "call",
        "subject": "电话", "content": "沟通"})
    assert logged.status_code == 201
    # The filter's dates are the organisation's (CONTRACT §4), not the test host's.
    today = datetime.now(ZoneInfo(customer_settings.timezone)).date()
    tomorrow = today + timedelta(days=1)
    yesterday = today - timedelta(days=1)
    assert first["id"] not in found(rep, f"no_followup_since={yesterday}")
    assert searcher["second"]["id"] in found(rep, f"no_followup_since={yesterday}")
    assert first["id"] in found(rep, f"no_followup_since={tomorrow}")


def test_sort_and_pagination(searcher):
    rep = searcher["rep"]
    newest = rep.get(f"{CUSTOMERS}?scope=mine&sort=-created_at&per_page=2").json
    assert newest["total"] == 3 and newest["page"] == 1 and newest["per_page"] == 2
    assert [c["id"] for c in newest["items"]] == [searcher["third"]["id"],
                                                  searcher["second"]["id"]]
    page2 = rep.get(f"{CUSTOMERS}?scope=mine&sort=-created_at&per_page=2&page=2").json
    assert [c["id"] for c in page2["items"]] == [searcher["first"]["id"]]
    by_number = rep.get(f"{CUSTOMERS}?scope=mine&sort=number").json["items"]
    assert [c["number"] for c in by_number] == sorted(c["number"] for c in by_number)
    assert rep.get(f"{CUSTOMERS}?sort=needs").status_code == 422
    assert rep.get(f"{CUSTOMERS}?per_page=101").status_code == 422
    assert rep.get(f"{CUSTOMERS}?page=0").status_code == 422


def test_pool_filters(searcher, corg):
    pooled = create(corg.admin, in_pool=True, industry="冷门行业")
    items = corg.user("rep").get("/api/v1/pool?industry=冷门行业&claimed=false").json["items"]
    assert [c["id"] for c in items] == [pooled["id"]]


def _fields(filter_) -> set[str]:
    found = set()
    for key, value in (filter_ or {}).items():
        if key in ("$and", "$or"):
            for clause in value:
                found |= _fields(clause)
        elif not key.startswith("$"):
            found.add(key)
    return found


class RecordingCollection:
    """Wraps a collection and records the fields of each query and each sort."""

    def __init__(self, inner, queries: list, sorts: set):
        self._inner, self._queries, self._sorts = inner, queries, sorts

    def _note(self, filter_):
        self._queries.append(_fields(filter_))

    def find(self, filter_=None, *args, **kwargs):
        self._note(filter_)
        cursor = self._inner.find(filter_, *args, **kwargs)
        sorts = self._sorts
        original_sort = cursor.sort

        def sort(spec, direction=None):
            for key, _ in (spec if isinstance(spec, list) else [(spec, direction)]):
                sorts.add(key)
            return original_sort(spec, direction) if direction else original_sort(spec)
        cursor.sort = sort
        return cursor

    def __getattr__(self, name):
        attribute = getattr(self._inner, name)
        if name in ("find_one", "count_documents", "update_one", "update_many",
                    "find_one_and_update", "distinct", "delete_one", "delete_many"):
            def recorded(*args, **kwargs):
                filter_ = args[0] if args else kwargs.get("filter")
                if name == "distinct":
                    filter_ = args[1] if len(args) > 1 else kwargs.get("filter")
                self._note(filter_ if isinstance(filter_, dict) else {})
                return attribute(*args, **kwargs)
            return recorded
        return attribute


def test_every_query_is_served_by_a_declared_index():
    clock = Clock(datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc))
    users = {"rep2": {"team": "east/shanghai/team-1", "region": "east", "name": "Rep2"}}
    handlers = service_handlers(clock, users=users)
    queries: list[set[str]] = []
    sorts: set[str] = set()
    repo = handlers.repository
    repo.customers = RecordingCollection(repo.customers, queries, sorts)
    # the search index's rows: `q` of the lists reads them (terms_repository)
    term_queries: list[set[str]] = []
    repo.terms.customers = repo.customers
    repo.terms.rows = RecordingCollection(repo.terms.rows, term_queries, set())
    rep, sup = identity("rep1"), identity("sup", "supervisor", "east/shanghai")
    admin, mgr = identity("admin", "admin"), identity("mgr", "manager", "east")
    customer = handlers.create_customer(customer_body(), rep)
    handlers.update_customer(customer.id, {"level": "A"}, rep)
    # a rename: its search rows change (the stale ones deleted by the customer's id)
    handlers.update_customer(customer.id, {"name": customer_body()["name"]}, rep)
    handlers.log_interaction(customer.id, {"occurred_at": clock.now, "method": "call",
                                           "subject": "s", "content": "c"}, rep)
    handlers.share(customer.id, rep, ["rep2"])
    handlers.put_rules({"auto_reclaim": True, "days_without_followup": 5,
                        "claim_limit": 10}, admin)
    handlers.return_customer(customer.id, rep)
    handlers.claim(customer.id, rep)
    handlers.assign(customer.id, sup, "rep2")
    handlers.history(customer.id, admin)
    handlers.interactions(customer.id, admin)
    handlers.duplicates("商策科技")
    base = {"page": 1, "per_page": 20, "sort": None}
    filters = {"q": "sckj", "status": "potential", "level": "A", "industry": "软件",
               "tag": ["x"], "source": "展会", "owner_id": "rep1", "region": "east",
               "created_from": date(2026, 1, 1), "created_to": date(2026, 12, 1),
               "no_followup_since": date(2026, 11, 1)}
    for viewer in (rep, sup, mgr, admin):
        for scope in ("mine", "shared", "team", "all"):
            handlers.list_customers({**base, **filters, "scope": scope}, viewer)
    for sort in ("created_at", "-updated_at", "number", "name", "last_followup_at",
                 "deal_amount", "last_deal_on", "level", "status"):
        handlers.list_customers({**base, "sort": sort, "scope": "all"}, admin)
    pool_filters = {k: v for k, v in filters.items() if k != "no_followup_since"}  # private
    handlers.pool({**base, **pool_filters, "claimed": True}, rep)
    for sort in ("name", "-created_at", "number", "level"):
        handlers.pool({**base, "sort": sort}, rep)
    handlers.export_rows({**base, **filters, "scope": "all"}, admin)
    handlers.run_reclaim(date(2027, 1, 1))
    handlers.recover_imports(clock.now)
    pooled = handlers.create_customer(customer_body(in_pool=True), rep)
    handlers.delete(pooled.id, sup)
    leading = {keys[0][0] for keys in repo.declared_indexes()} | {"_id"}
    assert len(queries) > 50 and sorts, "nothing was recorded"
    # {deleted: false} alone is every live customer (an admin's whole list): no index on
    # that flag would narrow it; the sort's index serves that list.
    unserved = [sorted(q) for q in queries if q and q != {"deleted"} and not q & leading]
    assert not unserved, f"queries without an index: {unserved}"
    # Every field a list may be filtered by alone, and every sort key, leads an index.
    # `q` reads the search rows' `term` (the pool's public terms among them) and, in the
    # export, the customer's `search_terms`
    filterable = {"search_terms", "status", "level", "industry", "tags", "source",
                  "owner_id", "region", "created_at", "last_followup_at", "shared_with",
                  "owner_team", "owner_region", "name_normalized", "name_pinyin"}
    assert filterable <= set().union(*queries)
    # except the term arrays: an index on an array holds the whole array, which no query
    # can use to find an element (docs/database.md); the scans that read them are bounded
    # by the other clauses (the export's, a too common term's, the duplicates' `$or`);
    # the share arrays are read once at start (the share rows' migration) and by a list
    # only past SHARED_LIMIT: the lists name what is shared by number (share rows)
    indexed = filterable - {"search_terms", "shared_with"}
    assert indexed <= leading and sorts <= leading, sorted((indexed | sorts) - leading)
    term_leading = {keys[0][0] for keys in TERM_INDEXES} | {"_id"}
    assert {"term", "customer_id"} <= set().union(*term_queries)
    assert not [q for q in term_queries if q and not q & term_leading], term_queries
    declared = {name for name in repo.customers._inner.index_information()}
    assert len(declared) >= len(repo.declared_indexes())


def test_retired_indexes_go_from_an_older_data_folder():
    db = fresh_database("retired")
    db["customers"].create_index([("deleted", 1), ("owner_id", 1)])
    db["customers"].create_index([("created_at", -1)])    # a sort index without _id
    db["customers"].create_index([("owner_id", 1), ("created_at", -1)])   # without deleted
    db["customers"].create_index([("search_terms", 1)])     # a whole array: serves no `q`
    CustomerRepository(db).ensure_indexes()
    CustomerRepository(db).ensure_indexes()   # a second process starting finds them gone
    indexes = db["customers"].index_information()
    assert not set(RETIRED_INDEXES) & set(indexes)
    assert "search_terms_1" in RETIRED_INDEXES
    assert {"owner_id_1_deleted_1_created_at_-1__id_-1", "deleted_1",
            "created_at_-1__id_-1"} <= set(indexes)
