import json
from datetime import date, timedelta
from decimal import Decimal

import pytest

from crmkit.errors import Conflict, Forbidden, Invalid, NotFound

from services.customer.access import FULL, HIDDEN, PUBLIC, public_view, view
from services.customer.reclaim import PoolRules, ReclaimDecision

from customer_fixtures import (ADMIN, MANAGER, MANAGER_OTHER, NOW, REP, REP_OTHER_REGION,
                      REP_OTHER_TEAM, REP_SAME_TEAM, SUPERVISOR, SUPERVISOR_OTHER,
                      make_customer, owner_of)

NO_RULES = PoolRules()
LATER = NOW + timedelta(hours=1)


def event_types(customer):
    return [e.type for e in customer.events]


def last_event(customer):
    return customer.events[-1]


# --- creation ---------------------------------------------------------------------------

def test_creator_owns_a_new_customer():
    customer = make_customer(REP, clear=False)
    assert customer.owner_id == REP.user_id
    assert (customer.owner_team, customer.owner_region) == (REP.team, REP.region)
    assert customer.owner_name == REP.name and customer.owned_since == NOW
    assert customer.region == "east"
    assert customer.primary_contact == {"name": "王经理", "phone": "13812345678"}
    assert event_types(customer) == ["customer.created", "contact.created"]
    created = customer.events[0]
    assert created.aggregate_id == customer.id and created.region == "east"
    assert created.data["owner_id"] == REP.user_id and created.data["in_pool"] is False
    entry = customer.log[0]
    assert entry["action"] == "created" and entry["actor_id"] == REP.user_id
    assert entry["changes"]["name"] == [None, "上海商策科技有限公司"]
    assert entry["changes"]["owner_id"] == [None, REP.user_id]


def test_in_pool_creation_leaves_it_unclaimed():
    customer = make_customer(REP, in_pool=True, clear=False)
    assert customer.owner_id is None and not customer.claimed
    assert customer.events[0].data["in_pool"] is True


def test_supervisor_may_create_for_someone_else():
    customer = make_customer(SUPERVISOR, owner=owner_of(REP), owner_name="Rep1")
    assert customer.owner_id == REP.user_id and customer.created_by == SUPERVISOR.user_id


def test_rep_may_not_create_for_someone_else():
    with pytest.raises(Forbidden):
        make_customer(REP, owner=owner_of(REP_SAME_TEAM))


def test_owner_and_in_pool_together_are_refused():
    with pytest.raises(Invalid) as err:
        make_customer(SUPERVISOR, owner=owner_of(REP), in_pool=True)
    assert "owner_id" in err.value.errors


def test_required_fields_are_all_reported():
    with pytest.raises(Invalid) as err:
        make_customer(REP, name="  ", industry=None, status=None, primary_contact={})
    assert set(err.value.errors) >= {"name", "industry", "status", "primary_contact.name",
                                     "primary_contact.phone"}


def test_missing_primary_contact_is_reported_by_its_fields():
    from services.customer.domain import Customer
    with pytest.raises(Invalid) as err:
        Customer.create(REP, {"name": "甲", "industry": "x", "status": "intent"},
                        customer_id="c", number="n", contact_id="k")
    assert set(err.value.errors) == {"primary_contact.name", "primary_contact.phone"}


def test_a_bad_phone_is_named_with_its_dotted_field():
    with pytest.raises(Invalid) as err:
        make_customer(REP, primary_contact={"name": "王", "phone": "12345678901"})
    assert list(err.value.errors) == ["primary_contact.phone"]


@pytest.mark.parametrize("field, value", [("status", "hot"), ("level", "E"),
                                          ("tags", "vip"), ("deal_amount", "-1")])
def test_bad_values_are_refused(field, value):
    with pytest.raises(Invalid) as err:
        make_customer(ADMIN, **{field: value})
    assert field in err.value.errors


def test_server_managed_fields_cannot_be_set():
    with pytest.raises(Invalid) as err:
        make_customer(REP, owner_id="x", number="CRM1", version=3)
    assert set(err.value.errors) == {"owner_id", "number", "version"}


def test_sensitive_data_in_any_text_field_is_refused():
    with pytest.raises(Invalid) as err:
        make_customer(REP, address="卡号 4111 1111 1111 1111")
    assert err.value.code == "sensitive_data" and list(err.value.errors) == ["address"]


