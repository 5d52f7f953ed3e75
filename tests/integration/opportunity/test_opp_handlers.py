"""Use cases over a database of their own (no broker): state and outbox in one
write, the customer read model driving owner moves, retries and If-Match."""
from datetime import date, datetime, timedelta, timezone

import pytest

import services.opportunity.schemas  # noqa: F401 (registers the event schemas)
from crm_testing import fresh_database
from crmkit.bus.outbox import pending_envelopes
from crmkit.directory import UserDirectory
from crmkit.errors import Conflict, Invalid, NotFound, PreconditionFailed
from event_data import envelope
from opp_people import ADMIN, OTHER_REP, REP, SUPERVISOR, TEAMMATE
from services.opportunity.handlers import OpportunityHandlers
from services.opportunity.repository import OpportunityRepository

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)


@pytest.fixture
def service():
    db = fresh_database("opp")
    repo = OpportunityRepository(db)
    repo.ensure_indexes()
    return OpportunityHandlers(repo, UserDirectory(db), clock=lambda: T0)


def customer_event(kind, owner=None, *, version, shared=(), customer_id="c1",
                   event_id=None, actor="rep1"):
    return envelope(f"customer.{kind}", {
        "customer_id": customer_id, "name": "华东精密", "region": "east",
        "owner_id": owner.user_id if owner else None,
        "owner_team": owner.team if owner else None,
        "owner_region": owner.region if owner else None,
        "shared_with": list(shared), "version": version},
        aggregate_id=customer_id, actor_id=actor, event_id=event_id,
        occurred_at=T0 + timedelta(seconds=version))


def create(service, viewer=REP, customer_id="c1", **extra):
    return service.create({"name": "项目", "customer_id": customer_id, "amount": "10.00",
                           "expected_close_date": date(2027, 1, 1), **extra}, viewer)


def outbox_types(service, opp_id):
    doc = service.repo.opportunities.find_one({"_id": opp_id})
    return [e["type"] for e in pending_envelopes(doc)]


def test_unknown_customer_until_its_event_arrives(service):
    with pytest.raises(Invalid) as err:
        create(service)
    assert err.value.code == "unknown_customer"
    service.on_customer_event(customer_event("created", REP, version=1))
    opp = create(service)
    assert opp.owner_id == "rep1" and opp.customer_name == "华东精密"
    assert outbox_types(service, opp.id) == ["opportunity.created"]


def test_assign_moves_open_opportunities_and_writes_the_event(service):
    service.on_customer_event(customer_event("created", REP, version=1))
    opp = create(service)
    closed = create(service)
    service.lose(closed.id, "价格", REP)
    service.on_customer_event(customer_event("assigned", TEAMMATE, version=2, actor="sup1"))
    moved = service.repo.get(opp.id)
    assert moved.owner_id == "rep2" and moved.history[-1]["actor_id"] == "sup1"
    assert outbox_types(service, opp.id)[-1] == "opportunity.assigned"
    assert service.repo.get(closed.id).owner_id == "rep1"


def test_duplicate_customer_event_moves_once(service):
    service.on_customer_event(customer_event("created", REP, version=1))
    opp = create(service)
    assign = customer_event("assigned", TEAMMATE, version=2)
    service.on_customer_event(assign)
    service.on_customer_event(assign)
    assert outbox_types(service, opp.id).count("opportunity.assigned") == 1


def test_a_redelivered_event_heals_a_crash_between_the_two_writes(service, monkeypatch):
    service.on_customer_event(customer_event("created", REP, version=1))
    opp = create(service)
    assign = customer_event("assigned", TEAMMATE, version=2)
    monkeypatch.setattr(service, "reconcile", lambda customer_id: 0)  # "crash" after view
    service.on_customer_event(assign)
    assert service.repo.get(opp.id).owner_id == "rep1"
    monkeypatch.undo()
    service.on_customer_event(assign)  # the broker redelivers it
    assert service.repo.get(opp.id).owner_id == "rep2"


def test_opportunity_created_while_the_customer_moves_still_follows(service, monkeypatch):
    service.on_customer_event(customer_event("created", REP, version=1))
    stale_view = service.repo.customer_view("c1")
    service.on_customer_event(customer_event("assigned", TEAMMATE, version=2))
    real = service.repo.customer_view
    calls = []

    def first_stale(customer_id):
        calls.append(customer_id)
        return stale_view if len(calls) == 1 else real(customer_id)

    monkeypatch.setattr(service.repo, "customer_view", first_stale)
    opp = create(service, viewer=SUPERVISOR)
    assert opp.owner_id == "rep2"


def test_return_to_pool_leaves_it_to_supervisors(service):
    service.on_customer_event(customer_event("created", REP, version=1))
    opp = create(service)
    service.on_customer_event(customer_event("returned", None, version=2))
    assert service.get(opp.id, SUPERVISOR).owner_id is None
    with pytest.raises(NotFound):
        service.get(opp.id, REP)


def test_sharing_reaches_the_opportunities(service):
    service.on_customer_event(customer_event("created", REP, version=1))
    opp = create(service)
    service.on_customer_event(customer_event("shared", REP, version=2, shared=["rep3"]))
    assert service.get(opp.id, OTHER_REP).id == opp.id


def test_stale_if_match_is_precondition_failed(service):
    service.on_customer_event(customer_event("created", REP, version=1))
    opp = create(service)
    service.update(opp.id, {"product": "A"}, REP, expected_version=1)
    with pytest.raises(PreconditionFailed):
        service.update(opp.id, {"product": "B"}, REP, expected_version=1)


def test_pipeline_edit_checks_open_opportunities_and_rebases(service):
    service.on_customer_event(customer_event("created", REP, version=1))
    opp = create(service)
    stages = [s.to_dict() for s in service.pipeline().stages]
    with pytest.raises(Conflict) as err:
        service.put_pipeline(stages[1:], ADMIN)
    assert err.value.code == "stage_in_use"
    stages[0]["probability"] = 20
    edited = service.put_pipeline(stages, ADMIN)
    assert edited.version == 2
    assert service.rebase_probabilities() == 1
    assert service.repo.get(opp.id).probability == 20
    assert service.rebase_probabilities() == 0  # idempotent
    doc = service.repo.pipelines.find_one({"_id": "pipeline"})
    assert [e["type"] for e in pending_envelopes(doc)] == ["pipeline.updated"]


def test_user_moving_team_carries_their_opportunities(service):
    service.on_customer_event(customer_event("created", REP, version=1))
    opp = create(service)
    service.directory.apply({"id": "u1", "type": "user.updated",
                             "occurred_at": T0.isoformat(),
                             "data": {"id": "rep1", "team": "east/hangzhou/team-1",
                                      "region": "east"}})
    service.on_user_changed("rep1", {"team": "east/hangzhou/team-1", "region": "east"})
    assert service.repo.get(opp.id).owner_team == "east/hangzhou/team-1"


def test_history_lines_are_appended_across_changes(service):
    service.on_customer_event(customer_event("created", REP, version=1))
    opp = create(service)
    service.change_stage(opp.id, "needs_analysis", "一", REP)
    service.change_stage(opp.id, "proposal", "二", REP)
    service.on_customer_event(customer_event("assigned", TEAMMATE, version=2))
    service.win(opp.id, {"amount": "5.00", "contract_number": "H", "signed_on":
                         date(2026, 11, 1)}, TEAMMATE)
    lines = service.get(opp.id, ADMIN, history=True).history
    assert [line["action"] for line in lines] == ["stage_changed", "stage_changed",
                                                  "assigned", "won"]
    assert [line["note"] for line in lines[:2]] == ["一", "二"]
