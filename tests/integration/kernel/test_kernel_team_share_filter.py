"""The visibility filter with team shares (CONTRACT §11) and with 上下级强制共享 on and
off, on the database server: over a grid of records it selects exactly what the
predicate admits, for every kind of viewer."""
from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from crm_testing import fresh_database
from crmkit.visibility import Owner, can_see, visibility_filter
from people import ADMIN, MANAGER, REP, SUPERVISOR, person

OWNER_IDS = [None, "rep1", "rep2", "sup1"]
TEAMS = [None, "east", "east/sh", "east/sh/t1", "east/shanghai", "east/a.b", "west/sh"]
REGIONS = [None, "east", "west"]
SHARES = [None, [], ["rep1"], ["sup1", "rep2", "rep4"]]
TEAM_SHARES = [None, [], ["east"], ["east/sh/t1"], ["east/shanghai", "west"], ["east/a.b"],
               ["east/sh/t1/night"]]

VIEWERS = [
    REP,
    person("rep2", "rep", team="east/shanghai", region="east"),
    person("rep3", "rep", team="east/aXb", region="east"),     # "." is no wildcard
    person("rep4", "rep", team="", region="east"),             # no team: no team shares
    SUPERVISOR,
    person("sup4", "supervisor", team="east/sh/"),             # a stray trailing slash
    MANAGER,
    ADMIN,
]


@pytest.fixture(scope="module")
def records():
    collection = fresh_database("teamvis")["records"]
    docs = []
    for number, (owner_id, team, region, shared, teams) in enumerate(
            itertools.product(OWNER_IDS, TEAMS, REGIONS, SHARES, TEAM_SHARES)):
        doc = {"_id": number, "owner_id": owner_id, "owner_team": team,
               "owner_region": region}
        if shared is not None:
            doc["shared_with"] = shared
        if teams is not None:
            doc["shared_teams"] = teams
        docs.append(doc)
    collection.insert_many(docs)
    return collection, docs


@pytest.mark.parametrize("sees_subordinates", [True, False], ids=["on", "off"])
@pytest.mark.parametrize("viewer", VIEWERS, ids=lambda v: f"{v.role}:{v.user_id}:{v.team}")
def test_filter_selects_exactly_what_can_see_admits(records, viewer, sees_subordinates):
    collection, docs = records
    viewer = replace(viewer, sees_subordinates=sees_subordinates)
    expected = {doc["_id"] for doc in docs
                if can_see(viewer, Owner(doc["owner_id"], doc["owner_team"],
                                         doc["owner_region"]),
                           doc.get("shared_with"), doc.get("shared_teams"))}
    selected = {doc["_id"] for doc in collection.find(
        visibility_filter(viewer, shared_teams_field="shared_teams"), {"_id": 1})}
    assert selected == expected
    assert expected and (viewer.role == "admin" or len(expected) < len(docs))
