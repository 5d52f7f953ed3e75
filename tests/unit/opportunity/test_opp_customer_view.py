"""The service's copy of customers, folded from customer events (each carries the
customer's snapshot; newer by `crmkit.bus.ordering.order_key`)."""
from datetime import datetime, timedelta, timezone

import pytest

from crmkit.bus.ordering import order_key
from crmkit.visibility import Owner
from event_data import envelope
from services.opportunity.customers import CustomerView, apply_event

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)
TEAM_1 = "east/shanghai/team-1"


def event(kind, data=None, *, version=1, seconds=0, event_id=None, actor="rep1"):
    """An envelope as the customer service publishes it: the snapshot (checked against
    its schema) with what the test states; events of one version are ordered by time."""
    return envelope(f"customer.{kind}", {"customer_id": "c1", "name": "华东精密",
                                         "region": "east", **(data or {}),
                                         "version": version},
                    aggregate_id="c1", actor_id=actor,
                    event_id=event_id or f"{kind}-{version}-{seconds}",
                    occurred_at=T0 + timedelta(seconds=seconds))


def owned_by(user_id, team=TEAM_1, region="east"):
    return {"owner_id": user_id, "owner_team": team, "owner_region": region}


CREATED = event("created", {"name": "华东精密", "region": "east", **owned_by("rep1")},
                version=1)


def fold(*events, view=None, **kw):
    for e in events:
        view, _ = apply_event(view, e, **kw)
    return view


def test_created_makes_a_known_customer_with_owner_and_region():
    view = fold(CREATED)
    ref = view.as_ref()
    assert view.exists and ref.id == "c1" and ref.region == "east"
    assert ref.owner == Owner("rep1", "east/shanghai/team-1", "east")
    assert ref.name == "华东精密"


def test_unknown_customer_has_no_ref():
    assert CustomerView(id="c9").as_ref() is None


def test_created_in_pool_has_no_owner():
    view = fold(event("created", {"name": "x", "region": "east", "owner_id": None},
                      version=1))
    assert view.exists and view.owner is None


def test_claim_return_recover_assign_move_the_owner():
    view = fold(CREATED, event("returned", {"reason": "不跟进"}, version=2))
    assert view.owner is None and view.owner_cause == "customer.returned"
    view = fold(event("claimed", owned_by("rep3", "east/hz"), version=3, actor="rep3"),
                view=view)
    assert view.owner_id == "rep3" and view.owner_actor_id == "rep3"
    view = fold(event("recovered", {}, version=4), view=view)
    assert view.owner is None
    view = fold(event("assigned", owned_by("rep2"), version=5), view=view)
    assert view.owner_id == "rep2" and view.owner_cause == "customer.assigned"


def test_a_claim_makes_the_claimer_the_owner():
    view = fold(CREATED, event("returned", version=2),
                event("claimed", owned_by("rep9"), version=3, actor="rep9"))
    assert view.owner_id == "rep9"


def test_owner_team_and_region_come_from_the_snapshot():
    users = {"rep2": Owner("rep2", "east/shanghai/team-1", "east")}
    view = fold(CREATED, event("assigned", owned_by("rep2"), version=2))
    assert view.owner == users["rep2"]


def test_a_duplicate_event_changes_nothing():
    assign = event("assigned", owned_by("rep2"), version=2)
    view = fold(CREATED, assign)
    _, applied = apply_event(view, assign)
    assert not applied.changed and view.owner_id == "rep2"


def test_an_older_event_arriving_late_is_ignored():
    # assigned to rep2 at v3, then the older claim by rep3 (v2) is redelivered
    view = fold(CREATED, event("assigned", owned_by("rep2"), version=3),
                event("claimed", owned_by("rep3"), version=2))
    assert view.owner_id == "rep2"


def test_events_before_created_are_kept_and_created_does_not_undo_them():
    view = fold(event("claimed", owned_by("rep3"), version=2), CREATED)
    assert view.owner_id == "rep3"          # claim (v2) is newer than created (v1)
    assert view.region == "east"            # the claim's snapshot states the region


def test_within_one_version_occurred_at_decides():
    late_first = event("assigned", owned_by("rep2"), seconds=20)
    early_second = event("assigned", owned_by("rep3"), seconds=10)
    assert fold(late_first, early_second).owner_id == "rep2"


