"""Seed 002's gaps in the customer domain: budget, purchase time and first-contact date on
the customer; location, our participants and key information on a follow-up; correcting
and deleting one's own follow-up; the contact ids the events carry."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from crmkit.errors import Forbidden, Invalid, NotFound
from crmkit.events import registry
from services.customer import transfer
from services.customer.documents import customer_doc, customer_from

from customer_fixtures import (ADMIN, NOW, REP, REP_SAME_TEAM, SUPERVISOR, make_customer,
                               owner_of)

ID_NUMBER = "11010519491231002X"     # a valid PRC resident ID (checksum passes)


def interaction_data(**kw):
    data = {"occurred_at": (NOW - timedelta(hours=2)).isoformat(), "method": "visit",
            "subject": "上门拜访", "content": "演示方案"}
    data.update(kw)
    return data


def checked(event):
    problems = registry.get(event.type, 1).validator.validate(event.data)
    assert not problems, (event.type, problems)
    return event.data


# ---------------------------------------------------------------- customer fields

def test_budget_purchase_time_and_first_contact_are_kept_exactly():
    customer = make_customer(budget="120000.50", purchase_time="2027-03-01",
                             first_contact_on="2026-10-08")
    assert customer.budget == Decimal("120000.50")
    assert (customer.purchase_time, customer.first_contact_on) == (
        date(2027, 3, 1), date(2026, 10, 8))
    again = customer_from({**customer_doc(customer), "_id": customer.id})
    assert (again.budget, again.purchase_time, again.first_contact_on) == (
        Decimal("120000.50"), date(2027, 3, 1), date(2026, 10, 8))


def test_budget_and_dates_are_edited_logged_and_cleared():
    customer = make_customer()
    changes = customer.update(REP, {"budget": 0.1, "purchase_time": "2027-01-15"}, now=NOW)
    assert changes == {"budget": [None, "0.10"], "purchase_time": [None, "2027-01-15"]}
    assert customer.log[-1]["changes"]["budget"] == [None, "0.10"]
    assert customer.update(REP, {"budget": None}, now=NOW) == {"budget": ["0.10", None]}


@pytest.mark.parametrize("field,value", [
    ("budget", "-1"), ("budget", "1.234"), ("budget", "abc"), ("budget", True),
    ("purchase_time", "next spring"), ("first_contact_on", "2026-13-01")])
def test_bad_budget_or_dates_are_refused_naming_the_field(field, value):
    with pytest.raises(Invalid) as err:
        make_customer(**{field: value})
    assert list(err.value.errors) == [field]


def test_the_new_fields_are_exported_and_imported():
    customer = make_customer(budget="5000", purchase_time="2027-03-01",
                             first_contact_on="2026-10-08")
    headers, [row] = transfer.export_table([customer], "zh", None)
    values = dict(zip(headers, row))
    assert (values["预算"], values["采购时间"], values["首次接触日期"]) == (
        "5000.00", "2027-03-01", "2026-10-08")
    fields = transfer.header_fields(["客户名称", "预算范围", "计划采购时间", "首次接触日期"])
    command = transfer.row_command(fields, ["甲公司", "8000", "2027-05-01", "2026-09-30"])
    assert command == {"name": "甲公司", "budget": "8000", "purchase_time": "2027-05-01",
                       "first_contact_on": "2026-09-30"}


def test_the_snapshot_carries_the_contact_ids():
    customer = make_customer(clear=False)
    created = checked(customer.events[0])
    assert created["contact_ids"] == [customer.contacts[0].id]
    customer.events.clear()
    customer.log.clear()
    version = customer.version
    customer.add_contact(REP, {"name": "李工"}, contact_id="ct-2", now=NOW)
    data = checked(customer.events[-1])
    assert data["contact_ids"] == [customer.contacts[0].id, "ct-2"]
    assert data["version"] == version + 1 == customer.version


# ---------------------------------------------------------------- follow-up fields

def test_location_participants_and_key_information_are_kept_and_sent():
    customer = make_customer()
    interaction = customer.log_interaction(REP, interaction_data(
        location="客户总部 3 楼会议室", participants=["rep2", "sup1", "rep2"],
        key_information="预算已批,Q1 采购"), interaction_id="i1", now=NOW)
    assert interaction.location == "客户总部 3 楼会议室"
    assert interaction.participants == ["rep2", "sup1"]
    assert interaction.key_information == "预算已批,Q1 采购"
    data = checked(customer.events[0])
    assert (data["location"], data["participants"]) == ("客户总部 3 楼会议室", ["rep2", "sup1"])
    assert "key_information" not in data   # free text stays in the customer service


@pytest.mark.parametrize("field,value", [
    ("key_information", f"身份证 {ID_NUMBER}"), ("location", "x" * 201),
    ("participants", "rep2"), ("participants", [1])])
def test_bad_followup_fields_are_refused_naming_the_field(field, value):
    with pytest.raises(Invalid) as err:
        make_customer().log_interaction(REP, interaction_data(**{field: value}),
                                        interaction_id="i1", now=NOW)
    assert field in err.value.errors


# ---------------------------------------------------------------- correcting one's own

def logged(author=REP, **kw):
    customer = make_customer()
    customer.shared_with = ["rep2"]
    customer.log_interaction(author, interaction_data(**kw), interaction_id="i1", now=NOW)
    customer.interactions = list(customer.new_interactions)
    customer.new_interactions.clear()
    customer.events.clear()
    customer.log.clear()
    return customer


def test_the_author_corrects_a_followup():
    customer = logged(next_action="发报价")
    version = customer.version
    later = NOW - timedelta(minutes=30)
    edited = customer.edit_interaction(REP, "i1", {"subject": "上门拜访(补充)",
                                                   "occurred_at": later.isoformat(),
                                                   "location": "杭州"}, now=NOW)
    assert (edited.subject, edited.location, edited.updated_at) == ("上门拜访(补充)", "杭州", NOW)
    assert customer.interactions_changed and customer.version == version + 1
    assert customer.last_followup_at == later         # moved forward
    data = checked(customer.events[0])
    assert customer.events[0].type == "interaction.updated"
    assert data["changes"]["subject"] == ["上门拜访", "上门拜访(补充)"]
    assert data["next_action"] == "发报价" and data["version"] == customer.version
    assert customer.log[0]["action"] == "interaction_updated"


def test_an_edit_changing_nothing_records_nothing():
    customer = logged()
    version = customer.version
    customer.edit_interaction(REP, "i1", {"subject": "上门拜访"}, now=NOW)
    assert customer.events == [] and customer.version == version
    assert not customer.interactions_changed


def test_an_edit_is_checked_like_a_new_followup():
    customer = logged()
    for data, field in (({"subject": ""}, "subject"), ({"contact_ids": ["nope"]}, "contact_ids"),
                        ({"occurred_at": (NOW + timedelta(days=1)).isoformat()}, "occurred_at"),
                        ({"key_information": ID_NUMBER}, "key_information"),
                        ({"created_by": "x"}, "created_by")):
        with pytest.raises(Invalid) as err:
            customer.edit_interaction(REP, "i1", data, now=NOW)
        assert field in err.value.errors
    assert customer.events == [] and customer.interactions[0].subject == "上门拜访"


def test_only_the_author_corrects_or_deletes_a_followup():
    customer = logged(author=REP_SAME_TEAM)           # a sharee logged it
    for other in (REP, SUPERVISOR, ADMIN):           # the owner, a superior, the admin
        with pytest.raises(Forbidden) as err:
            customer.edit_interaction(other, "i1", {"subject": "改"}, now=NOW)
        assert err.value.code == "not_author"
        with pytest.raises(Forbidden):
            customer.delete_interaction(other, "i1", now=NOW)
    customer.edit_interaction(REP_SAME_TEAM, "i1", {"subject": "改"}, now=NOW)
    with pytest.raises(NotFound):
        customer.edit_interaction(REP_SAME_TEAM, "nope", {"subject": "改"}, now=NOW)


def test_an_author_who_no_longer_sees_the_customer_gets_404():
    customer = logged(author=REP_SAME_TEAM)
    customer.shared_with = []
    with pytest.raises(NotFound):
        customer.delete_interaction(REP_SAME_TEAM, "i1", now=NOW)


def test_the_author_deletes_a_followup():
    customer = logged()
    followed = customer.last_followup_at
    customer.delete_interaction(REP, "i1", now=NOW)
    assert customer.interactions == [] and customer.interactions_changed
    assert customer.last_followup_at == followed      # not rolled back
    data = checked(customer.events[0])
    assert customer.events[0].type == "interaction.deleted"
    assert (data["interaction_id"], data["deleted_by"], data["owner_id"]) == (
        "i1", REP.user_id, owner_of(REP).user_id)
