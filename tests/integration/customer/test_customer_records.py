"""Contacts (roles, relationship level, social relations), the follow-up timeline, and
the events the service reacts to: opportunity.won and task.completed (once each)."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from crm_testing import eventually
from event_data import event_data
from crmkit.bus.publisher import Publisher
from crmkit.clock import isoformat, utcnow

from customer_helpers import create, url


def test_contacts_crud(corg):
    rep = corg.user("rep")
    customer = create(rep)
    added = rep.post(url(customer, "/contacts"), json={
        "name": "李工", "title": "CTO", "department": "技术部", "role": "decision_maker",
        "gender": "男", "mobile": "13900002222", "email": "li@example.com",
        "wechat": "ligong", "birthday": "1985-06-01", "preference": "电话",
        "relationship": "familiar", "notes": "喜欢喝茶",
        "relations": [{"relation": "配偶", "name": "张女士"}]})
    assert added.status_code == 201, added
    contact = added.json
    assert contact["birthday"] == "1985-06-01" and contact["is_primary"] is False
    assert contact["relations"] == [{"relation": "配偶", "name": "张女士"}]
    listed = rep.get(url(customer, "/contacts")).json
    assert listed["total"] == 2 and {c["name"] for c in listed["items"]} == {"王经理", "李工"}
    one = rep.get(url(customer, f"/contacts/{contact['id']}"))
    assert one.status_code == 200 and one.json["role"] == "decision_maker"
    patched = rep.patch(url(customer, f"/contacts/{contact['id']}"),
                        json={"relationship": "trusted", "is_primary": True})
    assert patched.status_code == 200 and patched.json["relationship"] == "trusted"
    record = rep.get(url(customer)).json
    assert record["primary_contact"]["name"] == "李工"
    assert record["primary_contact"]["phone"] == "13900002222"
    assert rep.delete(url(customer, f"/contacts/{contact['id']}")).json["code"] == \
        "primary_contact"
    old_primary = next(c for c in record["contacts"] if c["name"] == "王经理")
    assert rep.delete(url(customer, f"/contacts/{old_primary['id']}")).status_code == 204
    assert rep.get(url(customer, f"/contacts/{old_primary['id']}")).status_code == 404
    bad = rep.post(url(customer, "/contacts"), json={"name": "x", "role": "boss",
                                                      "relationship": "close"})
    assert bad.status_code == 422 and {"role", "relationship"} <= set(bad.json["errors"])
    actions = [h["action"] for h in rep.get(url(customer, "/history")).json]
    assert actions[-3:] == ["contact_created", "contact_updated", "contact_deleted"]


def test_interactions_timeline_newest_first(corg):
    rep = corg.user("rep")
    customer = create(rep)
    contact_id = customer["contacts"][0]["id"]
    now = datetime.now(timezone.utc).replace(microsecond=0)
    for hours, subject in ((48, "首次电话"), (2, "上门拜访"), (24, "发送方案")):
        reply = rep.post(url(customer, "/interactions"), json={
            "occurred_at": (now - timedelta(hours=hours)).isoformat(), "method": "visit",
            "subject": subject, "content": "内容", "feedback": "积极", "attitude": "positive",
            "next_action": "报价", "next_action_due": "2026-12-01", "contact_ids": [contact_id]})
        assert reply.status_code == 201, reply
    timeline = rep.get(url(customer, "/interactions")).json
    assert [i["subject"] for i in timeline["items"]] == ["上门拜访", "发送方案", "首次电话"]
    assert timeline["total"] == 3
    page = rep.get(url(customer, "/interactions?per_page=1&page=2")).json
    assert [i["subject"] for i in page["items"]] == ["发送方案"]
    record = rep.get(url(customer)).json
    assert record["last_followup_at"] == isoformat(now - timedelta(hours=2))
    future = rep.post(url(customer, "/interactions"), json={
        "occurred_at": (now + timedelta(days=1)).isoformat(), "method": "call",
        "subject": "x", "content": "y"})
    assert future.status_code == 422 and "occurred_at" in future.json["errors"]
    naive = rep.post(url(customer, "/interactions"), json={
        "occurred_at": "2026-11-20T10:00:00", "method": "call", "subject": "x", "content": "y"})
    assert naive.status_code == 422
    stray = rep.post(url(customer, "/interactions"), json={
        "occurred_at": now.isoformat(), "method": "call", "subject": "x", "content": "y",
        "contact_ids": ["not-a-contact"]})
    assert stray.status_code == 422 and "contact_ids" in stray.json["errors"]


def _publish(settings, event_type: str, data: dict, event_id: str | None = None,
             aggregate_id: str = "x") -> str:
    event_id = event_id or uuid.uuid4().hex
    publisher = Publisher(settings.amqp_url)
    try:
        publisher.publish({"id": event_id, "type": event_type, "version": 1,
                           "occurred_at": isoformat(utcnow()), "producer": "test",
                           "aggregate_id": aggregate_id, "actor_id": None,
                           "correlation_id": uuid.uuid4().hex, "region": "east",
                           "data": event_data(event_type, data)})
    finally:
        publisher.close()
    return event_id


def test_a_won_opportunity_counts_once_even_if_delivered_twice(corg, customer_settings):
    rep, manager = corg.user("rep"), corg.user("manager", "east", "east")
    customer = create(rep)
    # An earlier deal, as a manager records it by hand (a rep may not: CONTRACT §5).
    assert manager.patch(url(customer), json={"deal_amount": "100.00"}).status_code == 200
    data = {"opportunity_id": "opp-1", "customer_id": customer["id"], "amount": "500000.00",
            "won_amount": "470000.50", "signed_on": "2026-11-20", "currency": "CNY"}
    event_id = _publish(customer_settings, "opportunity.won", data, aggregate_id="opp-1")
    eventually(lambda: rep.get(url(customer)).json["status"] == "deal", timeout=5,
               message="deal recorded")
    # The broker delivers it again (at-least-once): nothing more may happen.
    _publish(customer_settings, "opportunity.won", data, event_id=event_id,
             aggregate_id="opp-1")
    second = _publish(customer_settings, "opportunity.won", {**data, "opportunity_id": "opp-2",
                                                             "won_amount": "10.00",
                                                             "signed_on": "2026-11-01"})
    assert second
    eventually(lambda: rep.get(url(customer)).json["deal_amount"] == "470110.50", timeout=5,
               message="second win added once")
    record = rep.get(url(customer)).json
    assert record["last_deal_on"] == "2026-11-20" and record["status"] == "deal"
    deals = [h for h in rep.get(url(customer, "/history")).json if h["action"] == "deal_won"]
    assert len(deals) == 2


def test_a_completed_task_counts_as_a_followup(corg, customer_settings):
    rep = corg.user("rep")
    first, second = create(rep), create(rep)
    done = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=5)
    event_id = _publish(customer_settings, "task.completed", {
        "task_id": "t-1", "type": "call", "title": "回访", "status": "done",
        "customer_ids": [first["id"], second["id"]], "completed_at": done.isoformat(),
        "result": "客户满意"})
    for customer in (first, second):
        eventually(lambda c=customer: rep.get(url(c)).json["last_followup_at"] ==
                   isoformat(done), timeout=5, message="follow-up from the task")
    _publish(customer_settings, "task.completed", {"task_id": "t-1", "customer_ids": [
        first["id"]], "completed_at": done.isoformat()}, event_id=event_id)
    internal = _publish(customer_settings, "task.completed", {
        "task_id": "t-2", "type": "internal", "customer_ids": [first["id"]],
        "completed_at": isoformat(utcnow())})
    assert internal
    history = eventually(lambda: rep.get(url(first, "/history")).json, timeout=2)
    assert [h["action"] for h in history].count("followup_recorded") == 1
    assert rep.get(url(first)).json["last_followup_at"] == isoformat(done)


def test_events_about_unknown_customers_are_ignored(corg, customer_settings, csys):
    _publish(customer_settings, "opportunity.won", {"customer_id": "CRM190001010001",
                                                    "won_amount": "1.00"})
    rep = corg.user("rep")
    customer = create(rep)
    _publish(customer_settings, "opportunity.won", {"customer_id": customer["id"],
                                                    "won_amount": "2.00"})
    eventually(lambda: rep.get(url(customer)).json["deal_amount"] == "2.00", timeout=5,
               message="later events still flow")