# --- deal and region fields: managers and admins only -------------------------------------

@pytest.mark.parametrize("actor", [REP, SUPERVISOR])
@pytest.mark.parametrize("field, value", [("deal_amount", "10"), ("last_deal_on", "2026-11-01"),
                                          ("region", "north")])
def test_reps_and_supervisors_may_not_set_deal_or_region_fields(owned, actor, field, value):
    with pytest.raises(Forbidden) as err:
        make_customer(actor, **{field: value})
    assert err.value.code == "field_not_allowed" and list(err.value.extra["errors"]) == [field]
    with pytest.raises(Forbidden) as err:
        owned.update(actor, {field: value, "level": "A"}, now=NOW)
    assert list(err.value.extra["errors"]) == [field]
    assert owned.level == "B" and not owned.log


@pytest.mark.parametrize("actor", [MANAGER, ADMIN])
def test_managers_and_admins_set_deal_and_region_fields(owned, actor):
    created = make_customer(actor, deal_amount="10", last_deal_on="2026-11-01", region="north")
    assert (created.deal_amount, created.last_deal_on, created.region) == (
        Decimal("10.00"), date(2026, 11, 1), "north")
    owned.update(actor, {"deal_amount": "20", "region": "south"}, now=NOW)
    assert (owned.deal_amount, owned.region) == (Decimal("20.00"), "south")


# --- who sees what ----------------------------------------------------------------------

@pytest.mark.parametrize("viewer, expected", [
    (REP, FULL), (REP_SAME_TEAM, HIDDEN), (REP_OTHER_TEAM, HIDDEN),
    (REP_OTHER_REGION, HIDDEN), (SUPERVISOR, FULL), (SUPERVISOR_OTHER, HIDDEN),
    (MANAGER, FULL), (MANAGER_OTHER, HIDDEN), (ADMIN, FULL),
])
def test_view_of_an_owned_customer(owned, viewer, expected):
    assert view(owned, viewer) == expected


@pytest.mark.parametrize("viewer, expected", [
    (REP, PUBLIC), (REP_OTHER_REGION, PUBLIC), (SUPERVISOR, PUBLIC), (MANAGER, PUBLIC),
    (ADMIN, FULL),
])
def test_view_of_a_pool_customer(pooled, viewer, expected):
    assert view(pooled, viewer) == expected


def test_sharees_see_the_full_record(owned):
    owned.share(REP, [REP_OTHER_REGION.user_id], now=LATER)
    assert view(owned, REP_OTHER_REGION) == FULL


def test_deleted_customers_are_hidden_from_everyone(pooled):
    pooled.delete(SUPERVISOR, now=LATER)
    assert view(pooled, ADMIN) == HIDDEN


def test_public_view_has_no_contact_details(owned):
    shown = public_view(owned)
    assert shown["claimed"] is True and shown["owner_name"] == REP.name
    assert not {"primary_contact", "contacts", "needs", "deal_amount", "shared_with"} & set(shown)


# --- editing ----------------------------------------------------------------------------

def test_owner_edit_is_logged_and_announced(owned):
    changes = owned.update(REP, {"status": "intent", "tags": ["高价值"]}, now=LATER)
    assert changes == {"status": ["potential", "intent"], "tags": [["重点跟进"], ["高价值"]]}
    assert owned.status == "intent" and owned.updated_at == LATER
    assert owned.log[-1] == {"at": LATER, "actor_id": REP.user_id, "action": "updated",
                             "changes": changes}
    assert event_types(owned) == ["customer.updated"]
    assert last_event(owned).data["changes"] == changes


@pytest.mark.parametrize("editor", [SUPERVISOR, MANAGER, ADMIN])
def test_superiors_and_admins_may_edit(owned, editor):
    assert owned.update(editor, {"level": "A"}, now=LATER) == {"level": ["B", "A"]}


def test_sharees_may_not_edit(owned):
    owned.share(REP, [REP_SAME_TEAM.user_id], now=LATER)
    with pytest.raises(Forbidden):
        owned.update(REP_SAME_TEAM, {"level": "A"})


