"""The tasks service reacts to other services' events (published on the real broker as
those services publish them), idempotently by event id."""
from __future__ import annotations

from datetime import timedelta

from crm_testing import caught_up, eventually
from tasks_helpers import (TEAM1, TEAM2, customer_of, iso, known_to_tasks,
                           known_to_tasks_as_customer, later, now, publish, spying)

API = "/api/v1"


def opportunity_snapshot(owner, customer_id="cust-1", opportunity_id="opp-1"):
    return {"opportunity_id": opportunity_id, "name": "ERP 采购项目",
            "customer_id": customer_id, "owner_id": owner.id,
            "owner_team": owner.user["team"], "owner_region": owner.user["region"],
            "region": owner.user["region"]}


def test_a_followup_plan_lands_in_the_owners_calendar_with_a_reminder_a_day_before(
        system, org, amqp_url):
    rep = org.user("rep", TEAM1)
    start = now() + timedelta(days=3)
    data = {**opportunity_snapshot(rep), "plan_id": "plan-1", "start_at": iso(start),
            "end_at": iso(start + timedelta(hours=1)), "method": "online_meeting",
            "content": "了解客户对系统模块的具体需求", "assignee_id": rep.id,
            "title": "线上会议 Online meeting: ERP 采购项目",
            "reminders": [{"remind_at": iso(start - timedelta(days=1))}],
            "actor_id": rep.id}
    envelope = publish(amqp_url, "opportunity.followup_planned", data,
                       aggregate_id="opp-1", actor_id=rep.id, producer="opportunity")
    publish(amqp_url, "opportunity.followup_planned", data, aggregate_id="opp-1",
            actor_id=rep.id, producer="opportunity", event_id=envelope["id"])  # redelivery

    items = eventually(lambda: rep.get(f"{API}/tasks?opportunity_id=opp-1").json["items"],
                       timeout=10, message="plan in the task list")
    caught_up(system, "tasks")  # the redelivery too
    [task] = rep.get(f"{API}/tasks?opportunity_id=opp-1").json["items"]
    assert task["assignee_id"] == rep.id and task["customer_ids"] == ["cust-1"]
    assert task["title"].endswith("ERP 采购项目") and task["type"] == "followup"
    assert task["start_at"][:19] == iso(start)[:19]
    [reminder] = task["reminders"]
    assert reminder["kind"] == "plan"
    assert reminder["remind_at"][:19] == iso(start - timedelta(days=1))[:19]
    day = (start + timedelta(hours=8)).date()   # the rep's local (Shanghai) date
    calendar = rep.get(f"{API}/calendar?view=day&date={day}").json
    assert task["id"] in [i["id"] for i in calendar["items"]]
    assert items


def test_an_opportunity_reminder_fires_for_the_owner(system, org, amqp_url):
    rep = org.user("rep", TEAM1)
    remind_at = now() + timedelta(seconds=2)
    with spying(amqp_url, "reminder.due") as spy:
        publish(amqp_url, "opportunity.reminder_set", {
            **opportunity_snapshot(rep, opportunity_id="opp-2"), "reminder_id": "r-1",
            "remind_at": iso(remind_at), "note": "跟进报价", "user_id": rep.id,
            "title": "商机提醒 Reminder: ERP 采购项目", "actor_id": rep.id},
            aggregate_id="opp-2", actor_id=rep.id, producer="opportunity")
        [event] = spy.wait_for(1, timeout=15)
    assert event["data"]["user_id"] == rep.id and event["data"]["kind"] == "opportunity"
    notes = eventually(lambda: [n for n in rep.get(f"{API}/notifications").json["items"]
                                if n["kind"] == "reminder"], timeout=5, message="inbox")
    assert "ERP 采购项目" in notes[0]["title"]


def customer_event(customer_id, owner, previous_owner_id):
    return {"customer_id": customer_id, "name": "商策科技", "region": "east",
            "owner_id": owner.id if owner else None,
            "owner_team": owner.user["team"] if owner else None,
            "owner_region": owner.user["region"] if owner else None,
            "previous_owner_id": previous_owner_id}


