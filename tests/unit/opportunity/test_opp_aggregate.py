"""The Opportunity aggregate: creation, stage changes, closing, edits and events."""
from datetime import date, timedelta
from decimal import Decimal

import pytest

from crmkit.errors import Conflict, Invalid
from opp_people import (ADMIN, NOW, REP, SUPERVISOR, TEAMMATE, customer_of,
                        open_opportunity, owner_of)
from services.opportunity.opportunity import sum_amounts
from services.opportunity.pipeline import Pipeline

PIPELINE = Pipeline.default()


def event_types(opp):
    return [e.type for e in opp.events]


# ---- creation

def test_new_opportunity_starts_at_first_stage_with_its_probability():
    opp = open_opportunity()
    assert (opp.stage, opp.probability, opp.status) == ("lead", 10, "open")
    assert opp.version == 1


def test_new_opportunity_is_owned_by_the_customers_owner_not_the_creator():
    # a supervisor opens it on a rep's customer: the rep owns it, like the customer
    opp = open_opportunity(viewer=SUPERVISOR, customer=customer_of(REP))
    assert opp.owner_id == "rep1"
    assert opp.owner_team == REP.team and opp.created_by == "sup1"


def test_amount_is_an_exact_decimal_from_a_string_or_number():
    assert open_opportunity(amount="0.10").amount == Decimal("0.10")
    assert open_opportunity(amount=0.1).amount == Decimal("0.10")
    assert open_opportunity(amount=12000).amount == Decimal("12000.00")


@pytest.mark.parametrize("amount", ["-1", "abc", "1.234", None])
def test_bad_amounts_are_refused_on_amount(amount):
    with pytest.raises(Invalid) as err:
        open_opportunity(amount=amount)
    assert "amount" in err.value.errors


def test_creation_records_opportunity_created_with_a_snapshot():
    opp = open_opportunity()
    (event,) = opp.events
    assert event.type == "opportunity.created"
    assert event.aggregate_id == opp.id
    assert event.data["amount"] == "120000.50"
    assert event.data["customer_id"] == "c1" and event.data["stage"] == "lead"
    assert event.region == "east"


def test_creation_is_not_a_history_line():
    # the history lists stage changes, closes and owner moves; creation is created_at
    assert open_opportunity().history == []


def test_probability_given_at_creation_is_manual():
    opp = open_opportunity(probability=40)
    assert opp.probability == 40 and opp.probability_manual


def test_unknown_fields_at_creation_are_refused():
    with pytest.raises(Invalid) as err:
        open_opportunity(owner_id="someone")
    assert err.value.code == "unknown_field"


def test_sensitive_numbers_in_free_text_are_refused():
    with pytest.raises(Invalid) as err:
        open_opportunity(description="客户身份证 11010519491231002X 请核对")
    assert err.value.code == "sensitive_data"
    assert "description" in err.value.errors


def test_bank_card_number_in_free_text_is_refused():
    with pytest.raises(Invalid) as err:
        open_opportunity(risks="卡号 4111 1111 1111 1111")
    assert err.value.code == "sensitive_data"


# ---- stage changes

def test_stage_change_needs_a_note(opp):
    with pytest.raises(Invalid) as err:
        opp.change_stage("proposal", "  ", actor_id="rep1", pipeline=PIPELINE, now=NOW)
    assert "note" in err.value.errors
    assert opp.stage == "lead"


def test_stage_change_moves_probability_and_records_history_and_event(opp):
    later = NOW + timedelta(hours=3)
    opp.change_stage("proposal", "客户对方案细节提出3点修改意见", actor_id="rep1",
                     pipeline=PIPELINE, now=later)
    assert (opp.stage, opp.probability, opp.stage_changed_at) == ("proposal", 50, later)
    entry = opp.history[-1]
    assert entry == {"at": later, "actor_id": "rep1", "action": "stage_changed",
                     "from": "lead", "to": "proposal", "note": "客户对方案细节提出3点修改意见"}
    (event,) = opp.events
    assert event.type == "opportunity.stage_changed"
    assert (event.data["from_stage"], event.data["to_stage"]) == ("lead", "proposal")
    assert event.data["forward"] is True