@pytest.mark.parametrize("stranger", [REP_SAME_TEAM, SUPERVISOR_OTHER, MANAGER_OTHER])
def test_strangers_get_not_found(owned, stranger):
    with pytest.raises(NotFound):
        owned.update(stranger, {"level": "A"})


def test_pool_customers_are_edited_by_admins_only(pooled):
    with pytest.raises(Forbidden):
        pooled.update(SUPERVISOR, {"level": "A"})
    assert pooled.update(ADMIN, {"level": "A"}) == {"level": ["B", "A"]}


def test_an_edit_that_changes_nothing_records_nothing(owned):
    assert owned.update(REP, {"status": "potential"}) == {}
    assert owned.events == [] and owned.log == []


def test_a_required_field_cannot_be_blanked(owned):
    with pytest.raises(Invalid) as err:
        owned.update(REP, {"name": "", "industry": None})
    assert set(err.value.errors) == {"name", "industry"}


def test_primary_contact_patch_updates_the_primary_contact(owned):
    changes = owned.update(REP, {"primary_contact": {"phone": "13900001111"}}, now=LATER)
    assert owned.primary_contact["phone"] == "13900001111"
    assert changes["primary_contact"][1]["phone"] == "13900001111"
    assert event_types(owned) == ["contact.updated"]  # phones stay out of customer events


def test_deal_amount_is_money(owned):
    owned.update(MANAGER, {"deal_amount": 1200.5})
    assert owned.deal_amount == Decimal("1200.50")
    assert owned.log[-1]["changes"]["deal_amount"] == ["0.00", "1200.50"]


# --- claim ------------------------------------------------------------------------------

def test_claim_makes_the_caller_owner(pooled):
    pooled.claim(REP_OTHER_REGION, rules=NO_RULES, owned_count=0, now=LATER)
    assert pooled.owner_id == REP_OTHER_REGION.user_id
    assert pooled.owner_region == "north" and pooled.owned_since == LATER
    assert event_types(pooled) == ["customer.claimed"]
    assert last_event(pooled).data["owner_id"] == REP_OTHER_REGION.user_id
    assert pooled.log[-1]["changes"] == {"owner_id": [None, REP_OTHER_REGION.user_id]}


@pytest.mark.parametrize("claimer", [REP, REP_SAME_TEAM, REP_OTHER_REGION, ADMIN])
def test_claiming_a_claimed_customer_conflicts(owned, claimer):
    with pytest.raises(Conflict) as err:
        owned.claim(claimer, rules=NO_RULES, owned_count=0)
    assert err.value.code == "already_claimed"


def test_claim_limit_is_enforced(pooled):
    with pytest.raises(Conflict) as err:
        pooled.claim(REP, rules=PoolRules(claim_limit=3), owned_count=3)
    assert err.value.code == "claim_limit_reached" and pooled.owner_id is None


def test_previous_owner_waits_for_the_cooldown(owned):
    rules = PoolRules(reclaim_cooldown_days=3)
    owned.return_to_pool(REP, now=NOW)
    with pytest.raises(Conflict) as err:
        owned.claim(REP, rules=rules, owned_count=0, now=NOW + timedelta(days=2))
    assert err.value.code == "claim_cooldown"
    owned.claim(REP_SAME_TEAM, rules=rules, owned_count=0, now=NOW + timedelta(days=1))
    assert owned.owner_id == REP_SAME_TEAM.user_id


def test_cooldown_is_over_after_its_days(owned):
    owned.return_to_pool(REP, now=NOW)
    owned.claim(REP, rules=PoolRules(reclaim_cooldown_days=3), owned_count=0,
                now=NOW + timedelta(days=3))
    assert owned.owner_id == REP.user_id


# --- return and recover -----------------------------------------------------------------

def test_return_puts_it_back_and_drops_shares(owned):
    owned.share(REP, [REP_SAME_TEAM.user_id], now=NOW)
    owned.return_to_pool(REP, reason="客户暂无需求", now=LATER)
    assert owned.owner_id is None and owned.shared_with == [] and owned.owner_team is None
    event = last_event(owned)
    assert event.type == "customer.returned"
    assert event.data["previous_owner_id"] == REP.user_id
    assert event.data["reason"] == "客户暂无需求" and event.data["auto"] is False
    entry = owned.log[-1]
    assert entry["action"] == "returned" and entry["reason"] == "客户暂无需求"
    assert entry["changes"] == {"owner_id": [REP.user_id, None],
                                "shared_with": [[REP_SAME_TEAM.user_id], []]}
    assert view(owned, REP_SAME_TEAM) == PUBLIC


