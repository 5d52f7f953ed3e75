"""The events as the real producers shape them (snapshots with versions, nested names)
project to the right figures; creation sorts before everything else."""
from __future__ import annotations

import events  # noqa: F401  (registers every event's schema)
from crmkit.bus.ordering import order_key
from crmkit.events import DomainEvent, make_envelope, registry
from services.reporting import periods, reports
from reporting_world import TODAY, project


def envelope(type_, aggregate_id, data, at, *, id_=None, actor=None, region="east"):
    """The real envelope function (data checked against its schema), at a given time."""
    made = make_envelope(DomainEvent(type_, aggregate_id, data, region),
                         producer=registry.latest(type_).producer, actor_id=actor)
    return {**made, "id": id_ or f"{type_}-{aggregate_id}-{at}", "occurred_at": at,
            "correlation_id": "c"}


def opportunity_snapshot(version, **changes):
    snap = {"opportunity_id": "o1", "name": "仓储系统", "customer_id": "c1",
            "owner_id": "rep1", "owner_team": "east/a", "owner_region": "east",
            "region": "east", "stage": "lead", "status": "open", "amount": "1000.00",
            "currency": "CNY", "probability": 10, "expected_close_date": "2026-12-31",
            "created_at": "2026-11-02T02:00:00.000+00:00",
            "stage_changed_at": "2026-11-02T02:00:00.000+00:00", "closed_at": None,
            "won": None, "lost": None, "version": version}
    snap.update(changes)
    return snap


def test_the_opportunity_services_events(who):
    events = [
        envelope("opportunity.created", "o1", {**opportunity_snapshot(1), "created_by": "rep1"},
                 "2026-11-02T02:00:00.000+00:00"),
        envelope("opportunity.stage_changed", "o1", {
            **opportunity_snapshot(2, stage="proposal", probability=50),
            "from_stage": "lead", "to_stage": "proposal", "note": "方案", "forward": True},
            "2026-11-03T02:00:00.000+00:00"),
        envelope("opportunity.won", "o1", {
            **opportunity_snapshot(3, stage="won", status="won", probability=100,
                                   closed_at="2026-11-05T02:00:00.000+00:00",
                                   won={"amount": "1234.50", "contract_number": "HT-9",
                                        "signed_on": "2026-11-05"}),
            "from_stage": "proposal", "won_amount": "1234.50", "contract_number": "HT-9",
            "signed_on": "2026-11-05"}, "2026-11-05T02:00:00.000+00:00"),
    ]
    store = project(events + [dict(events[1], id="replayed-later")])  # a stale replay
    funnel = reports.funnel(store, who("rep1"))
    assert funnel["won"] == {"count": 1, "amount": "1234.50"}  # the won amount, not 1000
    assert all(s["count"] == 0 for s in funnel["stages"])
    win_loss = reports.win_loss(store, who("rep1"))
    assert win_loss["won"]["average_cycle_days"] == 3.0


def test_a_lost_opportunity_is_dated_by_its_closed_at(who):
    events = [
        envelope("opportunity.created", "o1", {**opportunity_snapshot(1), "created_by": "rep1"},
                 "2026-11-02T02:00:00.000+00:00"),
        envelope("opportunity.lost", "o1", {
            **opportunity_snapshot(2, stage="lost", status="lost", probability=0,
                                   closed_at="2026-11-09T17:00:00.000+00:00",
                                   lost={"reason": "预算取消"}),
            "from_stage": "lead", "reason": "预算取消"}, "2026-11-09T17:00:00.001+00:00"),
    ]
    store = project(events)
    from datetime import date
    # 17:00 UTC on the 9th is already the 10th in Shanghai
    assert reports.win_loss(store, who("rep1"), start=date(2026, 11, 10),
                            end=date(2026, 11, 10))["lost"]["count"] == 1


def test_the_opportunity_follows_its_customers_new_owner(who, org):
    org.handle(envelope("opportunity.created", "o1",
                        {**opportunity_snapshot(1), "created_by": "rep1"},
                        "2026-11-02T02:00:00.000+00:00"))
    org.handle(envelope("opportunity.assigned", "o1", {
        **opportunity_snapshot(2, owner_id="rep2"), "from_owner_id": "rep1",
        "to_owner_id": "rep2", "cause": "customer_assigned"}, "2026-11-03T02:00:00+00:00"))
    assert reports.summary(org.store, who("rep2"))["opportunities_open"] == 1
    assert reports.summary(org.store, who("rep1"))["opportunities_open"] == 0


def test_the_customer_services_interaction_and_pool_events(who, org):
    snapshot = {"customer_id": "c1", "id": "c1", "number": "CRM202611020001", "name": "甲公司",
                "industry": "IT", "status": "potential", "level": None, "source": None,
                "tags": [], "region": "east", "owner_id": "rep1", "owner_team": "east/a",
                "owner_region": "east", "owner_name": "张三", "shared_with": [],
                "deal_amount": "0.00", "currency": "CNY", "last_deal_on": None,
                "last_followup_at": None, "created_by": "rep1",
                "created_at": "2026-11-02T02:00:00.000+00:00", "version": 1}
    org.handle(envelope("customer.created", "c1", {**snapshot, "in_pool": False},
                        "2026-11-02T02:00:00.000+00:00"))
    org.handle(envelope("interaction.logged", "c1", {
        "customer_id": "c1", "owner_id": "rep1", "owner_team": "east/a",
        "owner_region": "east", "interaction_id": "i1",
        "occurred_at": "2026-11-03T01:00:00.000+00:00", "method": "visit",
        "subject": "拜访", "attitude": "positive", "contact_ids": [],
        "opportunity_id": None, "next_action": None, "next_action_due": None,
        "created_by": "rep1"}, "2026-11-03T01:00:01.000+00:00"))
    org.handle(envelope("customer.returned", "c1", {
        **snapshot, "owner_id": None, "owner_team": None, "owner_region": None,
        "version": 2, "previous_owner_id": "rep1", "reason": "无意向", "auto": False},
        "2026-11-04T01:00:00.000+00:00"))
    assert reports.summary(org.store, who("rep1"))["customers"] == 0
    assert reports.summary(org.store, who("rep1"))["customers_in_pool"] == 1
    activity = reports.activity(org.store, who("rep1"), today=TODAY)["rows"][0]
    assert activity["by_method"]["visit"] == 1 and activity["customers_touched"] == 1