def test_moving_back_is_allowed_and_marked_backward(opp):
    opp.change_stage("negotiation", "进展顺利", actor_id="rep1", pipeline=PIPELINE)
    opp.change_stage("needs_analysis", "需求变更,重新分析", actor_id="rep1", pipeline=PIPELINE)
    assert opp.stage == "needs_analysis" and opp.probability == 25
    assert opp.events[-1].data["forward"] is False


def test_same_stage_is_refused(opp):
    with pytest.raises(Invalid) as err:
        opp.change_stage("lead", "again", actor_id="rep1", pipeline=PIPELINE)
    assert err.value.code == "same_stage"


def test_won_is_not_a_stage_to_change_to(opp):
    with pytest.raises(Invalid) as err:
        opp.change_stage("won", "signed", actor_id="rep1", pipeline=PIPELINE)
    assert err.value.code == "closing_stage"


def test_probability_set_by_hand_no_longer_follows_the_stage(opp):
    opp.update({"probability": 35}, actor_id="rep1", pipeline=PIPELINE)
    opp.change_stage("negotiation", "报价已发", actor_id="rep1", pipeline=PIPELINE)
    assert opp.probability == 35


def test_clearing_probability_returns_to_the_stage_default(opp):
    opp.update({"probability": 35}, actor_id="rep1", pipeline=PIPELINE)
    opp.update({"probability": None}, actor_id="rep1", pipeline=PIPELINE)
    assert opp.probability == 10 and not opp.probability_manual


@pytest.mark.parametrize("value", [101, -5, True, "50"])
def test_probability_must_be_a_percentage(opp, value):
    with pytest.raises(Invalid) as err:
        opp.update({"probability": value}, actor_id="rep1", pipeline=PIPELINE)
    assert "probability" in err.value.errors


def test_pipeline_edit_rebases_following_probabilities_only(opp):
    manual = open_opportunity(probability=33)
    edited = Pipeline.default()
    edited.edit([{**s.to_dict(), "probability": 12 if s.key == "lead" else s.probability}
                 for s in PIPELINE.stages], open_counts={})
    assert opp.rebase_probability(edited) is True and opp.probability == 12
    assert manual.rebase_probability(edited) is False and manual.probability == 33


# ---- closing

def test_win_closes_with_amount_contract_and_date(opp):
    opp.win(amount="118000.00", contract_number="HT-2026-001", signed_on=date(2026, 11, 20),
            actor_id="rep1", now=NOW)
    assert (opp.status, opp.stage, opp.probability) == ("won", "won", 100)
    assert opp.won == {"amount": Decimal("118000.00"), "contract_number": "HT-2026-001",
                       "signed_on": date(2026, 11, 20)}
    assert opp.closed_at == NOW
    (event,) = opp.events
    assert event.type == "opportunity.won"
    assert event.data["won_amount"] == "118000.00"
    assert event.data["signed_on"] == "2026-11-20"
    assert event.data["customer_id"] == "c1"
    assert event.data["won"] == {"amount": "118000.00", "contract_number": "HT-2026-001",
                                 "signed_on": "2026-11-20"}
    assert opp.history[-1]["from"] == "lead" and opp.history[-1]["to"] == "won"


@pytest.mark.parametrize("field, kwargs", [
    ("amount", {"amount": None}),
    ("contract_number", {"contract_number": ""}),
    ("signed_on", {"signed_on": None}),
])
def test_win_requires_each_field(opp, field, kwargs):
    args = {"amount": "1.00", "contract_number": "HT-1", "signed_on": date(2026, 1, 1)}
    args.update(kwargs)
    with pytest.raises(Invalid) as err:
        opp.win(actor_id="rep1", **args)
    assert field in err.value.errors
    assert opp.status == "open"


def test_lose_requires_a_reason(opp):
    with pytest.raises(Invalid) as err:
        opp.lose(reason="", actor_id="rep1")
    assert "reason" in err.value.errors


