"""A rep's lists find what is shared with them through the share rows (issue 10: the
customer list at 10,000 customers), on the session's database server.

The share arrays (`shared_with`, `shared_teams`) are read by no index, so a list over
them read every customer. Each grantee of a share is a row of the search index
(services/customer/terms_repository.py `share_rows`), and a list names the customers
shared with the caller by number. Checked here: the lists select exactly what the arrays
select, for every role, scope and filter; the share rows follow shares, unshares and
deletions and are made at start for customers shared before them; past the limit the
arrays are matched; every field a list filter names is in one index, which counts the
matches alone and leaves the page to a walk of the sort's index (exact.go)."""
from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from crm_testing import fresh_database
from crmkit.identity import Identity
from crmkit.queries import all_of
from services.customer import terms_repository
from services.customer.documents import TERMS_DIGEST, TERMS_PENDING, customer_doc
from services.customer.domain import Customer
from services.customer.repository import (POOL_AND_VISIBILITY_INDEX, CustomerRepository,
                                          customer_filter, scope_filter)
from services.customer.terms_repository import (FILLED, SHARES_FILLED, TERMS, rows_digest,
                                                share_rows, share_term, wanted_rows)

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 2, 2, 0, tzinfo=timezone.utc)
ADMIN = Identity("admin", "admin", "Admin", "admin", "hq", "east")
TEAMS = ["east/shanghai/team-1", "east/shanghai/team-2", "east/hangzhou/team-1",
         "north/beijing/team-1"]
REPS = [Identity(f"rep{i}", f"rep{i}", f"Rep {i}", "rep", TEAMS[i % 4],
                 TEAMS[i % 4].split("/")[0]) for i in range(8)]
SUPERVISOR = Identity("sup", "sup", "Sup", "supervisor", "east/shanghai", "east")
MANAGER = Identity("mgr", "mgr", "Mgr", "manager", "east", "east")
VIEWERS = [*REPS[:4], SUPERVISOR, MANAGER, replace(SUPERVISOR, sees_subordinates=False),
           replace(MANAGER, sees_subordinates=False)]
SCOPES = ["all", "shared", "team", "mine"]
FILTERS = [{}, {"level": "B"}, {"status": "intent", "level": "A"}]


def make(n: int, owner: Identity, *, in_pool: bool = False) -> Customer:
    number = f"CRM20261202{n:06d}"
    data = {"name": f"共享测试{n:05d}有限公司", "level": "ABCD"[n % 4], "industry": "软件",
            "status": ["potential", "intent", "deal"][n % 3],
            "primary_contact": {"name": f"联系人{n}", "phone": f"139{n:08d}"}}
    return Customer.create(owner, data, customer_id=number, number=number,
                           contact_id=f"k{n}", now=NOW, in_pool=in_pool)


def shared_at_random(customer: Customer, owner: Identity, rng: random.Random) -> None:
    users = [r.user_id for r in rng.sample(REPS, rng.choice([0, 0, 1, 2]))]
    teams = rng.sample(["east", "east/shanghai", *TEAMS], rng.choice([0, 0, 0, 1]))
    if users or teams:
        customer.share(owner, user_ids=users, teams=teams, now=NOW)


@pytest.fixture(scope="module")
def repo():
    rng = random.Random(1202)
    repository = CustomerRepository(fresh_database("sharerows"))
    repository.ensure_indexes()
    customers = []
    for n in range(1, 401):
        owner = rng.choice(REPS)
        customer = make(n, owner, in_pool=n % 10 == 0)
        if customer.owner_id is not None:
            shared_at_random(customer, owner, rng)
        customers.append(customer)
    repository.insert_import_chunk("chunk-1", "shares", customers, [], NOW)
    for customer in customers[::25]:        # some deleted (their rows go with them)
        repository.customers.update_one({"_id": customer.id}, {"$set": {"deleted": True}})
        repository.terms.sync([customer.id])
    return repository


def by_arrays(repo, viewer, scope: str, filters: dict) -> list[str]:
    """What the share arrays select, sorted as the list sorts by default."""
    filter_ = all_of([scope_filter(viewer, scope), *customer_filter(tz=TZ, **filters)])
    return [d["_id"] for d in repo.customers.find(filter_, {"_id": 1})
            .sort([("created_at", -1), ("_id", -1)])]


def listed(repo, viewer, scope: str, filters: dict) -> tuple[list[str], int]:
    page = repo.list_page(viewer, {"scope": scope, "page": 1, "per_page": 1000, **filters},
                          tz=TZ)
    return [c.id for c in page.items], page.total


@pytest.mark.parametrize("filters", FILTERS, ids=str)
@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("viewer", VIEWERS, ids=lambda v: f"{v.role}-{v.user_id}-"
                         f"{v.sees_subordinates}")
def test_the_lists_select_what_the_share_arrays_select(repo, viewer, scope, filters):
    expected = by_arrays(repo, viewer, scope, filters)
    ids, total = listed(repo, viewer, scope, filters)
    assert (ids, total) == (expected, len(expected))
    if scope == "shared" and viewer.role == "rep" and not filters:
        assert expected, "the data set shares something with each rep"