def test_a_customer_returned_to_the_pool_shelves_the_old_owners_open_tasks(
        system, org, amqp_url, settings):
    rep, other = org.user("rep", TEAM1), org.user("rep", TEAM1)
    # cust-9 is shared with `other`, who has a task on it too
    customer_of(amqp_url, settings, rep, shared_with=[other], customer_id="cust-9")
    customer_of(amqp_url, settings, rep, customer_id="cust-8")
    mine = rep.post(f"{API}/tasks", json={"title": "拜访", "type": "visit",
                                          "due_at": later(days=2),
                                          "customer_ids": ["cust-9"]}).json
    started = rep.post(f"{API}/tasks", json={"title": "回访", "type": "call",
                                             "due_at": later(days=2),
                                             "customer_ids": ["cust-9"]}).json
    rep.post(f"{API}/tasks/{started['id']}/status", json={"status": "in_progress"})
    unrelated = rep.post(f"{API}/tasks", json={"title": "别的客户", "due_at": later(days=2),
                                               "customer_ids": ["cust-8"]}).json
    others = other.post(f"{API}/tasks", json={"title": "同事的", "due_at": later(days=2),
                                              "customer_ids": ["cust-9"]}).json
    def shelving(event):
        return event["data"]["to"] == "shelved"

    with spying(amqp_url, "task.status_changed") as spy:
        envelope = publish(amqp_url, "customer.returned", customer_event("cust-9", None, rep.id),
                           aggregate_id="cust-9", actor_id=rep.id, producer="customer")
        changed = spy.wait_for(2, timeout=10, where=shelving)
        publish(amqp_url, "customer.returned", customer_event("cust-9", None, rep.id),
                aggregate_id="cust-9", actor_id=rep.id, producer="customer",
                event_id=envelope["id"])                       # redelivered: no change
        caught_up(system, "tasks")
        assert len([e for e in spy.drain() if shelving(e)]) == 2
    assert {e["aggregate_id"] for e in changed} == {mine["id"], started["id"]}
    assert all(e["data"]["to"] == "shelved" and e["actor_id"] is None for e in changed)
    status = {t: rep.get(f"{API}/tasks/{t}").json["status"] for t in
              (mine["id"], started["id"], unrelated["id"])}
    assert status == {mine["id"]: "shelved", started["id"]: "shelved",
                      unrelated["id"]: "todo"}
    assert other.get(f"{API}/tasks/{others['id']}").json["status"] == "todo"


def test_a_customer_with_a_new_owner_takes_its_open_followup_tasks_along(
        system, org, amqp_url, settings):
    old, new = org.user("rep", TEAM1), org.user("rep", TEAM2)
    known_to_tasks(settings, new)
    customer_of(amqp_url, settings, old, customer_id="cust-5")
    visit = old.post(f"{API}/tasks", json={"title": "拜访", "type": "visit",
                                           "due_at": later(days=2),
                                           "customer_ids": ["cust-5"]}).json
    internal = old.post(f"{API}/tasks", json={"title": "内部协作", "type": "internal",
                                              "due_at": later(days=2),
                                              "customer_ids": ["cust-5"]}).json
    with spying(amqp_url, "task.assigned") as spy:
        publish(amqp_url, "customer.assigned", customer_event("cust-5", new, old.id),
                aggregate_id="cust-5", actor_id=old.id, producer="customer")
        [moved] = spy.wait_for(1, timeout=10)
    assert moved["aggregate_id"] == visit["id"]
    assert moved["data"]["assignee_id"] == new.id
    assert moved["data"]["previous_assignee_id"] == old.id
    assert new.get(f"{API}/tasks/{visit['id']}").json["assignee_id"] == new.id
    assert old.get(f"{API}/tasks/{visit['id']}").status_code == 200   # its creator
    assert old.get(f"{API}/tasks/{internal['id']}").json["assignee_id"] == old.id
    note = eventually(lambda: new.get(f"{API}/notifications").json["items"], timeout=5,
                      message="the new owner hears of the task")
    assert note[0]["kind"] == "task_assigned"