def test_lose_closes_with_reason(opp):
    opp.lose(reason="价格过高", actor_id="rep1", now=NOW)
    assert (opp.status, opp.stage, opp.probability) == ("lost", "lost", 0)
    assert opp.lost == {"reason": "价格过高"}
    assert event_types(opp) == ["opportunity.lost"]


@pytest.mark.parametrize("action", [
    lambda o: o.change_stage("proposal", "note", actor_id="rep1", pipeline=PIPELINE),
    lambda o: o.update({"name": "x"}, actor_id="rep1", pipeline=PIPELINE),
    lambda o: o.win(amount="1", contract_number="A", signed_on=date(2026, 1, 1),
                    actor_id="rep1"),
    lambda o: o.lose(reason="again", actor_id="rep1"),
    lambda o: o.plan_followup(start_at=NOW + timedelta(days=3),
                              end_at=NOW + timedelta(days=3, hours=1), method="call",
                              content="x", actor_id="rep1", now=NOW),
    lambda o: o.set_reminder(remind_at=NOW + timedelta(days=1), actor_id="rep1", now=NOW),
])
def test_closed_opportunity_refuses_every_change(opp, action):
    opp.lose(reason="客户选择竞品", actor_id="rep1")
    opp.events.clear()
    version = opp.version
    with pytest.raises(Conflict) as err:
        action(opp)
    assert err.value.code == "opportunity_closed"
    assert opp.version == version and opp.events == []


# ---- edits

def test_update_reports_only_real_changes_and_records_updated(opp):
    diff = opp.update({"amount": "120000.5", "name": "新名称", "product": "数控机床"},
                      actor_id="rep1", pipeline=PIPELINE)
    assert diff == {"name": ["A公司2026年设备采购项目", "新名称"], "product": [None, "数控机床"]}
    assert event_types(opp) == ["opportunity.updated"]
    assert opp.events[0].data["changes"] == diff


def test_update_that_changes_nothing_records_nothing(opp):
    version = opp.version
    assert opp.update({"amount": "120000.50"}, actor_id="rep1", pipeline=PIPELINE) == {}
    assert opp.events == [] and opp.version == version


def test_update_cannot_change_stage_or_server_fields(opp):
    with pytest.raises(Invalid) as err:
        opp.update({"stage": "proposal"}, actor_id="rep1", pipeline=PIPELINE)
    assert err.value.code == "use_stage_change"
    with pytest.raises(Invalid) as err:
        opp.update({"owner_id": "rep2"}, actor_id="rep1", pipeline=PIPELINE)
    assert err.value.code == "unknown_field"


def test_competitors_accept_one_name_or_a_list(opp):
    opp.update({"competitors": "竞品甲"}, actor_id="rep1", pipeline=PIPELINE)
    assert opp.competitors == ["竞品甲"]
    opp.update({"competitors": ["甲", " 乙 ", ""]}, actor_id="rep1", pipeline=PIPELINE)
    assert opp.competitors == ["甲", "乙"]


def test_each_change_bumps_the_version(opp):
    v = opp.version
    opp.change_stage("proposal", "n", actor_id="rep1", pipeline=PIPELINE)
    opp.update({"description": "d"}, actor_id="rep1", pipeline=PIPELINE)
    assert opp.version == v + 2
    assert opp.events[-1].data["version"] == v + 2


def test_decimal_sums_have_no_float_drift():
    assert sum_amounts([Decimal("0.10")] * 10) == Decimal("1.00")
    assert str(sum_amounts([Decimal("0.10"), Decimal("0.20")])) == "0.30"


# ---- follow-up plans and reminders

