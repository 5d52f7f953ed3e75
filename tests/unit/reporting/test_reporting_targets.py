"""PUT /targets rules: who may set which target, and what is refused."""
from __future__ import annotations

import pytest

from crmkit.errors import Forbidden, Invalid
from services.reporting.handlers import ReportingHandlers
from services.reporting.schemas import TargetOut


@pytest.fixture
def handlers(org):
    return ReportingHandlers(org.store)


def put(handlers, who, **body):
    """The target as PUT /targets answers it."""
    return TargetOut().dump(handlers.put_target(who, {
        "period": "2026-11", "owner_id": None, "team": None, "region": None,
        "amount": "1000", **body}))


def listed(handlers, who, scope=None, period=None):
    """The targets as GET /targets lists them."""
    return TargetOut(many=True).dump(handlers.list_targets(who, scope, period))


def test_a_supervisor_sets_targets_for_their_team(handlers, who):
    target = put(handlers, who("sup1"), owner_id="rep2", amount=1234.5)
    assert target == {"scope": "owner", "owner_id": "rep2", "period": "2026-11",
                      "amount": "1234.50", "currency": "CNY", "updated_by": "sup1",
                      "updated_at": target["updated_at"]}
    assert put(handlers, who("sup1"), team="east/shanghai/team-1")["team"] == \
        "east/shanghai/team-1"


@pytest.mark.parametrize("viewer,body", [
    ("rep1", {"owner_id": "rep1"}),                   # reps set no targets
    ("sup1", {"owner_id": "rep3"}),                   # another team
    ("sup1", {"team": "east/shanghai"}),              # above their own team
    ("sup1", {"region": "east"}),                     # regions: managers and admins
    ("mgr1", {"region": "north"}),                    # another region
    ("mgr1", {"owner_id": "rep4"}),
    ("mgr1", {"team": "north/beijing/team-1"}),
])
def test_targets_outside_what_one_oversees_are_refused(handlers, who, viewer, body):
    with pytest.raises(Forbidden):
        put(handlers, who(viewer), **body)


def test_a_manager_and_an_admin(handlers, who):
    assert put(handlers, who("mgr1"), region="east", period="2026")["region"] == "east"
    assert put(handlers, who("mgr1"), team="east/shanghai/team-2")["team"]
    assert put(handlers, who("admin"), region="north", period="2026-Q4")["period"] == \
        "2026-Q4"


@pytest.mark.parametrize("body,field", [
    ({"owner_id": "rep2", "period": "2026-13"}, "period"),
    ({"owner_id": "rep2", "period": "Q4"}, "period"),
    ({"owner_id": "rep2", "amount": "-5"}, "amount"),
    ({"owner_id": "rep2", "amount": "1.234"}, "amount"),
    ({"owner_id": "rep2", "amount": "abc"}, "amount"),
    ({}, "_schema"),
    ({"owner_id": "rep2", "team": "east"}, "_schema"),
    ({"owner_id": "nobody"}, "owner_id"),
])
def test_malformed_targets_name_the_field(handlers, who, body, field):
    with pytest.raises(Invalid) as caught:
        put(handlers, who("admin"), **body)
    assert field in caught.value.errors


def test_targets_listed_are_those_one_may_see(handlers, who):
    put(handlers, who("admin"), owner_id="rep1")
    put(handlers, who("admin"), owner_id="rep4")
    put(handlers, who("admin"), region="north")
    assert [t.get("owner_id") for t in listed(handlers, who("rep1"))] == [
        "rep1"]
    targets = listed(handlers, who("mgr2"))
    assert {(t["scope"], t.get("owner_id") or t.get("region")) for t in targets} == {
        ("owner", "rep4"), ("region", "north")}