def test_completing_a_followup_task_counts_as_a_followup_at_the_customer_service(
        system, org, settings):
    """Through the real customer service: task.completed carries the customer ids."""
    rep = org.user("rep", TEAM1)
    customer = rep.post(f"{API}/customers", json={
        "name": f"任务回访测试{now().timestamp():.0f}", "industry": "IT", "status": "potential",
        "primary_contact": {"name": "张三", "phone": "13812345678"}})
    assert customer.status_code == 201, customer
    cid = customer.json["id"]
    known_to_tasks_as_customer(settings, cid)
    task = rep.post(f"{API}/tasks", json={"title": "电话回访", "type": "call",
                                          "due_at": later(days=1), "customer_ids": [cid]}).json
    rep.post(f"{API}/tasks/{task['id']}/status", json={"status": "in_progress"})
    done = rep.post(f"{API}/tasks/{task['id']}/status",
                    json={"status": "done", "result": "客户确认接受方案"})
    assert done.status_code == 200
    eventually(lambda: rep.get(f"{API}/customers/{cid}").json.get("last_followup_at"),
               timeout=10, message="customer counts the completed task as a follow-up")


def test_through_the_customer_service_assign_moves_and_return_shelves(system, org, settings):
    """The real customer service's events: a supervisor assigns the customer to another
    rep (its open visit follows), then that rep returns it to the pool (shelved)."""
    first, second = org.user("rep", TEAM1), org.user("rep", TEAM1)
    supervisor = org.user("supervisor", TEAM1)
    known_to_tasks(settings, first, second, supervisor)
    customer = first.post(f"{API}/customers", json={
        "name": f"宁波港联物流{now().timestamp():.0f}", "industry": "物流", "status": "intent",
        "primary_contact": {"name": "李经理", "phone": "13612345678"}})
    assert customer.status_code == 201, customer
    cid = customer.json["id"]
    known_to_tasks_as_customer(settings, cid)
    visit = first.post(f"{API}/tasks", json={"title": "上门拜访", "type": "visit",
                                             "due_at": later(days=2),
                                             "customer_ids": [cid]}).json

    moved = supervisor.post(f"{API}/customers/{cid}/assign", json={"user_id": second.id})
    assert moved.status_code == 200, moved
    eventually(lambda: second.get(f"{API}/tasks/{visit['id']}").json.get("assignee_id")
               == second.id, timeout=10, message="the visit follows the customer")

    returned = second.post(f"{API}/customers/{cid}/return", json={"reason": "预算冻结"})
    assert returned.status_code == 200, returned
    eventually(lambda: second.get(f"{API}/tasks/{visit['id']}").json.get("status")
               == "shelved", timeout=10, message="the visit is shelved")


def test_a_reclaim_warning_reaches_the_owners_inbox_once(system, org, amqp_url):
    """customer.reclaim_warning (as the customer service sends it before auto-reclaim)
    makes one inbox entry for the customer's owner, however often it is delivered."""
    rep, other = org.user("rep", TEAM1), org.user("rep", TEAM1)
    warning = {**customer_event("cust-rw", rep, None), "name": "远航贸易",
               "due_on": (now() + timedelta(days=3)).date().isoformat(), "days_left": 3,
               "rule": "no_followup"}
    warning.pop("previous_owner_id")
    sent = publish(amqp_url, "customer.reclaim_warning", warning, aggregate_id="cust-rw",
                   producer="customer")
    publish(amqp_url, "customer.reclaim_warning", warning, aggregate_id="cust-rw",
            producer="customer", event_id=sent["id"])           # redelivered
    caught_up(system, "tasks")
    notes = eventually(lambda: [n for n in rep.get(f"{API}/notifications").json["items"]
                                if n["kind"] == "reclaim_warning"], timeout=10,
                       message="the reclaim warning in the owner's inbox")
    assert len(notes) == 1 and notes[0]["ref"] == {"type": "customer", "id": "cust-rw"}
    assert "远航贸易" in notes[0]["title"] and warning["due_on"] in notes[0]["title"]
    assert not [n for n in other.get(f"{API}/notifications").json["items"]
                if n["kind"] == "reclaim_warning"]