def test_followup_plan_gets_a_reminder_one_day_before(opp):
    start = NOW + timedelta(days=5)
    plan = opp.plan_followup(start_at=start, end_at=start + timedelta(hours=1),
                             method="visit", content="了解客户对系统模块的具体需求",
                             actor_id="rep1", now=NOW)
    assert plan["reminders"] == [{"remind_at": start - timedelta(days=1)}]
    assert plan["assignee_id"] == "rep1"
    (event,) = opp.events
    assert event.type == "opportunity.followup_planned"
    assert event.data["reminders"] == [{"remind_at": "2026-11-27T02:00:00.000+00:00"}]
    assert event.data["method"] == "visit" and event.data["assignee_id"] == "rep1"


def test_followup_plan_starting_within_a_day_has_no_past_reminder(opp):
    start = NOW + timedelta(hours=2)
    plan = opp.plan_followup(start_at=start, end_at=start + timedelta(hours=1),
                             method="call", content="电话确认", actor_id="rep1", now=NOW)
    assert plan["reminders"] == []


@pytest.mark.parametrize("field, overrides", [
    ("method", {"method": "email"}),
    ("end_at", {"end_at": NOW + timedelta(days=1)}),   # before start
    ("content", {"content": " "}),
    ("start_at", {"start_at": NOW.replace(tzinfo=None)}),  # no offset
])
def test_followup_plan_validation(opp, field, overrides):
    args = {"start_at": NOW + timedelta(days=2), "end_at": NOW + timedelta(days=2, hours=1),
            "method": "online_meeting", "content": "方案演示"}
    args.update(overrides)
    with pytest.raises(Invalid) as err:
        opp.plan_followup(actor_id="rep1", now=NOW, **args)
    assert field in err.value.errors


def test_reminder_must_be_in_the_future_and_is_announced(opp):
    with pytest.raises(Invalid):
        opp.set_reminder(remind_at=NOW - timedelta(minutes=1), actor_id="rep1", now=NOW)
    reminder = opp.set_reminder(remind_at=NOW + timedelta(hours=4), actor_id="rep1",
                                note="报价截止", now=NOW)
    assert reminder["user_id"] == "rep1"
    (event,) = opp.events
    assert event.type == "opportunity.reminder_set"
    assert event.data["remind_at"] == "2026-11-23T06:00:00.000+00:00"


# ---- ownership follows the customer

def test_open_opportunity_follows_customer_to_new_owner(opp):
    moved = opp.follow_customer_owner(owner_of(TEAMMATE), actor_id="sup1",
                                      cause="customer.assigned", now=NOW)
    assert moved and opp.owner_id == "rep2"
    entry = opp.history[-1]
    assert (entry["action"], entry["from_owner_id"], entry["to_owner_id"]) == (
        "assigned", "rep1", "rep2")
    (event,) = opp.events
    assert event.type == "opportunity.assigned"
    assert (event.data["from_owner_id"], event.data["to_owner_id"]) == ("rep1", "rep2")
    assert event.data["cause"] == "customer.assigned"


def test_customer_back_in_pool_leaves_opportunity_unowned(opp):
    opp.follow_customer_owner(None, actor_id="rep1", cause="customer.returned")
    assert opp.owner_id is None and opp.owner_team is None
    assert opp.events[-1].data["to_owner_id"] is None


def test_following_the_same_owner_again_is_a_no_op(opp):
    assert opp.follow_customer_owner(owner_of(REP), actor_id="x", cause="c") is False
    assert opp.events == [] and opp.history == []


def test_closed_opportunity_stays_with_who_closed_it(opp):
    opp.win(amount="1.00", contract_number="HT", signed_on=date(2026, 1, 1), actor_id="rep1")
    opp.events.clear()
    assert opp.follow_customer_owner(owner_of(TEAMMATE), actor_id="x", cause="c") is False
    assert opp.owner_id == "rep1" and opp.events == []


def test_unowned_opportunity_goes_to_whoever_claims_the_customer(opp):
    opp.follow_customer_owner(None, actor_id="rep1", cause="customer.returned")
    opp.follow_customer_owner(owner_of(ADMIN), actor_id="adm", cause="customer.claimed")
    assert opp.owner_id == "adm"
    assert [e.data["to_owner_id"] for e in opp.events] == [None, "adm"]
