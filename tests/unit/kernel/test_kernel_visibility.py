"""The one visibility rule (CONTRACT §3), as a predicate and as a Mongo filter.

The predicate is checked case by case here; tests/integration/kernel/
test_kernel_visibility_filter.py runs the filter on the database server.
"""
from __future__ import annotations

import pytest

from crmkit.visibility import Owner, can_see, is_superior, team_within, visibility_filter
from people import ADMIN, MANAGER, REP, SUPERVISOR, person



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