def test_a_superior_may_return_it(owned):
    owned.return_to_pool(SUPERVISOR, now=LATER)
    assert owned.owner_id is None and owned.log[-1]["actor_id"] == SUPERVISOR.user_id


def test_sharees_may_not_return(owned):
    owned.share(REP, [REP_SAME_TEAM.user_id])
    with pytest.raises(Forbidden):
        owned.return_to_pool(REP_SAME_TEAM)


def test_returning_a_pool_customer_conflicts(pooled):
    with pytest.raises(Conflict) as err:
        pooled.return_to_pool(ADMIN)
    assert err.value.code == "not_claimed"


def test_strangers_cannot_return(owned):
    with pytest.raises(NotFound):
        owned.return_to_pool(REP_OTHER_TEAM)


def test_supervisor_recovers_from_a_visible_owner(owned):
    owned.recover(SUPERVISOR, now=LATER)
    assert owned.owner_id is None
    assert last_event(owned).type == "customer.recovered"
    assert owned.log[-1]["action"] == "recovered"


def test_reps_may_not_recover(owned):
    with pytest.raises(Forbidden):
        owned.recover(REP)


def test_supervisor_of_another_team_cannot_recover(owned):
    with pytest.raises(NotFound):
        owned.recover(SUPERVISOR_OTHER)


def test_a_supervisor_sharee_is_not_a_superior(owned):
    owned.share(REP, [SUPERVISOR_OTHER.user_id])
    with pytest.raises(Forbidden):
        owned.recover(SUPERVISOR_OTHER)


# --- assign -----------------------------------------------------------------------------

def test_owner_transfers_and_loses_access(owned):
    owned.assign(REP, owner_of(REP_OTHER_REGION), "Rep4", now=LATER)
    assert owned.owner_id == REP_OTHER_REGION.user_id and owned.owner_region == "north"
    assert view(owned, REP) == HIDDEN
    event = last_event(owned)
    assert event.type == "customer.assigned"
    assert event.data["previous_owner_id"] == REP.user_id
    assert event.data["owner_id"] == REP_OTHER_REGION.user_id
    assert owned.log[-1]["changes"] == {"owner_id": [REP.user_id, REP_OTHER_REGION.user_id]}


def test_assigning_to_a_sharee_removes_the_share(owned):
    owned.share(REP, [REP_SAME_TEAM.user_id])
    owned.assign(REP, owner_of(REP_SAME_TEAM))
    assert owned.shared_with == []


def test_supervisor_assigns_a_pool_customer(pooled):
    pooled.assign(SUPERVISOR, owner_of(REP), "Rep1", now=LATER)
    assert pooled.owner_id == REP.user_id and pooled.owned_since == LATER


def test_rep_cannot_assign_a_pool_customer(pooled):
    with pytest.raises(Forbidden):
        pooled.assign(REP, owner_of(REP_SAME_TEAM))


def test_sharee_cannot_assign(owned):
    owned.share(REP, [REP_SAME_TEAM.user_id])
    with pytest.raises(Forbidden):
        owned.assign(REP_SAME_TEAM, owner_of(REP_SAME_TEAM))


def test_assigning_to_the_current_owner_conflicts(owned):
    with pytest.raises(Conflict) as err:
        owned.assign(SUPERVISOR, owner_of(REP))
    assert err.value.code == "already_owner"


# --- share ------------------------------------------------------------------------------

def test_share_adds_only_new_users(owned):
    assert owned.share(REP, ["u1", "u2", "u1", REP.user_id], now=LATER) == ["u1", "u2"]
    assert owned.share(REP, ["u2", "u3"]) == ["u3"]
    assert owned.shared_with == ["u1", "u2", "u3"]
    assert [e.data["user_ids"] for e in owned.events] == [["u1", "u2"], ["u3"]]
    assert owned.share(REP, ["u1"]) == [] and len(owned.events) == 2


