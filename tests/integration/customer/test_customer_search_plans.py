"""Search and the pool's filters are index reads (issue 14 item 3), on the session's
database server: the query plans of what `q` runs (a range of the search rows' `term`
index, then the customers found by `number`) and of the pool's filtered counts and pages
name an index and scan no table. Plans are read as
tests/integration/kernel/test_ferretdb_lookups.py reads them.

Also: the search rows follow the customer's document (written with it, rebuilt by the
start-up fill, repaired from the pending flag); a common term (hundreds of customers) is
answered by the index, and a term past the search's limit is counted, not read, and
matched on the stored terms."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from crm_testing import fresh_database, plan_of, uses_an_index
from crmkit.identity import Identity
from crmkit.queries import count_matching
from services.customer import naming, terms_repository
from services.customer.documents import TERMS_DIGEST, TERMS_PENDING, customer_doc
from services.customer.domain import Customer
from services.customer.repository import (POOL_FILTERS as POOL_FILTER_KEYS,
                                          PUBLIC_SORTABLE, CustomerRepository, all_of,
                                          customer_filter, scope_filter, sort_for)
from services.customer.terms_repository import (FILLED, RUNS_FILLED, TERMS, first_of_run,
                                                prefix_range, row_id, rows_digest,
                                                wanted_rows)

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)
ADMIN = Identity("admin", "admin", "Admin", "admin", "east", "east")
REP = Identity("rep-n", "rep-n", "Rep", "rep", "north/beijing/team-1", "north")
# REP's colleague, their supervisor and manager (the pool's searches, each in its scope)
PEER = Identity("rep-p", "rep-p", "Peer", "rep", "north/beijing/team-1", "north")
SUPERVISOR = Identity("sup-n", "sup-n", "Sup", "supervisor", "north/beijing", "north")
MANAGER = Identity("mgr-n", "mgr-n", "Mgr", "manager", "north", "north")
INDUSTRIES = ["软件", "制造", "零售", "教育", "医疗", "能源", "物流", "金融"]
STATUSES = ["potential", "intent", "deal", "lost"]
WORDS = ["商策", "华信", "云帆", "浦江", "申远", "绿源", "西溪", "钱塘"]


def make(n: int, **extra) -> Customer:
    number = f"CRM20261123{n:06d}"
    data = {"name": f"{WORDS[n % 8]}{['科技', '贸易', '物流'][n % 3]}{n:05d}有限公司",
            "industry": INDUSTRIES[n % 8], "status": STATUSES[n // 3 % 4],
            "level": "ABCD"[n // 5 % 4], "region": ["east", "north", "south"][n // 7 % 3],
            "primary_contact": {"name": f"联系人{n}", "phone": f"139{n:08d}"}, **extra}
    # as in a sales organisation: most customers are claimed, a tenth wait in the pool
    return Customer.create(ADMIN, data, customer_id=number, number=number,
                           contact_id=f"k{n}", now=NOW, in_pool=n % 10 == 0)


@pytest.fixture(scope="module")
def repo():
    repository = CustomerRepository(fresh_database("searchplans"))
    customers = [make(n) for n in range(1, 1201)]
    for start in range(0, len(customers), 400):
        repository.insert_import_chunk(f"chunk-{start}", "plans",
                                       customers[start:start + 400], [], NOW)
    # indexes made on the loaded collections, as on a data folder in use: the server
    # keeps its planner statistics from then on (docs/database.md)
    repository.ensure_indexes()
    return repository


SEARCHES = {"chinese_2": "商策", "pinyin_prefix": "shangce", "initials": "sckj",
            "phone_suffix": "00000123", "number": "crm20261123000123"}


def page_filter(repo, viewer, query: dict, *, pool: bool) -> tuple[dict, list]:
    """The filter and sort `list_page` / `pool_page` run for `query`."""
    select = repo.pool_filter if pool else repo.list_filter
    return select(viewer, query, tz=TZ), sort_for(query.get("sort"))


@pytest.mark.parametrize("kind", SEARCHES)
def test_each_search_kind_reads_the_term_index(repo, kind):
    term = naming.query_term(SEARCHES[kind])
    rows = repo.db[TERMS]
    plan = plan_of(rows, {"find": TERMS, "filter": {"term": prefix_range(term)},
                          "limit": 800})
    assert uses_an_index(plan, "term_1"), plan
    assert repo.terms.lookup(term).public or repo.terms.lookup(term).private, kind


@pytest.mark.parametrize("kind", SEARCHES)
@pytest.mark.parametrize("viewer, pool", [(ADMIN, False), (REP, True)], ids=["list", "pool"])
def test_the_customers_a_search_found_are_read_by_index(repo, kind, viewer, pool):
    filter_, sort = page_filter(repo, viewer, {"q": SEARCHES[kind]}, pool=pool)
    customers = repo.db["customers"]
    page = plan_of(customers, {"find": "customers", "filter": filter_,
                               "sort": dict(sort), "limit": 20})
    assert uses_an_index(page, "number_1_deleted_1") or uses_an_index(page, "_id_"), page


POOL_FILTERS = [{"status": "potential"}, {"level": "A", "claimed": False},
                {"industry": "软件", "status": "intent"}, {"region": "east", "level": "B"},
                {"claimed": True, "status": "deal"},
                {"status": "potential", "level": "C", "claimed": False}]


@pytest.mark.parametrize("query", POOL_FILTERS, ids=str)
def test_the_pools_filters_are_index_reads(repo, query):
    filter_, sort = page_filter(repo, REP, query, pool=True)
    customers = repo.db["customers"]
    page = plan_of(customers, {"find": "customers", "filter": filter_,
                               "sort": dict(sort), "limit": 20})
    indexes = ["deleted_1_owner_id_1_status_1_level_1_industry_1_region_1_source_1_"
               "created_at_-1__id_-1_owner_team_1_owner_region_1_number_1",
               "owner_id_1_deleted_1_created_at_-1__id_-1",
               *(f"{key}_1_created_at_-1__id_-1" for key in POOL_FILTER_KEYS),
               *(f"{key}_1__id_1" for key in POOL_FILTER_KEYS), "deleted_1", "created_at_-1__id_-1"]
    assert any(uses_an_index(page, index) for index in indexes), page
    # (the count is read from the wide pool index alone, named to SQLite by the patched
    # FerretDB, `INDEXED BY`; its explain does not show the count path)


def test_results_are_those_of_the_stored_terms(repo):
    """The index answers exactly what the anchored match on the stored arrays answers."""
    customers = repo.db["customers"]
    for q in [*SEARCHES.values(), "sc", "13900000", "科技", "华信贸易", "crm2026"]:
        term = naming.query_term(q)
        for viewer, pool in ((ADMIN, False), (REP, True)):
            filter_, _ = page_filter(repo, viewer, {"q": q}, pool=pool)
            indexed = {d["_id"] for d in customers.find(filter_, {"_id": 1})}
            if pool:
                reference = all_of(customer_filter(tz=TZ, visible=scope_filter(viewer, "all"),
                                                   q=q))
            else:
                reference = all_of([scope_filter(viewer, "all"),
                                    *customer_filter(tz=TZ, q=q)])
            scanned = {d["_id"] for d in customers.find(reference, {"_id": 1})}
            assert indexed == scanned, (q, pool, repo.terms.lookup(term).capped)


def test_a_common_term_is_answered_by_the_index(repo):
    """A term shared by hundreds of customers (科技: a third of them) is read from the
    index (up to MATCH_LIMIT rows), with the same total and page as the stored terms."""
    matches = repo.terms.lookup("科技")
    assert not matches.capped and len(matches.public) > 200
    query = {"q": "科技", "page": 2, "per_page": 20, "sort": None}
    page = repo.list_page(ADMIN, query, tz=TZ)
    reference = all_of([scope_filter(ADMIN, "all"), *customer_filter(tz=TZ, q="科技")])
    customers = repo.db["customers"]
    assert page.total == len(matches.public) == customers.count_documents(reference)
    assert [c.id for c in page.items] == [d["_id"] for d in customers.find(
        reference, {"_id": 1}).sort(sort_for(None)).skip(20).limit(20)]


def test_a_term_too_common_for_the_index_is_matched_in_full(repo, monkeypatch):
    """The index answers at most MATCH_LIMIT rows; a more common term is counted from the
    index, not read, and matched on the stored terms within the caller's scope."""
    monkeypatch.setattr(terms_repository, "MATCH_LIMIT", 100)
    assert repo.terms.lookup("s").capped and not repo.terms.lookup("s").public
    every = repo.list_page(ADMIN, {"q": "s", "page": 1, "per_page": 20, "sort": None}, tz=TZ)
    assert every.total > 100 and len(every.items) == 20
    number = "CRM20261123005000"
    mine = Customer.create(REP, {"name": "商策科技测试专用有限公司", "industry": "软件",
                                 "status": "potential",
                                 "primary_contact": {"name": "专用", "phone": "13700005000"}},
                           customer_id=number, number=number, contact_id="k5000", now=NOW)
    repo.insert_import_chunk("chunk-rep", "plans", [mine], [], NOW)
    own = repo.list_page(REP, {"q": "s", "scope": "mine", "page": 1, "per_page": 20,
                               "sort": None}, tz=TZ)
    assert [c.id for c in own.items] == [mine.id]
    exact = repo.list_page(ADMIN, {"q": "crm20261123000007", "page": 1, "per_page": 20,
                                   "sort": None}, tz=TZ)
    assert not repo.terms.lookup("crm20261123000007").capped and exact.total == 1