def test_shares_in_or_out_of_order_end_alike():
    shared = event("shared", {**owned_by("rep1"), "user_ids": ["rep2", "rep3"],
                              "shared_with": ["rep2", "rep3"]}, version=2)
    unshared = event("unshared", {**owned_by("rep1"), "user_ids": ["rep2"],
                                  "shared_with": ["rep3"]}, version=3)
    in_order = fold(CREATED, shared, unshared)
    out_of_order = fold(CREATED, unshared, shared)
    assert in_order.shared_with == out_of_order.shared_with == ("rep3",)


def test_a_full_shared_with_list_replaces_the_set():
    view = fold(CREATED, event("shared", {"user_ids": ["rep2"], "shared_with": ["rep2"]},
                               version=2),
                event("shared", {"user_ids": ["rep4"], "shared_with": ["rep4"]}, version=3))
    assert view.shared_with == ("rep4",)


def test_deleted_is_final_even_if_older_events_follow():
    view = fold(event("created", {"name": "x", "region": "east", "owner_id": None},
                      version=1),
                event("deleted", version=3), event("claimed", owned_by("rep1"), version=2))
    assert not view.exists and view.as_ref() is None


def test_updated_name_and_region_from_changes():
    view = fold(CREATED, event("updated", {
        **owned_by("rep1"), "name": "华东精密科技", "region": "north",
        "changes": {"name": ["华东精密", "华东精密科技"], "region": ["east", "north"]}},
        version=2))
    assert (view.name, view.region) == ("华东精密科技", "north")


def test_the_snapshot_states_owner_and_region():
    view = fold(event("created", {"name": "N", "region": "west",
                                  **owned_by("rep5", "west/chengdu", "west")}))
    assert view.region == "west" and view.owner_id == "rep5"


def test_applied_reports_what_changed():
    view = fold(CREATED)
    _, applied = apply_event(view, event("returned", version=2))
    assert applied.owner_changed and applied.changed and not applied.shares_changed


def test_view_round_trips_through_its_document():
    view = fold(CREATED, event("shared", {**owned_by("rep1"), "user_ids": ["rep2"],
                                          "shared_with": ["rep2"]}, version=2))
    again = CustomerView.from_doc(view.to_doc())
    assert again.as_ref() == view.as_ref()
    assert again.key == view.key


def stamped(version, at, event_id):
    return {"id": event_id, "occurred_at": at.isoformat(), "data": {"version": version}}


@pytest.mark.parametrize("a, b, newer", [
    (stamped(2, T0, "a"), stamped(1, T0, "b"), True),
    (stamped(1, T0, "z"), stamped(2, T0, "a"), False),
    (stamped(1, T0, "same"), stamped(1, T0, "same"), False),
    (stamped(1, T0 + timedelta(1), "a"), stamped(1, T0, "b"), True),
])
def test_order_key_order(a, b, newer):
    assert (order_key(a) > order_key(b)) is newer


def snapshot_event(kind, *, owner=None, shared=(), seconds=0, **extra):
    """As the customer service publishes them: the customer's snapshot plus extras."""
    data = {"customer_id": "c1", "name": "华东精密", "region": "east", "owner_id": owner,
            "owner_team": "east/shanghai/team-1" if owner else None,
            "owner_region": "east" if owner else None, "shared_with": list(shared), **extra}
    return event(kind, data, seconds=seconds)


def test_snapshot_events_of_one_version_fold_in_time_order():
    view = fold(snapshot_event("created", owner="rep1", seconds=0),
                snapshot_event("shared", owner="rep1", shared=["rep2"], seconds=1,
                               user_ids=["rep2"]),
                snapshot_event("returned", owner=None, shared=[], seconds=2,
                               previous_owner_id="rep1"))
    assert view.owner is None and view.shared_with == ()
    assert view.owner_cause == "customer.returned"


def test_snapshot_restating_the_same_owner_keeps_the_cause_of_the_move():
    view = fold(snapshot_event("created", owner="rep1", seconds=0),
                snapshot_event("assigned", owner="rep2", seconds=1),
                snapshot_event("updated", owner="rep2", seconds=2, changes={}))
    assert view.owner_cause == "customer.assigned"


def test_a_newer_event_restating_the_owner_still_counts_as_a_change():
    # it must be written, or an older move arriving later would win
    view = fold(snapshot_event("created", owner="rep1", seconds=0))
    view, applied = apply_event(view, snapshot_event("updated", owner="rep1", seconds=5))
    assert applied.changed and not applied.owner_changed
    view = fold(snapshot_event("assigned", owner="rep2", seconds=3), view=view)
    assert view.owner_id == "rep1"
