"""Sharing a customer with teams and 上下级强制共享 (CONTRACT §11), in the domain alone."""
from __future__ import annotations

from dataclasses import replace

import pytest

from crmkit.errors import Forbidden, Invalid, NotFound
from customer_fixtures import (ADMIN, MANAGER, NOW, REP, REP_OTHER_TEAM, SUPERVISOR,
                               make_customer, person)

from services.customer.access import relation, view


def off(viewer):
    return replace(viewer, sees_subordinates=False)


def test_sharing_with_a_team_records_it_and_tells_subscribers():
    customer = make_customer(REP)
    customer.share(REP, [], teams=["east/hangzhou"], now=NOW)
    assert customer.shared_teams == ["east/hangzhou"]
    [event] = customer.events
    assert event.type == "customer.shared"
    assert event.data["teams"] == ["east/hangzhou"] and event.data["user_ids"] == []
    assert event.data["shared_teams"] == ["east/hangzhou"]
    assert customer.log[-1]["changes"] == {"shared_teams": [[], ["east/hangzhou"]]}


def test_members_of_the_team_and_below_are_sharees():
    customer = make_customer(REP)
    assert relation(customer, REP_OTHER_TEAM) == "hidden"
    customer.share(REP, [], teams=["east/hangzhou"], now=NOW)
    assert relation(customer, REP_OTHER_TEAM) == "sharee"
    assert relation(customer, person("later", team="east/hangzhou/x/y")) == "sharee"
    assert relation(customer, person("far", team="east/hangzhou2")) == "hidden"
    with pytest.raises(Forbidden):                       # sharees read, never edit
        customer.update(REP_OTHER_TEAM, {"level": "A"}, now=NOW)


def test_sharing_the_same_team_twice_changes_nothing():
    customer = make_customer(REP)
    customer.share(REP, [], teams=["east/hangzhou"], now=NOW)
    customer.events.clear()
    assert customer.share(REP, [], teams=["east/hangzhou"], now=NOW) == []
    assert not customer.events


def test_nothing_to_share_with_is_a_422():
    with pytest.raises(Invalid) as caught:
        make_customer(REP).share(REP, [], teams=[], now=NOW)
    assert "user_ids" in caught.value.errors


def test_unsharing_a_team_takes_it_away_from_its_members():
    customer = make_customer(REP)
    customer.share(REP, [], teams=["east/hangzhou"], now=NOW)
    customer.events.clear()
    with pytest.raises(Forbidden):
        customer.unshare_team(REP_OTHER_TEAM, "east/hangzhou", now=NOW)
    with pytest.raises(NotFound):
        customer.unshare_team(REP, "east/elsewhere", now=NOW)
    customer.unshare_team(REP, "east/hangzhou", now=NOW)
    assert customer.shared_teams == [] and relation(customer, REP_OTHER_TEAM) == "hidden"
    assert customer.events[-1].type == "customer.unshared"
    assert customer.events[-1].data["teams"] == ["east/hangzhou"]


def test_back_in_the_pool_a_customer_keeps_no_team_shares():
    customer = make_customer(REP)
    customer.share(REP, [], teams=["east/hangzhou"], now=NOW)
    customer.return_to_pool(REP, now=NOW)
    assert customer.shared_teams == []
    assert view(customer, REP_OTHER_TEAM) == "public"


@pytest.mark.parametrize("superior", [SUPERVISOR, MANAGER], ids=["supervisor", "manager"])
def test_with_the_switch_off_superiors_see_only_what_is_shared(superior):
    customer = make_customer(REP)
    assert relation(customer, superior) == "superior"
    assert relation(customer, off(superior)) == "hidden"
    with pytest.raises(NotFound):
        customer.update(off(superior), {"level": "A"}, now=NOW)
    customer.share(REP, [superior.user_id], now=NOW)
    assert relation(customer, off(superior)) == "sharee"


def test_with_the_switch_off_an_admin_still_sees_and_edits_everything():
    customer = make_customer(REP)
    assert relation(customer, off(ADMIN)) == "admin"
    customer.update(off(ADMIN), {"level": "A"}, now=NOW)