COMMON = ["s", "商策", "sc", "科技", "1390", "crm2026", "shangce"]


def reference_page(repo, viewer, q: str, sort: str | None, page: int) -> tuple[int, list]:
    """The total and page of the anchored match on the stored arrays, in the list's order."""
    reference = all_of([scope_filter(viewer, "all"), *customer_filter(tz=TZ, q=q)])
    customers = repo.db["customers"]
    ids = [d["_id"] for d in customers.find(reference, {"_id": 1}).sort(sort_for(sort))]
    return len(ids), ids[(page - 1) * 20:page * 20]


@pytest.mark.parametrize("sort", [None, "name", "-updated_at"])
def test_a_term_too_common_for_the_index_is_counted_from_its_rows(repo, monkeypatch, sort):
    """Past MATCH_LIMIT rows an admin's search is counted from the search rows' index
    alone (one row per customer: `first_of_run`) and its page walked along the sort's
    index; the same total and page as the stored arrays', for the rep (counted in their
    scope) too."""
    monkeypatch.setattr(terms_repository, "MATCH_LIMIT", 100)
    repo.terms.fill_runs()          # loaded before the start: its rows carry lcp already
    assert repo.terms.walkable()
    plan = plan_of(repo.db[TERMS], {"find": TERMS, "filter": first_of_run("sc")})
    assert uses_an_index(plan, "term_1_lcp_1_lcp_public_1"), plan
    for q in COMMON:
        matches = repo.terms.lookup(naming.query_term(q))
        assert matches.capped, q
        for viewer in (ADMIN, REP):
            for page in (1, 2):
                got = repo.list_page(viewer, {"q": q, "page": page, "per_page": 20,
                                              "sort": sort}, tz=TZ)
                total, ids = reference_page(repo, viewer, q, sort, page)
                assert (got.total, [c.id for c in got.items]) == (total, ids), (q, viewer)
                if viewer is ADMIN:
                    assert repo.terms.count_customers(naming.query_term(q)) == total, q


