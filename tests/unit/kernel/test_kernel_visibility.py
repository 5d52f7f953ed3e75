"""The one visibility rule (CONTRACT §3), as a predicate and as a Mongo filter.

The predicate is checked case by case; then the filter is run over a grid of owned,
shared and unowned records on mongomock and must select exactly what the predicate
admits, for every kind of viewer.
"""
from __future__ import annotations

import itertools
import uuid

import pytest

from crmkit.identity import Identity
from crmkit.mongo import get_database
from crmkit.visibility import Owner, can_see, is_superior, team_within, visibility_filter


def person(user_id, role, team="east/sh/t1", region="east") -> Identity:
    return Identity(user_id=user_id, username=user_id, name=user_id, role=role, team=team,
                    region=region)


REP = person("rep1", "rep", team="east/sh/t1")
SUPERVISOR = person("sup1", "supervisor", team="east/sh")
MANAGER = person("mgr1", "manager", team="east", region="east")
ADMIN = person("adm1", "admin", team="hq", region="hq")

OWN = Owner("rep1", "east/sh/t1", "east")
TEAMMATE = Owner("rep2", "east/sh/t1", "east")
SUB_TEAM = Owner("rep3", "east/sh/t1/night", "east")
SAME_TEAM_AS_SUPERVISOR = Owner("rep4", "east/sh", "east")
SIBLING_PREFIX_TEAM = Owner("rep5", "east/shanghai", "east")   # shares "east/sh" as text only
OTHER_REGION = Owner("rep6", "west/sh", "west")
UNOWNED_EAST = Owner(None, None, "east")
UNOWNED = Owner(None, None, None)


class TestRep:
    def test_sees_own_records(self):
        assert can_see(REP, OWN)

    def test_does_not_see_a_teammates_records(self):
        assert not can_see(REP, TEAMMATE)

    def test_sees_a_record_shared_with_them(self):
        assert can_see(REP, OTHER_REGION, shared_with=["someone", "rep1"])

    def test_sharing_with_someone_else_does_not_help(self):
        assert not can_see(REP, OTHER_REGION, shared_with=["rep2"])

    def test_does_not_see_unowned_records(self):
        assert not can_see(REP, UNOWNED_EAST)
        assert not can_see(REP, UNOWNED)

    def test_is_superior_of_nobody(self):
        assert not is_superior(REP, TEAMMATE)
        assert not is_superior(REP, OWN)


class TestSupervisor:
    @pytest.mark.parametrize("owner", [TEAMMATE, SUB_TEAM, SAME_TEAM_AS_SUPERVISOR],
                             ids=["team-below", "sub-sub-team", "own-team"])
    def test_sees_their_team_and_below(self, owner):
        assert can_see(SUPERVISOR, owner)
        assert is_superior(SUPERVISOR, owner)

    def test_does_not_see_a_sibling_team_whose_name_starts_alike(self):
        # east/sh must not cover east/shanghai: a text prefix is not a sub-team.
        assert not can_see(SUPERVISOR, SIBLING_PREFIX_TEAM)
        assert not is_superior(SUPERVISOR, SIBLING_PREFIX_TEAM)

    def test_does_not_see_the_parent_team(self):
        assert not can_see(SUPERVISOR, Owner("boss", "east", "east"))

    def test_does_not_see_the_rest_of_the_region(self):
        assert not can_see(SUPERVISOR, Owner("rep9", "east/bj", "east"))

    def test_sees_what_is_shared_with_them_elsewhere(self):
        assert can_see(SUPERVISOR, OTHER_REGION, shared_with=["sup1"])
        assert not is_superior(SUPERVISOR, OTHER_REGION)

    def test_does_not_see_unowned_records(self):
        assert not can_see(SUPERVISOR, UNOWNED_EAST)


class TestManager:
    @pytest.mark.parametrize("owner", [OWN, SIBLING_PREFIX_TEAM, Owner("x", "east/bj", "east")])
    def test_sees_everything_owned_in_their_region(self, owner):
        assert can_see(MANAGER, owner)
        assert is_superior(MANAGER, owner)

    def test_does_not_see_another_region(self):
        assert not can_see(MANAGER, OTHER_REGION)
        assert not is_superior(MANAGER, OTHER_REGION)

    def test_sees_region_records_even_without_an_owner(self):
        # A pool record keeps its region: the region's manager sees it.
        assert can_see(MANAGER, UNOWNED_EAST)

    def test_no_region_record_is_not_everyones(self):
        assert not can_see(MANAGER, UNOWNED)
        assert not can_see(person("m0", "manager", region=None), UNOWNED)


class TestAdmin:
    @pytest.mark.parametrize("owner", [OWN, OTHER_REGION, UNOWNED, SIBLING_PREFIX_TEAM])
    def test_sees_everything(self, owner):
        assert can_see(ADMIN, owner)
        assert is_superior(ADMIN, owner)

    def test_filter_is_empty(self):
        assert visibility_filter(ADMIN) == {}


def test_team_within_is_path_aware():
    assert team_within("east/sh", "east/sh")
    assert team_within("east/sh/t1", "east/sh")
    assert not team_within("east/shanghai", "east/sh")
    assert not team_within(None, "east/sh")
    assert not team_within("east/sh", "")


def test_filter_uses_the_given_field_names():
    assert visibility_filter(REP, owner_field="oid", shared_field="sw") == {
        "$or": [{"oid": "rep1"}, {"sw": "rep1"}]}
    assert visibility_filter(REP, shared_field=None) == {"$or": [{"owner_id": "rep1"}]}


# --------------------------------------------------------------------------- filter == predicate
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
    collection = get_database("mongomock://", f"kernel_vis_{uuid.uuid4().hex}")["records"]
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