def test_the_filter_names_the_shared_customers_by_number_not_the_arrays(repo):
    viewer = REPS[0]
    for scope in ("all", "shared", "team"):
        filter_ = repo.list_filter(viewer, {"scope": scope}, tz=TZ)
        assert "shared_with" not in str(filter_) and "shared_teams" not in str(filter_)
    pool = repo.pool_filter(viewer, {"q": None, "status": "intent"}, tz=TZ)
    assert "shared_with" not in str(pool)


def fields_of(filter_: dict) -> set[str]:
    fields = set()
    for key, value in filter_.items():
        if key in ("$and", "$or"):
            for clause in value:
                fields |= fields_of(clause)
        else:
            fields.add(key)
    return fields


@pytest.mark.parametrize("filters", FILTERS, ids=str)
@pytest.mark.parametrize("viewer", VIEWERS, ids=lambda v: f"{v.role}-{v.user_id}-"
                         f"{v.sees_subordinates}")
def test_a_list_is_counted_from_one_index_and_walks_its_sort(repo, viewer, filters):
    """What FerretDB's overlay (exact.go) needs to count the matches from one index alone
    and then walk the sort's index to the page: every field the filter names is in one
    index, and none holds an array."""
    for scope in SCOPES:
        filter_ = repo.list_filter(viewer, {"scope": scope, **filters}, tz=TZ)
        assert fields_of(filter_) <= {field for field, _ in POOL_AND_VISIBILITY_INDEX}, scope


def test_share_rows_follow_shares_unshares_and_deletions(repo):
    owner, sharee, teammate = REPS[4], REPS[5], REPS[1]     # teammate: east/shanghai/team-2
    customer = make(900, owner)
    repo.insert_import_chunk("chunk-900", "shares", [customer], [], NOW)
    shared = lambda viewer: customer.id in listed(repo, viewer, "shared", {})[0]  # noqa: E731
    assert not shared(sharee) and not shared(teammate)

    def change(action):
        current = repo.get(customer.id)
        loaded = current.version
        action(current)
        repo.save(current, loaded, [])

    change(lambda c: c.share(owner, user_ids=[sharee.user_id], teams=["east/shanghai/"],
                             now=NOW))
    assert shared(sharee) and shared(teammate)
    assert not shared(REPS[2])                              # east/hangzhou
    change(lambda c: c.unshare_team(owner, "east/shanghai/", now=NOW))
    assert shared(sharee) and not shared(teammate)
    change(lambda c: c.unshare(owner, sharee.user_id, now=NOW))
    assert not shared(sharee)
    change(lambda c: c.share(owner, user_ids=[sharee.user_id], now=NOW))
    repo.customers.update_one({"_id": customer.id}, {"$set": {"deleted": True,
                                                              TERMS_PENDING: True}})
    assert not shared(sharee)                               # the flag is caught up first
    assert not repo.db[TERMS].count_documents({"customer_id": customer.id})


def test_customers_shared_before_the_share_rows_get_them_at_start():
    db = fresh_database("sharefill")
    repository = CustomerRepository(db)
    customer = make(7, REPS[0])
    customer.share(REPS[0], user_ids=[REPS[1].user_id], teams=["north"], now=NOW)
    # as a version before the share rows stored it: its search rows, none for shares
    doc = {**customer_doc(customer), "history": [], "interactions": []}
    doc.pop(TERMS_PENDING)
    search_rows = {key: row for key, row in wanted_rows(doc).items()
                   if key not in share_rows(doc)}
    db[TERMS].insert_many(list(search_rows.values()))
    db["customers"].insert_one({**doc, TERMS_DIGEST: rows_digest(search_rows)})
    db["scheduled_runs"].insert_one({"_id": FILLED})
    repository.ensure_indexes()
    assert repository.terms.shared_numbers(REPS[1].user_id, []) == [customer.number]
    assert repository.terms.shared_numbers(REPS[3].user_id, ["north", "north/beijing"]) == [
        customer.number]
    assert db["scheduled_runs"].find_one({"_id": SHARES_FILLED})
    assert db[TERMS].count_documents({"term": share_term(user_id=REPS[1].user_id)}) == 1
    repository.ensure_indexes()           # a second start: nothing to do, nothing doubled
    assert db[TERMS].count_documents({"term": {"$in": [
        share_term(user_id=REPS[1].user_id), share_term(team="north")]}}) == 2


def test_past_the_limit_the_share_arrays_are_matched(repo, monkeypatch):
    viewer = REPS[2]
    expected = by_arrays(repo, viewer, "all", {})
    monkeypatch.setattr(terms_repository, "SHARED_LIMIT", 1)
    assert repo.terms.shared_numbers(viewer.user_id, ["east"]) is None
    assert "shared_with" in str(repo.list_filter(viewer, {"scope": "all"}, tz=TZ))
    assert listed(repo, viewer, "all", {}) == (expected, len(expected))


def test_no_search_reaches_a_share_row(repo):
    from services.customer import naming

    assert naming.query_term("\x1eshare:u:rep0") == "shareurep0"
    assert not repo.terms.lookup("shareurep0").private