def test_sharees_cannot_reshare(owned):
    owned.share(REP, [REP_SAME_TEAM.user_id])
    with pytest.raises(Forbidden):
        owned.share(REP_SAME_TEAM, ["u9"])


def test_pool_customers_cannot_be_shared(pooled):
    with pytest.raises(Conflict):
        pooled.share(ADMIN, ["u1"])


def test_share_needs_users(owned):
    with pytest.raises(Invalid):
        owned.share(REP, [])


def test_unshare(owned):
    owned.share(REP, ["u1", "u2"])
    owned.unshare(REP, "u1", now=LATER)
    assert owned.shared_with == ["u2"]
    assert last_event(owned).type == "customer.unshared"
    assert last_event(owned).data["user_ids"] == ["u1"]
    assert owned.log[-1]["changes"] == {"shared_with": [["u1", "u2"], ["u2"]]}


def test_a_sharee_may_leave_but_not_remove_others(owned):
    owned.share(REP, [REP_SAME_TEAM.user_id, "u2"])
    with pytest.raises(Forbidden):
        owned.unshare(REP_SAME_TEAM, "u2")
    owned.unshare(REP_SAME_TEAM, REP_SAME_TEAM.user_id)
    assert view(owned, REP_SAME_TEAM) == HIDDEN


def test_unsharing_a_non_sharee_is_not_found(owned):
    with pytest.raises(NotFound) as err:
        owned.unshare(REP, "nobody")
    assert err.value.code == "not_shared"


# --- delete -----------------------------------------------------------------------------

def test_supervisor_deletes_a_pool_customer(pooled):
    pooled.delete(SUPERVISOR, now=LATER)
    assert pooled.deleted and pooled.deleted_at == LATER
    assert last_event(pooled).type == "customer.deleted"
    assert pooled.log[-1]["action"] == "deleted"


def test_a_claimed_customer_cannot_be_deleted(owned):
    with pytest.raises(Conflict) as err:
        owned.delete(ADMIN)
    assert err.value.code == "customer_claimed"


def test_reps_cannot_delete(pooled):
    with pytest.raises(Forbidden):
        pooled.delete(REP)


def test_a_deleted_customer_cannot_be_claimed(pooled):
    pooled.delete(ADMIN)
    with pytest.raises(NotFound):
        pooled.claim(REP, rules=NO_RULES, owned_count=0)


# --- contacts ---------------------------------------------------------------------------

def contact_data(**kw):
    data = {"name": "李工", "title": "CTO", "role": "decision_maker", "mobile": "13900002222",
            "relationship": "familiar", "birthday": "1985-06-01",
            "relations": [{"relation": "配偶", "name": "张女士"}]}
    data.update(kw)
    return data


def test_owner_adds_a_contact(owned):
    contact = owned.add_contact(REP, contact_data(), contact_id="k1", now=LATER)
    assert contact.birthday == date(1985, 6, 1) and contact.role == "decision_maker"
    assert contact.relations == [{"relation": "配偶", "name": "张女士"}]
    assert owned.contact("k1") is contact and len(owned.contacts) == 2
    assert last_event(owned).type == "contact.created"
    assert last_event(owned).data["contact_id"] == "k1"
    assert owned.log[-1]["action"] == "contact_created"


def test_sharees_cannot_add_contacts(owned):
    owned.share(REP, [REP_SAME_TEAM.user_id])
    with pytest.raises(Forbidden):
        owned.add_contact(REP_SAME_TEAM, contact_data(), contact_id="k1")


@pytest.mark.parametrize("field, value", [("role", "boss"), ("relationship", "close"),
                                          ("mobile", "123"), ("email", "nope"),
                                          ("relations", [{"relation": "x"}])])
def test_contact_values_are_checked(owned, field, value):
    with pytest.raises(Invalid) as err:
        owned.add_contact(REP, contact_data(**{field: value}), contact_id="k1")
    assert field in err.value.errors


def test_a_new_primary_contact_replaces_the_old(owned):
    owned.add_contact(REP, contact_data(is_primary=True), contact_id="k1")
    assert owned.primary_contact["name"] == "李工"
    assert owned.primary_contact["phone"] == "13900002222"
    assert [c.is_primary for c in owned.contacts] == [False, True]


