"""Seed 002's gaps through the gateway: a customer's budget, purchase time and
first-contact date; a follow-up's location, our participants and key information; its
author correcting and deleting it (each role); its next action becoming a task for the
customer's owner."""
from __future__ import annotations

import csv
import io

from crm_testing import eventually
from customer_helpers import CUSTOMERS, EventSpy, create, customer_body, unique_name, upload, url

TEAM = "east/shanghai/team-1"
ID_NUMBER = "11010519491231002X"     # a valid PRC resident ID (checksum passes)


def followup(**kw):
    body = {"occurred_at": "2026-11-20T10:00:00+08:00", "method": "visit",
            "subject": "上门拜访", "content": "演示方案,客户关注售后"}
    body.update(kw)
    return body


# ---------------------------------------------------------------- customer fields

def test_budget_purchase_time_and_first_contact_are_set_returned_and_edited(corg):
    rep = corg.user("rep", TEAM)
    customer = create(rep, budget="150000.5", purchase_time="2027-03-01",
                      first_contact_on="2026-10-08")
    assert (customer["budget"], customer["purchase_time"], customer["first_contact_on"]) == (
        "150000.50", "2027-03-01", "2026-10-08")
    edited = rep.patch(url(customer), json={"budget": 80000, "purchase_time": None})
    assert edited.status_code == 200, edited
    assert (edited.json["budget"], edited.json["purchase_time"]) == ("80000.00", None)
    again = rep.get(url(customer)).json
    assert (again["budget"], again["first_contact_on"]) == ("80000.00", "2026-10-08")
    history = rep.get(url(customer, "/history")).json
    assert history[-1]["changes"]["budget"] == ["150000.50", "80000.00"]
    plain = create(rep)
    assert (plain["budget"], plain["purchase_time"], plain["first_contact_on"]) == (
        None, None, None)


def test_bad_budget_or_dates_get_422_naming_the_field_and_nothing_is_written(corg):
    rep = corg.user("rep", TEAM)
    for field, value in (("budget", "-1"), ("budget", "12.345"), ("budget", "很多"),
                         ("budget", True), ("purchase_time", "明年春天"),
                         ("first_contact_on", "2026-02-30")):
        name = unique_name()
        reply = rep.post(CUSTOMERS, json=customer_body(name=name, **{field: value}))
        assert reply.status_code == 422, (field, value, reply)
        assert list(reply.json["errors"]) == [field], reply.json
        assert rep.get(f"{CUSTOMERS}?q={name}").json["total"] == 0
    customer = create(rep)
    reply = rep.patch(url(customer), json={"budget": "-5"})
    assert reply.status_code == 422 and "budget" in reply.json["errors"]
    assert rep.get(url(customer)).json["version"] == customer["version"]


def test_the_new_fields_are_exported_and_imported(corg):
    rep = corg.user("rep", TEAM)
    name = unique_name("导出")
    create(rep, name=name, budget="5000", purchase_time="2027-03-01",
           first_contact_on="2026-10-08")
    exported = rep.get(f"{CUSTOMERS}/export?format=csv&q={name}",
                       headers={"Accept-Language": "zh-CN"})
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.data.decode("utf-8-sig"))))
    assert [(r["预算"], r["采购时间"], r["首次接触日期"]) for r in rows] == [
        ("5000.00", "2027-03-01", "2026-10-08")]
    imported_name = unique_name("导入")
    sheet = ("客户名称,行业,状态,联系人,联系电话,预算,采购时间,首次接触日期\n"
             f"{imported_name},软件,潜在客户,李经理,13912345678,12000.5,2027-06-30,2026-09-01\n"
             f"{unique_name()},软件,潜在客户,李经理,13912345678,-3,,\n")
    result = upload(rep, sheet.encode("utf-8"), "customers.csv")
    assert result.status_code == 200, result
    assert result.json["created"] == 1
    assert [(e["row"], e["field"]) for e in result.json["errors"]] == [(3, "budget")]
    [made] = rep.get(f"{CUSTOMERS}?q={imported_name}").json["items"]
    assert (made["budget"], made["purchase_time"], made["first_contact_on"]) == (
        "12000.50", "2027-06-30", "2026-09-01")


# ---------------------------------------------------------------- follow-up fields

def test_location_participants_and_key_information(corg):
    rep, colleague = corg.user("rep", TEAM), corg.user("rep", TEAM)
    customer = create(rep)
    reply = rep.post(url(customer, "/interactions"), json=followup(
        location="客户总部 3 楼会议室", participants=[rep.id, colleague.id],
        key_information="预算已批,计划 Q1 采购"))
    assert reply.status_code == 201, reply
    assert (reply.json["location"], reply.json["participants"],
            reply.json["key_information"]) == ("客户总部 3 楼会议室", [rep.id, colleague.id],
                                               "预算已批,计划 Q1 采购")
    [listed] = rep.get(url(customer, "/interactions")).json["items"]
    assert listed["participants"] == [rep.id, colleague.id] and listed["updated_at"] is None