def own_customers(repo) -> list[Customer]:
    """PEER's customers, found by 商策 and 1390 only through a contact (private terms)."""
    owned = []
    for n in range(6001, 6004):
        number = f"CRM20261123{n:06d}"
        owned.append(Customer.create(PEER, {
            "name": f"云帆物流专营{n}有限公司", "industry": "物流", "status": "intent",
            "primary_contact": {"name": "商策联络人", "phone": f"1390000{n:04d}"}},
            customer_id=number, number=number, contact_id=f"k{n}", now=NOW))
    repo.insert_import_chunk("chunk-peer", "plans", owned, [], NOW)
    return owned


POOL_SEARCHES = [("s", ADMIN, None), ("s", REP, None), ("crm2026", MANAGER, None),
                 *(("商策", viewer, sort) for viewer in (ADMIN, REP, PEER, SUPERVISOR, MANAGER)
                   for sort in (None, "name")),
                 *(("1390", viewer, None) for viewer in (REP, PEER, SUPERVISOR, MANAGER))]


def test_a_term_too_common_for_the_index_is_counted_for_the_pool(repo, monkeypatch):
    """The pool's search for a term past MATCH_LIMIT rows (public: s; public and
    private: 商策; private: 1390; a number): its total is the customers with a public
    term for it (counted from the search rows' index) and those the caller sees found
    only by a private one, or the few it finds named by number; its page walked along
    the sort's index; the same total and page as the stored arrays', for every role."""
    monkeypatch.setattr(terms_repository, "MATCH_LIMIT", 100)
    repo.terms.fill_runs()
    if not repo.customers.find_one({"_id": "CRM20261123006001"}):
        own_customers(repo)
    assert repo.terms.private_customers("商策") is not None       # few: those named
    assert repo.terms.private_customers("1390") is None           # every phone
    plan = plan_of(repo.db[TERMS], {"find": TERMS, "filter": first_of_run("sc", public=True)})
    assert uses_an_index(plan, "term_1_lcp_1_lcp_public_1"), plan
    for q, viewer, sort in POOL_SEARCHES:
        assert repo.terms.lookup(naming.query_term(q)).capped, q
        reference = all_of(customer_filter(tz=TZ, visible=scope_filter(viewer, "all"), q=q))
        ids = [d["_id"] for d in repo.customers.find(reference, {"_id": 1}).sort(
            sort_for(sort, PUBLIC_SORTABLE))]
        # counted from the index, or the few found named by number: not the arrays
        filter_, total = repo._pool_query(viewer, {"q": q}, tz=TZ)
        assert total == len(ids) or "_terms" not in str(filter_), (q, viewer.user_id)
        for page in (1, 2):
            got = repo.pool_page(viewer, {"q": q, "page": page, "per_page": 20,
                                          "sort": sort}, tz=TZ)
            assert (got.total, [c.id for c in got.items]) == (
                len(ids), ids[(page - 1) * 20:page * 20]), (q, viewer.user_id, sort, page)
    # the colleague's own customers are found by their contacts, for them and above only
    found = {viewer.user_id: {c.id for c in repo.pool_page(viewer, {
        "q": "商策联络", "page": 1, "per_page": 100, "sort": None}, tz=TZ).items}
        for viewer in (REP, PEER, SUPERVISOR)}
    assert found == {"rep-n": set(), "rep-p": {"CRM20261123006001", "CRM20261123006002",
                                               "CRM20261123006003"},
                     "sup-n": found["rep-p"]}


