"""An opportunity's contact_id is one of its customer's contacts: the customer copy keeps
the contact ids the customer service's events state (customer.* snapshots, contact.*),
newest by order key; a copy that does not know them yet accepts any contact_id."""
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from crmkit.errors import Invalid
from event_data import envelope
from opp_people import REP, customer_of, open_opportunity
from services.opportunity.customers import CustomerView, apply_event
from services.opportunity.pipeline import Pipeline

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)
OWNER = {"owner_id": "rep1", "owner_team": "east/shanghai/team-1", "owner_region": "east"}


def customer_event(kind, version, contact_ids=None, seconds=0):
    data = {"customer_id": "c1", "name": "华东精密", "region": "east", **OWNER,
            "version": version}
    if contact_ids is not None:
        data["contact_ids"] = contact_ids
    return envelope(f"customer.{kind}", data, aggregate_id="c1", actor_id="rep1",
                    event_id=f"{kind}-{version}", occurred_at=T0 + timedelta(seconds=seconds))


def contact_event(kind, version, contact_id, contact_ids, seconds=0):
    data = {"customer_id": "c1", **OWNER, "contact_id": contact_id,
            "contact_ids": contact_ids, "version": version}
    if kind != "deleted":
        data.update(name="李工", is_primary=False)
    return envelope(f"contact.{kind}", data, aggregate_id="c1", actor_id="rep1",
                    event_id=f"contact-{kind}-{version}",
                    occurred_at=T0 + timedelta(seconds=seconds))


def fold(*events):
    view = None
    for e in events:
        view, _ = apply_event(view, e)
    return view


def test_the_copy_keeps_the_newest_contact_ids_whatever_the_order():
    events = [customer_event("created", 1, ["ct1"]),
              contact_event("created", 2, "ct2", ["ct1", "ct2"], seconds=1),
              contact_event("deleted", 3, "ct2", ["ct1"], seconds=2),
              contact_event("created", 4, "ct3", ["ct1", "ct3"], seconds=3)]
    in_order = fold(*events)
    shuffled = fold(events[3], events[1], events[0], events[2], events[1])
    assert in_order.contact_ids == shuffled.contact_ids == ("ct1", "ct3")
    assert in_order.as_ref().contact_ids == ("ct1", "ct3")
    assert CustomerView.from_doc(in_order.to_doc()).contact_ids == ("ct1", "ct3")


def test_a_contact_event_changes_nothing_else_of_the_copy():
    view = fold(customer_event("created", 1, ["ct1"]))
    before = (view.owner, view.key, view.name)
    view, applied = apply_event(view, contact_event("created", 2, "ct2", ["ct1", "ct2"]))
    assert applied.changed and not applied.owner_changed and not applied.shares_changed
    assert (view.owner, view.key, view.name) == before
    _, again = apply_event(view, contact_event("created", 2, "ct2", ["ct1", "ct2"]))
    assert not again.changed


def test_a_copy_from_events_without_contact_ids_does_not_know_them():
    view = fold(customer_event("created", 1))
    assert view.contact_ids is None and view.as_ref().contact_ids is None


def test_an_opportunity_contact_must_be_a_contact_of_its_customer():
    customer = replace(customer_of(REP), contact_ids=("ct1", "ct2"))
    opp = open_opportunity(customer=customer, contact_id="ct2")
    assert opp.contact_id == "ct2"
    with pytest.raises(Invalid) as err:
        open_opportunity(customer=customer, contact_id="ct-other")
    assert list(err.value.errors) == ["contact_id"]
    with pytest.raises(Invalid) as err:
        opp.update({"contact_id": "ct-other"}, actor_id="rep1", pipeline=Pipeline(),
                   customer_contacts=("ct1", "ct2"))
    assert list(err.value.errors) == ["contact_id"] and opp.contact_id == "ct2"
    assert opp.update({"contact_id": None}, actor_id="rep1", pipeline=Pipeline(),
                      customer_contacts=("ct1",)) == {"contact_id": ["ct2", None]}


def test_an_unknown_contact_list_is_accepted_rather_than_refused():
    opp = open_opportunity(customer=customer_of(REP), contact_id="ct-anything")
    assert opp.contact_id == "ct-anything"
    opp.update({"contact_id": "ct-else"}, actor_id="rep1", pipeline=Pipeline(),
               customer_contacts=None)
    assert opp.contact_id == "ct-else"


def test_the_default_first_stage_has_one_label_in_every_service():
    from services.reporting.pipeline import DEFAULT_PIPELINE
    first = Pipeline.default().first
    assert (first.key, first.label_zh, first.label_en) == ("lead", "初步接触", "Initial contact")
    assert [(s["key"], s["zh"], s["en"], s["probability"])
            for s in DEFAULT_PIPELINE["stages"]] == [
        (s.key, s.label_zh, s.label_en, s.probability) for s in Pipeline.default().stages]