def test_unknown_participants_or_sensitive_key_information_are_refused(corg):
    rep = corg.user("rep", TEAM)
    customer = create(rep)
    unknown = rep.post(url(customer, "/interactions"),
                       json=followup(participants=[rep.id, "nobody-here"]))
    assert unknown.status_code == 422 and "participants" in unknown.json["errors"]
    assert "nobody-here" in unknown.json["errors"]["participants"][0]
    sensitive = rep.post(url(customer, "/interactions"),
                         json=followup(key_information=f"客户身份证 {ID_NUMBER}"))
    assert sensitive.status_code == 422 and sensitive.json["code"] == "sensitive_data"
    assert "key_information" in sensitive.json["errors"]
    wrong_type = rep.post(url(customer, "/interactions"), json=followup(participants="张三"))
    assert wrong_type.status_code == 422 and "participants" in wrong_type.json["errors"]
    assert rep.get(url(customer, "/interactions")).json["total"] == 0


# ---------------------------------------------------------------- correcting one's own

def test_only_the_author_corrects_or_deletes_a_followup(corg, customer_settings):
    owner, sharee = corg.user("rep", TEAM), corg.user("rep", TEAM)
    stranger = corg.user("rep", "east/hangzhou/team-1")
    teammate = corg.user("rep", TEAM)          # the owner's team, no share: sees nothing
    supervisor = corg.user("supervisor", "east/shanghai")
    manager = corg.user("manager", "east", region="east")
    customer = create(owner)
    assert owner.post(url(customer, "/shares"), json={"user_ids": [sharee.id]}).status_code == 200
    mine = owner.post(url(customer, "/interactions"), json=followup()).json
    theirs = sharee.post(url(customer, "/interactions"), json=followup(subject="共享人拜访")).json
    path = url(customer, f"/interactions/{mine['id']}")
    for other, status in ((sharee, 403), (supervisor, 403), (manager, 403),
                          (corg.admin, 403), (teammate, 404), (stranger, 404)):
        assert other.patch(path, json={"subject": "改"}).status_code == status, other
        assert other.delete(path).status_code == status, other
    with EventSpy(customer_settings.amqp_url, "interaction.*") as spy:
        edited = owner.patch(path, json={"subject": "上门拜访(补记)", "location": "杭州"})
        assert edited.status_code == 200, edited
        assert (edited.json["subject"], edited.json["location"]) == ("上门拜访(补记)", "杭州")
        assert edited.json["updated_at"]
        for body, field in (({"created_by": "x"}, "created_by"), ({"subject": ""}, "subject"),
                            ({"participants": ["nobody-here"]}, "participants"),
                            ({"method": "telepathy"}, "method")):
            refused = owner.patch(path, json=body)
            assert refused.status_code == 422 and field in refused.json["errors"], body
        their_path = url(customer, f"/interactions/{theirs['id']}")
        assert owner.delete(their_path).status_code == 403      # the owner is not its author
        assert sharee.patch(their_path, json={"feedback": "积极"}).status_code == 200
        assert sharee.delete(their_path).status_code == 204
        assert sharee.delete(their_path).status_code == 404
        updated = eventually(lambda: spy.of("interaction.updated", customer["id"]),
                             message="interaction.updated")
        deleted = eventually(lambda: spy.of("interaction.deleted", customer["id"]),
                             message="interaction.deleted")
    assert updated[0]["data"]["changes"]["subject"] == ["上门拜访", "上门拜访(补记)"]
    assert deleted[0]["data"]["interaction_id"] == theirs["id"]
    left = owner.get(url(customer, "/interactions")).json["items"]
    assert [i["id"] for i in left] == [mine["id"]]
    assert owner.get(url(customer, "/interactions/nope")).status_code in (404, 405)
    assert owner.patch(url(customer, "/interactions/nope"), json={"subject": "x"}).status_code \
        == 404
    actions = [h["action"] for h in owner.get(url(customer, "/history")).json]
    assert "interaction_updated" in actions and "interaction_deleted" in actions


# ---------------------------------------------------------------- next action -> task

def test_a_next_action_becomes_a_task_for_the_customer_owner(corg):
    owner, sharee = corg.user("rep", TEAM), corg.user("rep", TEAM)
    customer = create(owner)
    owner.post(url(customer, "/shares"), json={"user_ids": [sharee.id]})
    logged = sharee.post(url(customer, "/interactions"), json=followup(
        next_action="发送竞品分析报告", next_action_due="2026-12-18"))
    assert logged.status_code == 201, logged

    def the_task():
        items = owner.get(f"/api/v1/tasks?scope=mine&customer_id={customer['id']}").json["items"]
        return [t for t in items if "发送竞品分析报告" in t["title"]]

    [task] = eventually(the_task, timeout=15, message="the next action as the owner's task")
    assert task["assignee_id"] == owner.id and task["customer_ids"] == [customer["id"]]
    assert task["due_at"].startswith("2026-12-18T") and task["status"] == "todo"
    # correcting the follow-up makes no second task
    path = url(customer, f"/interactions/{logged.json['id']}")
    assert sharee.patch(path, json={"next_action": "发送报价"}).status_code == 200
    plain = owner.post(url(customer, "/interactions"), json=followup(subject="无后续")).json
    assert plain["next_action"] is None
    eventually(lambda: len(owner.get(
        f"/api/v1/tasks?scope=mine&customer_id={customer['id']}").json["items"]) == 1,
        timeout=5, message="still one task")