@pytest.mark.parametrize("carried", [(), ("lcp",)], ids=["no_lcp", "no_lcp_public"])
def test_rows_of_an_older_format_are_rewritten_in_the_background_and_searched_meanwhile(
        monkeypatch, carried):
    """A database whose rows were written before they carried `lcp` (or `lcp_public`):
    its searches are counted on the stored arrays until `fill_runs` has rewritten every
    customer's rows (a part per job run, resumed where it stopped); a save meanwhile
    keeps the rows."""
    monkeypatch.setattr(terms_repository, "MATCH_LIMIT", 10)
    db = fresh_database("termsruns")
    repository = CustomerRepository(db)
    repository.ensure_indexes()
    repository.insert_import_chunk("chunk", "runs", [make(n) for n in range(1, 61)], [], NOW)
    rows = list(db[TERMS].find({"lcp": {"$exists": True}}))
    db[TERMS].delete_many({})
    older_rows = [{**{k: v for k, v in row.items() if k not in ("lcp", "lcp_public")},
                   **{k: row[k] for k in carried}, "_id": row_id(
        row["customer_id"], row["term"], row["public"], *(row[k] for k in carried))}
        for row in rows]
    db[TERMS].insert_many(older_rows)
    for customer_id in {row["customer_id"] for row in older_rows}:   # and their digests
        db["customers"].update_one({"_id": customer_id}, {"$set": {TERMS_DIGEST: rows_digest(
            [row["_id"] for row in older_rows if row["customer_id"] == customer_id])}})
    db["scheduled_runs"].delete_many({"_id": RUNS_FILLED})
    older = CustomerRepository(db)
    older.ensure_indexes()          # a start on that database: customers, rows without lcp
    assert not older.terms.walkable()
    query = {"q": "s", "page": 1, "per_page": 20, "sort": None}
    assert older.terms.lookup("s").capped and older.terms.count_customers("s") is None
    assert older.terms.private_customers("s") is None
    assert older.pool_page(REP, query, tz=TZ).total == 60
    assert older.list_page(ADMIN, query, tz=TZ).total == reference_page(
        older, ADMIN, "s", None, 1)[0] == 60
    customer = older.get("CRM20261123000008")   # a save that changes no term
    loaded = customer.version
    customer.update(ADMIN, {"level": "A"}, now=NOW)
    older.save(customer, loaded, [])
    assert "CRM20261123000008" in older.terms.lookup("商策").public
    assert older.terms.fill_runs(batch=25, batches=1) == 25 and not older.terms.walkable()
    assert older.terms.fill_runs(batch=25) == 35 and older.terms.walkable()
    assert not count_matching(db[TERMS], {"lcp": {"$exists": False},
                                          "term": {"$gte": "\x1f"}})
    assert not count_matching(db[TERMS], {"lcp_public": {"$exists": False}, "public": True})
    assert older.terms.count_customers("s") == 60
    assert older.list_page(ADMIN, query, tz=TZ).total == 60
    assert older.terms.count_customers("s", public=True) == 60
    assert older.pool_page(REP, query, tz=TZ).total == 60
    assert older.terms.fill_runs() == 0            # done: nothing more


