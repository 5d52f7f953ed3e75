"""CONTRACT §11 in the one visibility rule: sharing with teams (every present and future
member of the team and of the teams below it) and 上下级强制共享 switched off (superiors
see only what is theirs or shared with them; admins still see everything)."""
from __future__ import annotations

from dataclasses import replace

import pytest

from crmkit.visibility import (Owner, can_see, is_sharee, is_superior, may_work_on,
                               outranks, team_ancestors, visibility_filter)
from people import ADMIN, MANAGER, REP, SUPERVISOR, person

SUBORDINATE = Owner("rep2", "east/sh/t1", "east")
ELSEWHERE = Owner("rep9", "west/bj", "west")
OFF = {"sees_subordinates": False}


def off(viewer):
    return replace(viewer, **OFF)


def test_team_ancestors_are_the_team_and_every_team_above_it():
    assert team_ancestors("east/sh/t1") == ["east", "east/sh", "east/sh/t1"]
    assert team_ancestors("/east/") == ["east"]
    assert team_ancestors("") == [] and team_ancestors(None) == []


class TestTeamShares:
    def test_a_member_of_the_shared_team_sees_it(self):
        assert can_see(REP, ELSEWHERE, shared_teams=["east/sh/t1"])

    def test_a_member_of_a_team_below_sees_it(self):
        assert can_see(REP, ELSEWHERE, shared_teams=["east/sh"])
        assert can_see(REP, ELSEWHERE, shared_teams=["east"])

    def test_a_team_above_the_viewer_is_not_below_the_shared_team(self):
        # shared with east/sh/t1/night: a member of east/sh/t1 is above it, not in it
        assert not can_see(REP, ELSEWHERE, shared_teams=["east/sh/t1/night"])

    def test_a_team_whose_name_only_starts_alike_does_not_see_it(self):
        assert not can_see(person("r", team="east/shanghai"), ELSEWHERE,
                           shared_teams=["east/sh"])

    def test_a_user_created_later_in_the_team_sees_it(self):
        # nothing about the members is stored: whoever is in the team now sees it
        newcomer = person("new-rep", team="east/sh/t2")
        assert can_see(newcomer, ELSEWHERE, shared_teams=["east/sh"])
        assert is_sharee(newcomer, (), ["east/sh"])

    def test_may_work_on_an_unowned_record_shared_with_the_team(self):
        assert may_work_on(REP, None, "west", (), ["east"])
        assert not may_work_on(REP, None, "west", (), ["west"])

    def test_the_filter_matches_the_viewers_team_and_its_ancestors(self):
        assert visibility_filter(REP, shared_teams_field="shared_teams") == {"$or": [
            {"owner_id": "rep1"}, {"shared_with": "rep1"},
            {"shared_teams": {"$in": ["east", "east/sh", "east/sh/t1"]}}]}

    def test_without_the_field_the_filter_is_as_before(self):
        assert visibility_filter(REP) == {"$or": [{"owner_id": "rep1"},
                                                  {"shared_with": "rep1"}]}


class TestSuperiorsSeeSubordinatesOff:
    @pytest.mark.parametrize("viewer", [SUPERVISOR, MANAGER], ids=["supervisor", "manager"])
    def test_superiors_see_subordinates_records_while_on(self, viewer):
        assert can_see(viewer, SUBORDINATE) and is_superior(viewer, SUBORDINATE)

    @pytest.mark.parametrize("viewer", [SUPERVISOR, MANAGER], ids=["supervisor", "manager"])
    def test_off_superiors_do_not_see_them(self, viewer):
        assert not can_see(off(viewer), SUBORDINATE)
        assert not is_superior(off(viewer), SUBORDINATE)

    @pytest.mark.parametrize("viewer", [SUPERVISOR, MANAGER], ids=["supervisor", "manager"])
    def test_off_superiors_see_what_subordinates_share_with_them(self, viewer):
        assert can_see(off(viewer), SUBORDINATE, shared_with=[viewer.user_id])
        assert can_see(off(viewer), SUBORDINATE, shared_teams=[viewer.team])

    @pytest.mark.parametrize("viewer", [SUPERVISOR, MANAGER], ids=["supervisor", "manager"])
    def test_off_superiors_still_see_their_own(self, viewer):
        assert can_see(off(viewer), Owner(viewer.user_id, viewer.team, viewer.region))

    def test_off_an_admin_still_sees_everything(self):
        assert can_see(off(ADMIN), SUBORDINATE) and is_superior(off(ADMIN), ELSEWHERE)
        assert visibility_filter(off(ADMIN)) == {}

    @pytest.mark.parametrize("viewer", [SUPERVISOR, MANAGER], ids=["supervisor", "manager"])
    def test_off_the_filter_has_no_rank_clause(self, viewer):
        assert visibility_filter(off(viewer)) == {"$or": [{"owner_id": viewer.user_id},
                                                          {"shared_with": viewer.user_id}]}

    @pytest.mark.parametrize("viewer", [SUPERVISOR, MANAGER], ids=["supervisor", "manager"])
    def test_rank_still_decides_who_may_be_given_work(self, viewer):
        assert outranks(off(viewer), SUBORDINATE)
        assert not outranks(off(viewer), ELSEWHERE)

    def test_a_rep_is_unaffected(self):
        assert can_see(off(REP), Owner("rep1")) and not can_see(off(REP), SUBORDINATE)