def test_the_tasks_services_snapshots(who, org):
    base = {"task_id": "t1", "type": "call", "title": "回访", "priority": "high",
            "assignee_id": "rep1", "created_by": "rep1", "customer_ids": ["c1"],
            "due_at": "2026-11-20T02:00:00.000+00:00", "completed_at": None}
    org.handle(envelope("task.created", "t1", {**base, "status": "todo", "version": 1},
                        "2026-11-02T02:00:00.000+00:00"))
    org.handle(envelope("task.status_changed", "t1", {
        **base, "status": "done", "from": "todo", "to": "done", "result": "ok",
        "completed_at": "2026-11-30T17:00:00.000+00:00", "version": 2},
        "2026-11-30T17:00:00.001+00:00"))
    org.handle(envelope("task.completed", "t1", {
        **base, "status": "done", "result": "ok", "counts_as_followup": True,
        "completed_at": "2026-11-30T17:00:00.000+00:00", "version": 2},
        "2026-11-30T17:00:00.002+00:00"))
    assert reports.summary(org.store, who("rep1"))["tasks_open"] == 0
    rows = reports.activity(org.store, who("rep1"), start=periods.parse_period("2026-12")[1],
                            end=periods.parse_period("2026-12")[2], today=TODAY)["rows"]
    assert rows[0]["tasks_completed"] == 1  # 1 December in Shanghai


def test_creation_sorts_before_any_other_event_of_its_version():
    created = envelope("opportunity.created", "o1",
                       {**opportunity_snapshot(1), "created_by": "rep1"}, "2026-11-09T00:00:00Z")
    earlier_update = envelope("opportunity.updated", "o1",
                              {**opportunity_snapshot(1), "changes": {}}, "2026-11-01T00:00:00Z")
    later_version = envelope("opportunity.updated", "o1",
                             {**opportunity_snapshot(2), "changes": {}}, "2026-10-01T00:00:00Z")
    assert order_key(created, creation=True) < order_key(earlier_update)
    assert order_key(earlier_update) < order_key(later_version)  # version beats the clock


def test_a_corrected_followup_counts_as_corrected_and_a_deleted_one_not_at_all(who, org):
    base = {"customer_id": "c1", "owner_id": "rep1", "owner_team": "east/a",
            "owner_region": "east", "subject": "拜访", "attitude": None, "contact_ids": [],
            "opportunity_id": None, "next_action": None, "next_action_due": None,
            "created_by": "rep1"}
    for iid in ("i1", "i2"):
        org.handle(envelope("interaction.logged", "c1", {
            **base, "interaction_id": iid, "occurred_at": "2026-11-03T01:00:00.000+00:00",
            "method": "visit", "version": 2}, "2026-11-03T01:00:01.000+00:00"))
    org.handle(envelope("interaction.updated", "c1", {
        **base, "interaction_id": "i1", "occurred_at": "2026-11-03T01:00:00.000+00:00",
        "method": "call", "version": 4, "changes": {"method": ["visit", "call"]}},
        "2026-11-03T03:00:00.000+00:00"))
    deleted = envelope("interaction.deleted", "c1", {
        "customer_id": "c1", "owner_id": "rep1", "owner_team": "east/a",
        "owner_region": "east", "interaction_id": "i2", "created_by": "rep1",
        "deleted_by": "rep1", "version": 5}, "2026-11-03T04:00:00.000+00:00")
    org.handle(deleted)
    org.handle(dict(deleted, id="again"))                     # a duplicate changes nothing
    activity = reports.activity(org.store, who("rep1"), today=TODAY)["rows"][0]
    assert activity["by_method"].get("visit", 0) == 0 and activity["by_method"]["call"] == 1
    assert activity["interactions"] == 1


def test_a_deletion_arriving_before_the_followup_still_wins(who, org):
    org.handle(envelope("interaction.deleted", "c1", {
        "customer_id": "c1", "owner_id": "rep1", "owner_team": "east/a",
        "owner_region": "east", "interaction_id": "i9", "created_by": "rep1",
        "deleted_by": "rep1", "version": 3}, "2026-11-03T04:00:00.000+00:00"))
    org.handle(envelope("interaction.logged", "c1", {
        "customer_id": "c1", "owner_id": "rep1", "owner_team": "east/a",
        "owner_region": "east", "interaction_id": "i9",
        "occurred_at": "2026-11-03T01:00:00.000+00:00", "method": "visit", "subject": "拜访",
        "attitude": None, "contact_ids": [], "opportunity_id": None, "next_action": None,
        "next_action_due": None, "created_by": "rep1", "version": 2},
        "2026-11-03T01:00:01.000+00:00"))
    rows = reports.activity(org.store, who("rep1"), today=TODAY)["rows"]
    assert sum(r["interactions"] for r in rows) == 0