def test_rows_follow_the_document_and_are_repaired_from_the_flag(repo):
    customer = repo.get("CRM20261123000005")
    loaded = customer.version
    customer.update(ADMIN, {"name": "全新名称测试有限公司"}, now=NOW)
    repo.save(customer, loaded, [])
    assert {"CRM20261123000005"} == set(repo.terms.lookup("全新").public)
    assert "CRM20261123000005" not in repo.terms.lookup(naming.query_term(WORDS[5])).public
    # a crash after the customer's write, before its rows: the flag stays, and the next
    # search (or the start) brings the rows up to the document
    repo.customers.update_one({"_id": "CRM20261123000005"}, {"$set": {
        "search_terms": ["旧名字"], "public_terms": ["旧名字"], TERMS_PENDING: True}})
    assert count_matching(repo.customers, {TERMS_PENDING: True}) == 1
    assert repo.terms.lookup("旧名").public == ["CRM20261123000005"]
    assert count_matching(repo.customers, {TERMS_PENDING: True}) == 0
    assert repo.terms.lookup("全新").public == []


def test_the_start_up_fill_gives_older_customers_their_rows_once():
    db = fresh_database("termsfill")
    repository = CustomerRepository(db)
    customer = make(7)
    # as a version before the search rows stored it: no rows, no flag, no note of a fill
    doc = {**customer_doc(customer), "history": [], "interactions": []}
    doc.pop(TERMS_PENDING)
    db["customers"].insert_one(doc)
    repository.ensure_indexes()
    assert set(repository.terms.lookup("商策").public) | set(
        repository.terms.lookup(naming.query_term(customer.name[:2])).public) >= {customer.id}
    assert db[TERMS].count_documents({}) == len(wanted_rows(doc))
    assert db["scheduled_runs"].find_one({"_id": FILLED})
    repository.ensure_indexes()           # a second start: nothing to do, nothing doubled
    assert db[TERMS].count_documents({}) == len(wanted_rows(doc))