def test_update_contact(owned):
    owned.add_contact(REP, contact_data(), contact_id="k1")
    owned.update_contact(REP, "k1", {"relationship": "trusted", "notes": "喜欢喝茶"}, now=LATER)
    assert owned.contact("k1").relationship == "trusted"
    assert last_event(owned).type == "contact.updated"
    before, after = owned.log[-1]["changes"]["contacts.k1"]
    assert before["relationship"] == "familiar" and after["relationship"] == "trusted"


def test_the_primary_contact_cannot_be_deleted(owned):
    primary = owned.primary_contact_entity
    with pytest.raises(Conflict) as err:
        owned.remove_contact(REP, primary.id)
    assert err.value.code == "primary_contact"


def test_remove_contact(owned):
    owned.add_contact(REP, contact_data(), contact_id="k1")
    owned.remove_contact(REP, "k1")
    assert [c.id for c in owned.contacts] == [owned.primary_contact_entity.id]
    assert last_event(owned).type == "contact.deleted"
    with pytest.raises(NotFound):
        owned.contact("k1")


# --- follow-ups -------------------------------------------------------------------------

def interaction_data(**kw):
    data = {"occurred_at": (NOW - timedelta(hours=2)).isoformat(), "method": "call",
            "subject": "首次电话沟通", "content": "介绍产品", "attitude": "positive"}
    data.update(kw)
    return data


def test_logging_a_followup_sets_last_followup_at(owned):
    interaction = owned.log_interaction(REP, interaction_data(), interaction_id="i1", now=NOW)
    assert interaction.occurred_at == NOW - timedelta(hours=2)
    assert owned.last_followup_at == NOW - timedelta(hours=2)
    event = last_event(owned)
    assert event.type == "interaction.logged" and event.data["interaction_id"] == "i1"
    assert event.data["owner_id"] == REP.user_id
    assert owned.log[-1]["action"] == "interaction_logged"


def test_an_older_followup_does_not_move_it_back(owned):
    owned.log_interaction(REP, interaction_data(), interaction_id="i1", now=NOW)
    owned.log_interaction(REP, interaction_data(
        occurred_at=(NOW - timedelta(days=3)).isoformat()), interaction_id="i2", now=NOW)
    assert owned.last_followup_at == NOW - timedelta(hours=2)


def test_sharees_may_log_followups(owned):
    owned.share(REP, [REP_SAME_TEAM.user_id])
    owned.log_interaction(REP_SAME_TEAM, interaction_data(), interaction_id="i1", now=NOW)
    assert owned.last_followup_at is not None


def test_strangers_cannot_log_followups(owned):
    with pytest.raises(NotFound):
        owned.log_interaction(REP_SAME_TEAM, interaction_data(), interaction_id="i1")


def test_pool_customers_must_be_claimed_before_logging(pooled):
    with pytest.raises(Forbidden):
        pooled.log_interaction(REP, interaction_data(), interaction_id="i1")


def test_followups_cannot_be_in_the_future(owned):
    with pytest.raises(Invalid) as err:
        owned.log_interaction(REP, interaction_data(
            occurred_at=(NOW + timedelta(hours=1)).isoformat()), interaction_id="i1", now=NOW)
    assert "occurred_at" in err.value.errors


def test_followup_contacts_must_belong_to_the_customer(owned):
    with pytest.raises(Invalid) as err:
        owned.log_interaction(REP, interaction_data(contact_ids=["elsewhere"]),
                              interaction_id="i1", now=NOW)
    assert "contact_ids" in err.value.errors


@pytest.mark.parametrize("field, value", [("method", "fax"), ("attitude", "angry"),
                                          ("occurred_at", "yesterday"),
                                          ("occurred_at", "2026-11-20T10:00:00")])
def test_followup_values_are_checked(owned, field, value):
    with pytest.raises(Invalid) as err:
        owned.log_interaction(REP, interaction_data(**{field: value}), interaction_id="i1")
    assert field in err.value.errors


def test_a_completed_task_counts_as_a_followup_once(owned):
    done = NOW - timedelta(hours=1)
    assert owned.record_task_followup("ev1", completed_at=done, task_id="t1",
                                      actor_id=REP.user_id, now=NOW)
    assert owned.last_followup_at == done
    assert last_event(owned).type == "customer.updated"
    assert last_event(owned).data["reason"] == "task_completed"
    assert not owned.record_task_followup("ev1", completed_at=done, task_id="t1",
                                          actor_id=REP.user_id, now=NOW)
    assert len(owned.events) == 1


