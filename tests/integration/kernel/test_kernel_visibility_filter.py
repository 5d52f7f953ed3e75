"""The visibility filter on the database server: run over a grid of owned, shared and
unowned records, it selects exactly what the predicate admits, for every kind of viewer."""
from __future__ import annotations

import itertools

import pytest

from crm_testing import fresh_database
from crmkit.visibility import Owner, can_see, visibility_filter
from people import ADMIN, MANAGER, REP, SUPERVISOR, person

OWNER_IDS = [None, "rep1", "rep2", "sup1", "mgr1"]
TEAMS = [None, "east", "east/sh", "east/sh/t1", "east/sh/t1/night", "east/shanghai",
         "east/shanghai/t1", "east/a.b", "east/aXb/t1", "west/sh"]
REGIONS = [None, "east", "west"]
SHARES = [None, [], ["rep1"], ["sup1", "rep2"], ["mgr1", "sup5", "mgr3"]]

VIEWERS = [
    REP,
    person("rep2", "rep", team="east/shanghai", region="east"),
    SUPERVISOR,
    person("sup2", "supervisor", team="east/shanghai"),
    person("sup3", "supervisor", team="east/a.b"),     # "." must not act as a wildcard
    person("sup4", "supervisor", team="east/sh/"),     # a stray trailing slash
    person("sup5", "supervisor", team=""),             # no team: only own and shared
    MANAGER,
    person("mgr2", "manager", team="west", region="west"),
    person("mgr3", "manager", team="", region=""),     # no region: only own and shared
    ADMIN,
]


@pytest.fixture(scope="module")
def owned_records():
    collection = fresh_database("vis")["records"]
    docs = []
    for number, (owner_id, team, region, shared) in enumerate(
            itertools.product(OWNER_IDS, TEAMS, REGIONS, SHARES)):
        doc = {"_id": number, "owner_id": owner_id, "owner_team": team,
               "owner_region": region}
        if shared is not None:  # some records have no shared_with at all
            doc["shared_with"] = shared
        docs.append(doc)
    collection.insert_many(docs)
    return collection, docs


@pytest.mark.parametrize("viewer", VIEWERS, ids=lambda v: f"{v.role}:{v.user_id}:{v.team}")
def test_filter_selects_exactly_what_can_see_admits(owned_records, viewer):
    collection, docs = owned_records
    expected = {doc["_id"] for doc in docs
                if can_see(viewer, Owner(doc["owner_id"], doc["owner_team"],
                                         doc["owner_region"]), doc.get("shared_with"))}
    selected = {doc["_id"] for doc in collection.find(visibility_filter(viewer), {"_id": 1})}
    assert selected == expected
    # The grid is only a proof if the viewer sees some records and misses others.
    assert expected and (viewer.role == "admin" or len(expected) < len(docs))
