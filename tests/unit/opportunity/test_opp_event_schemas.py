"""Every event the domain records matches the schema registered for it (the envelope
would be refused otherwise), and every contract event type is registered."""
from datetime import date, timedelta

import services.opportunity.schemas  # noqa: F401 (registers the event schemas)
from crmkit.events import make_envelope, registry
from opp_people import NOW, TEAMMATE, open_opportunity, owner_of
from services.opportunity.pipeline import Pipeline

CONTRACT_EVENTS = {"opportunity.created", "opportunity.updated", "opportunity.stage_changed",
                   "opportunity.won", "opportunity.lost", "opportunity.assigned",
                   "opportunity.followup_planned"}


def test_every_contract_event_and_the_reminder_are_registered_for_this_producer():
    types = {spec.type for spec in registry.specs("opportunity")}
    assert CONTRACT_EVENTS | {"opportunity.reminder_set", "pipeline.updated"} <= types


def recorded_in_a_full_life():
    pipeline = Pipeline.default()
    opp = open_opportunity()
    opp.update({"product": "数控机床", "description": None, "competitors": ["甲"]},
               actor_id="rep1", pipeline=pipeline)
    opp.change_stage("proposal", "方案已提交", actor_id="rep1", pipeline=pipeline)
    opp.plan_followup(start_at=NOW + timedelta(days=3), end_at=NOW + timedelta(days=3, hours=1),
                      method="visit", content="拜访", actor_id="rep1", now=NOW)
    opp.set_reminder(remind_at=NOW + timedelta(days=1), actor_id="rep1", now=NOW)
    opp.follow_customer_owner(None, actor_id="rep1", cause="customer.returned")
    opp.follow_customer_owner(owner_of(TEAMMATE), actor_id="rep2", cause="customer.claimed")
    opp.win(amount="100.00", contract_number="HT-1", signed_on=date(2026, 11, 1),
            actor_id="rep2")
    lost = open_opportunity()
    lost.lose(reason="价格过高", actor_id="rep1")
    return opp.events + lost.events


def test_every_recorded_event_makes_a_valid_envelope():
    events = recorded_in_a_full_life()
    assert CONTRACT_EVENTS | {"opportunity.reminder_set"} == {e.type for e in events}
    for event in events:
        envelope = make_envelope(event, producer="opportunity", actor_id="rep1")
        assert envelope["data"] == event.data and envelope["aggregate_id"] == event.aggregate_id


def test_pipeline_updated_data_matches_its_schema():
    stages = [s.to_dict() for s in Pipeline.default().stages]
    assert registry.latest("pipeline.updated").schema().validate(
        {"stages": stages, "version": 2}) == {}