# --- deals ------------------------------------------------------------------------------

def test_a_won_opportunity_makes_a_deal_once(owned):
    assert owned.record_deal("ev9", amount=Decimal("12000.50"), signed_on=date(2026, 11, 20),
                             opportunity_id="o1", actor_id=REP.user_id, now=NOW)
    assert owned.status == "deal" and owned.deal_amount == Decimal("12000.50")
    assert owned.last_deal_on == date(2026, 11, 20)
    assert not owned.record_deal("ev9", amount=Decimal("12000.50"), signed_on=None,
                                 opportunity_id="o1", actor_id=None, now=NOW)
    assert owned.deal_amount == Decimal("12000.50")
    owned.record_deal("ev10", amount=Decimal("100"), signed_on=date(2026, 11, 1),
                      opportunity_id="o2", actor_id=None, now=NOW)
    assert owned.deal_amount == Decimal("12100.50")
    assert owned.last_deal_on == date(2026, 11, 20)  # an older signing does not move it back
    assert [e.data["reason"] for e in owned.events] == ["opportunity_won", "opportunity_won"]


# --- auto-reclaim -----------------------------------------------------------------------

def test_apply_reclaim_returns_it_as_the_system(owned):
    decision = ReclaimDecision("reclaim", "no_followup", date(2026, 11, 23), 0)
    assert owned.apply_reclaim(decision, now=LATER)
    assert owned.owner_id is None
    event = last_event(owned)
    assert event.type == "customer.returned"
    assert event.data["auto"] is True and event.data["reason"] == "auto_reclaim"
    assert event.data["rule"] == "no_followup"
    assert owned.log[-1]["action"] == "reclaimed" and owned.log[-1]["actor_id"] is None
    with pytest.raises(Conflict) as err:  # the cool-down covers reclaims too
        owned.claim(REP, rules=PoolRules(reclaim_cooldown_days=1), owned_count=0, now=LATER)
    assert err.value.code == "claim_cooldown"
    assert not owned.apply_reclaim(decision, now=LATER)  # nothing left to reclaim


def test_apply_warning_once_per_deadline(owned):
    decision = ReclaimDecision("warn", "no_deal", date(2026, 11, 26), 3)
    assert owned.apply_reclaim(decision, now=LATER)
    assert owned.reclaim_warned_for == date(2026, 11, 26)
    event = last_event(owned)
    assert event.type == "customer.reclaim_warning"
    assert event.data == {**event.data, "due_on": "2026-11-26", "days_left": 3,
                          "rule": "no_deal", "owner_id": REP.user_id}
    assert not owned.apply_reclaim(decision, now=LATER)
    assert len(owned.events) == 1 and owned.owner_id == REP.user_id


def test_a_new_owner_gets_a_fresh_warning(owned):
    owned.apply_reclaim(ReclaimDecision("warn", "no_deal", date(2026, 11, 26), 3))
    owned.assign(SUPERVISOR, owner_of(REP_SAME_TEAM))
    assert owned.reclaim_warned_for is None


# --- events -----------------------------------------------------------------------------

def test_every_event_payload_is_json(owned):
    owned.update(MANAGER, {"deal_amount": "10", "last_deal_on": "2026-11-01"})
    owned.add_contact(REP, contact_data(), contact_id="k1")
    owned.log_interaction(REP, interaction_data(next_action_due="2026-12-01"),
                          interaction_id="i1", now=NOW)
    owned.share(REP, ["u1"])
    owned.assign(REP, owner_of(REP_SAME_TEAM))
    owned.return_to_pool(REP_SAME_TEAM)
    for event in owned.events:
        json.dumps(event.data)
        assert event.aggregate_id == owned.id
    for entry in owned.log:
        json.dumps({**entry, "at": entry["at"].isoformat()})


def test_customer_events_carry_the_owner_for_subscribers(owned):
    owned.update(REP, {"level": "A"})
    data = last_event(owned).data
    assert {"customer_id", "owner_id", "owner_team", "owner_region", "name", "status",
            "region", "number"} <= set(data)
