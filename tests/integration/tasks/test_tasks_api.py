"""CONTRACT §6 through the gateway: tasks, the pool, status, visibility per role, bulk."""
from __future__ import annotations

import pytest

from crm_testing import eventually
from tasks_helpers import (TEAM1, TEAM2, customer_of, known_to_tasks, later,
                           opportunity_of, spying)

API = "/api/v1"


@pytest.fixture
def people(org, settings):
    """Made on first use (logins are slow): two reps and their supervisor in team-1, a
    rep in team-2, a manager of east, a rep and a supervisor in west, and the admin."""
    return People(org, settings)


class People(dict):
    ROLES = {"rep1": ("rep", TEAM1, "east"), "rep2": ("rep", TEAM1, "east"),
             "rep3": ("rep", TEAM2, "east"), "sup1": ("supervisor", TEAM1, "east"),
             "mgr": ("manager", "east", "east"),
             "rep_w": ("rep", "west/chengdu/team-1", "west"),
             "sup_w": ("supervisor", "west/chengdu", "west")}

    def __init__(self, org, settings):
        super().__init__(admin=org.admin)
        self.org, self.settings = org, settings

    def __missing__(self, name):
        role, team, region = self.ROLES[name]
        session = self[name] = self.org.user(role, team, region=region)
        known_to_tasks(self.settings, session)
        return session


def new_task(session, **fields):
    body = {"title": "电话回访 A 公司", "type": "call", "due_at": later(days=2), **fields}
    reply = session.post(f"{API}/tasks", json=body)
    assert reply.status_code == 201, reply
    return reply.json


# ---------------------------------------------------------------- create

def test_create_defaults_to_the_caller_with_a_reminder_two_hours_before(people, amqp_url,
                                                                      settings):
    rep = people["rep1"]
    customer = customer_of(amqp_url, settings, rep)
    reply = rep.post(f"{API}/tasks", json={"title": "拜访客户", "type": "visit",
                                           "due_at": later(days=1), "priority": "high",
                                           "customer_ids": [customer]})
    assert reply.status_code == 201, reply
    task = reply.json
    assert task["assignee_id"] == rep.id and task["created_by"] == rep.id
    assert task["status"] == "todo" and task["version"] == 1
    assert reply.headers["ETag"] == '"1"'
    assert len(task["reminders"]) == 1 and task["reminders"][0]["kind"] == "default"
    assert set(task) >= {"id", "type", "title", "description", "customer_ids",
                         "opportunity_id", "assignee_id", "created_by", "due_at", "start_at",
                         "end_at", "priority", "status", "result", "reminders",
                         "completed_at", "created_at", "updated_at", "version"}
    assert rep.get(f"{API}/tasks/{task['id']}").json == task


def test_create_refuses_past_due_unknown_and_server_fields(people):
    rep = people["rep1"]
    past = rep.post(f"{API}/tasks", json={"title": "t", "due_at": later(hours=-1)})
    assert past.status_code == 422 and "due_at" in past.json["errors"]
    assert past.headers["Content-Type"].startswith("application/problem+json")
    for field, value in (("status", "done"), ("version", 3), ("id", "x"),
                         ("created_by", "someone"), ("colour", "red")):
        reply = rep.post(f"{API}/tasks", json={"title": "t", "due_at": later(days=1),
                                               field: value})
        assert reply.status_code == 422, (field, reply)
        assert reply.json["code"] == "unknown_field" and field in reply.json["errors"]
    naive = rep.post(f"{API}/tasks", json={"title": "t", "due_at": "2030-01-01T10:00:00"})
    assert naive.status_code == 422
    bad = rep.post(f"{API}/tasks", data=b"{not json", content_type="application/json")
    assert bad.status_code == 400


def test_an_id_card_number_in_the_description_is_422_naming_the_field(people):
    rep = people["rep1"]
    reply = rep.post(f"{API}/tasks", json={"title": "回访", "due_at": later(days=1),
                                           "description": "客户身份证 11010519491231002X"})
    assert reply.status_code == 422, reply
    assert reply.json["code"] == "sensitive_data"
    assert list(reply.json["errors"]) == ["description"]
    task = new_task(rep)
    edited = rep.patch(f"{API}/tasks/{task['id']}",
                       json={"title": "卡号 6222020200112233446"})
    assert edited.status_code == 422 and list(edited.json["errors"]) == ["title"]


def test_rep_may_not_assign_outside_the_team_or_use_the_pool_but_a_supervisor_may(people):
    rep, sup = people["rep1"], people["sup1"]
    to_other = rep.post(f"{API}/tasks", json={"title": "t", "due_at": later(days=1),
                                              "assignee_id": people["rep3"].id})
    assert to_other.status_code == 403 and to_other.json["code"] == "assign_not_allowed"
    to_pool = rep.post(f"{API}/tasks", json={"title": "t", "due_at": later(days=1),
                                             "assignee_id": None})
    assert to_pool.status_code == 403
    given = new_task(sup, assignee_id=people["rep2"].id)
    assert given["assignee_id"] == people["rep2"].id and given["created_by"] == sup.id
    pooled = new_task(sup, assignee_id=None)
    assert pooled["assignee_id"] is None
    outside = sup.post(f"{API}/tasks", json={"title": "t", "due_at": later(days=1),
                                             "assignee_id": people["rep3"].id})
    assert outside.status_code == 403
    unknown = sup.post(f"{API}/tasks", json={"title": "t", "due_at": later(days=1),
                                             "assignee_id": "nobody"})
    assert unknown.status_code == 422 and unknown.json["code"] == "unknown_user"


def test_idempotency_key_creates_once(people):
    rep = people["rep1"]
    body = {"title": "一次", "due_at": later(days=1)}
    first = rep.post(f"{API}/tasks", json=body, headers={"Idempotency-Key": "k-1"})
    again = rep.post(f"{API}/tasks", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert first.json["id"] == again.json["id"]
    assert rep.get(f"{API}/tasks?scope=mine").json["total"] == 1


# ---------------------------------------------------------------- status machine

def test_status_machine_through_the_gateway(people, amqp_url, settings):
    rep = people["rep1"]
    customer = customer_of(amqp_url, settings, rep)
    task = new_task(rep, customer_ids=[customer])
    tid = task["id"]
    with spying(amqp_url, "task.completed") as spy:
        illegal = rep.post(f"{API}/tasks/{tid}/status", json={"status": "todo"})
        assert illegal.status_code == 409 and illegal.json["code"] == "illegal_transition"
        started = rep.post(f"{API}/tasks/{tid}/status", json={"status": "in_progress"})
        assert started.status_code == 200 and started.json["status"] == "in_progress"
        no_result = rep.post(f"{API}/tasks/{tid}/status", json={"status": "done"})
        assert no_result.status_code == 422 and "result" in no_result.json["errors"]
        done = rep.post(f"{API}/tasks/{tid}/status",
                        json={"status": "done", "result": "客户对方案满意"})
        assert done.status_code == 200, done
        assert done.json["completed_at"] and done.json["result"] == "客户对方案满意"
        [completed] = spy.wait_for(1)
    assert completed["data"]["customer_ids"] == [customer]
    assert completed["data"]["counts_as_followup"] is True
    assert completed["actor_id"] == rep.id and completed["aggregate_id"] == tid
    reopen = rep.post(f"{API}/tasks/{tid}/status", json={"status": "todo"})
    assert reopen.status_code == 409
    shelved = new_task(rep)
    assert rep.post(f"{API}/tasks/{shelved['id']}/status",
                    json={"status": "shelved"}).json["status"] == "shelved"
    assert rep.post(f"{API}/tasks/{shelved['id']}/status",
                    json={"status": "todo"}).json["status"] == "todo"
    bogus = rep.post(f"{API}/tasks/{shelved['id']}/status", json={"status": "finished"})
    assert bogus.status_code == 422


def test_stale_if_match_is_412_and_fresh_one_works(people):
    rep = people["rep1"]
    task = new_task(rep)
    tid = task["id"]
    ok = rep.patch(f"{API}/tasks/{tid}", json={"title": "新标题"}, headers={"If-Match": '"1"'})
    assert ok.status_code == 200 and ok.json["version"] == 2 and ok.headers["ETag"] == '"2"'
    stale = rep.patch(f"{API}/tasks/{tid}", json={"title": "x"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    stale_status = rep.post(f"{API}/tasks/{tid}/status", json={"status": "in_progress"},
                            headers={"If-Match": "1"})
    assert stale_status.status_code == 412
    moved = rep.patch(f"{API}/tasks/{tid}", json={"due_at": later(days=5)})
    assert moved.status_code == 200
    assert rep.patch(f"{API}/tasks/{tid}", json={"status": "done"}).status_code == 422


# ---------------------------------------------------------------- visibility per role

def test_each_role_sees_what_the_contract_says(people):
    rep1, rep2, rep3, sup1 = (people[n] for n in ("rep1", "rep2", "rep3", "sup1"))
    tasks = {
        "rep1_own": new_task(rep1)["id"],
        "rep3_own": new_task(rep3)["id"],
        "sup_to_rep2": new_task(sup1, assignee_id=rep2.id)["id"],
        "pool_east": new_task(sup1, assignee_id=None)["id"],
        "pool_west": new_task(people["sup_w"], assignee_id=None)["id"],
        "west_rep": new_task(people["rep_w"])["id"],
    }
    expected = {
        "rep1": {"rep1_own"},
        "rep2": {"sup_to_rep2"},
        "rep3": {"rep3_own"},
        "sup1": {"rep1_own", "sup_to_rep2", "pool_east"},
        "mgr": {"rep1_own", "rep3_own", "sup_to_rep2", "pool_east"},
        "rep_w": {"west_rep"},
        "sup_w": {"pool_west", "west_rep"},
        "admin": set(tasks),
    }
    for viewer, visible in expected.items():
        session = people[viewer]
        for name, tid in tasks.items():
            status = session.get(f"{API}/tasks/{tid}").status_code
            assert status == (200 if name in visible else 404), (viewer, name, status)
        # the module's system is shared: earlier tests' tasks may be listed too
        listed = {t["id"] for t in session.get(f"{API}/tasks?per_page=100").json["items"]}
        assert listed & set(tasks.values()) == {tasks[n] for n in visible}, viewer


def test_scopes(people):
    rep1, rep2, sup1 = people["rep1"], people["rep2"], people["sup1"]
    own = new_task(rep1)["id"]
    given = new_task(sup1, assignee_id=rep2.id)["id"]
    pooled = new_task(sup1, assignee_id=None)["id"]

    def ids(session, query):
        """This test's tasks in the list (the module's system is shared)."""
        reply = session.get(f"{API}/tasks?{query}&per_page=100")
        assert reply.status_code == 200, reply
        return {t["id"] for t in reply.json["items"]} & {own, given, pooled}

    assert ids(rep2, "scope=mine") == {given}
    assert ids(sup1, "scope=created") == {given, pooled}
    assert ids(sup1, "scope=team") == {own, given}
    assert ids(sup1, "scope=pool") == {pooled}
    assert rep1.get(f"{API}/tasks?scope=pool").status_code == 403
    assert rep1.get(f"{API}/tasks?scope=everyone").status_code == 422


def test_list_filters_and_paging(people, amqp_url, settings):
    rep = people["rep1"]
    customer = customer_of(amqp_url, settings, rep)
    opportunity = opportunity_of(amqp_url, settings, rep, customer)
    soon = new_task(rep, due_at=later(hours=5), priority="high", customer_ids=[customer],
                    opportunity_id=opportunity)
    far = new_task(rep, due_at=later(days=20), priority="low")
    rep.post(f"{API}/tasks/{far['id']}/status", json={"status": "in_progress"})

    def ids(query):
        return [t["id"] for t in rep.get(f"{API}/tasks?{query}").json["items"]]

    assert ids("status=in_progress") == [far["id"]]
    assert ids("priority=high") == [soon["id"]]
    assert ids(f"customer_id={customer}") == [soon["id"]]
    assert ids(f"opportunity_id={opportunity}") == [soon["id"]]
    assert ids(f"due_before={later(days=2).replace('+', '%2B')}") == [soon["id"]]
    assert ids("sort=-due_at") == [far["id"], soon["id"]]
    page = rep.get(f"{API}/tasks?per_page=1&page=2").json
    assert page["total"] == 2 and page["page"] == 2 and page["per_page"] == 1
    assert [t["id"] for t in page["items"]] == [far["id"]]
    assert rep.get(f"{API}/tasks?per_page=101").status_code == 422


# ---------------------------------------------------------------- pool, assign, inbox

def test_pool_task_assigned_by_a_supervisor_reaches_the_reps_inbox(people):
    sup, rep = people["sup1"], people["rep2"]
    pooled = new_task(sup, assignee_id=None, title="任务池里的任务")
    assert rep.get(f"{API}/tasks/{pooled['id']}").status_code == 404
    blocked = sup.post(f"{API}/tasks/{pooled['id']}/status", json={"status": "in_progress"})
    assert blocked.status_code == 409 and blocked.json["code"] == "task_unassigned"
    assigned = sup.post(f"{API}/tasks/{pooled['id']}/assign", json={"user_id": rep.id})
    assert assigned.status_code == 200 and assigned.json["assignee_id"] == rep.id
    again = sup.post(f"{API}/tasks/{pooled['id']}/assign", json={"user_id": rep.id})
    assert again.status_code == 409
    notes = eventually(lambda: rep.get(f"{API}/notifications?unread=true").json["items"],
                       timeout=10, message="assignment notification")
    assert [n["kind"] for n in notes] == ["task_assigned"]
    assert notes[0]["ref"] == {"type": "task", "id": pooled["id"]}
    assert set(notes[0]) >= {"id", "kind", "title", "ref", "created_at", "read"}
    assert rep.post(f"{API}/tasks/{pooled['id']}/assign",
                    json={"user_id": people["rep3"].id}).status_code == 403
    assert people["rep3"].post(f"{API}/tasks/{pooled['id']}/assign",
                               json={"user_id": people["rep3"].id}).status_code == 404


def test_a_rep_gives_a_task_to_a_colleague_in_their_team_who_gets_it_in_the_inbox(people):
    rep1, rep2, rep3 = people["rep1"], people["rep2"], people["rep3"]
    given = new_task(rep1, assignee_id=rep2.id, title="帮忙回访 B 公司")
    assert (given["assignee_id"], given["created_by"]) == (rep2.id, rep1.id)
    assert rep2.get(f"{API}/tasks/{given['id']}").status_code == 200
    notes = eventually(lambda: rep2.get(f"{API}/notifications?unread=true").json["items"],
                       timeout=10, message="the colleague's inbox entry")
    assert [n["ref"]["id"] for n in notes] == [given["id"]]
    mine = new_task(rep1)
    handed = rep1.post(f"{API}/tasks/{mine['id']}/assign", json={"user_id": rep2.id})
    assert handed.status_code == 200 and handed.json["assignee_id"] == rep2.id
    outside = rep1.post(f"{API}/tasks/{new_task(rep1)['id']}/assign",
                        json={"user_id": rep3.id})
    assert outside.status_code == 403 and outside.json["code"] == "assign_not_allowed"
    assert rep3.get(f"{API}/tasks/{given['id']}").status_code == 404


def test_a_todo_task_is_completed_at_once_with_its_result(people):
    rep = people["rep1"]
    task = new_task(rep)
    no_result = rep.post(f"{API}/tasks/{task['id']}/status", json={"status": "done"})
    assert no_result.status_code == 422 and "result" in no_result.json["errors"]
    done = rep.post(f"{API}/tasks/{task['id']}/status",
                    json={"status": "done", "result": "电话已沟通,客户同意下周拜访"})
    assert done.status_code == 200, done
    assert (done.json["status"], done.json["result"]) == ("done", "电话已沟通,客户同意下周拜访")
    assert done.json["completed_at"]
    unknown = rep.post(f"{API}/tasks/{new_task(rep)['id']}/status",
                       json={"status": "finished", "result": "x"})
    assert unknown.status_code == 422 and "status" in unknown.json["errors"]


# who completes a task straight from todo: (caller, the task given to them?) -> status
STRAIGHT_TO_DONE = {("rep1", False): 200, ("rep2", True): 200, ("rep2", False): 404,
                    ("sup1", False): 200, ("mgr", False): 200, ("admin", False): 200,
                    ("rep3", False): 404, ("rep_w", False): 404, ("sup_w", False): 404}


def test_whoever_works_on_a_task_completes_it_at_once_and_no_one_else(people):
    """rep1's task (given to rep2, their teammate, where marked): its creator, its
    assignee, their superiors and the admin complete it; a teammate it is not given to
    and anyone else find no such task."""
    wrong = []
    for (who, given), expected in STRAIGHT_TO_DONE.items():
        task = new_task(people["rep1"], **({"assignee_id": people["rep2"].id} if given
                                           else {}))
        reply = people[who].post(f"{API}/tasks/{task['id']}/status",
                                 json={"status": "done", "result": f"由 {who} 完成"})
        if reply.status_code != expected:
            wrong.append(f"{who} (given: {given}): {reply.status_code}, expected {expected}")
        status = people["rep1"].get(f"{API}/tasks/{task['id']}").json["status"]
        if status != ("done" if expected == 200 else "todo"):
            wrong.append(f"{who} (given: {given}): the task is {status}")
    assert not wrong, "\n".join(wrong)


def test_marking_a_notification_read(people):
    sup, rep = people["sup1"], people["rep2"]
    new_task(sup, assignee_id=rep.id)
    [note] = eventually(lambda: rep.get(f"{API}/notifications?unread=true").json["items"],
                        timeout=10, message="notification")
    assert people["rep1"].post(f"{API}/notifications/{note['id']}/read").status_code == 404
    read = rep.post(f"{API}/notifications/{note['id']}/read")
    assert read.status_code == 200 and read.json["read"] is True
    assert rep.get(f"{API}/notifications?unread=true").json["items"] == []
    everything = rep.get(f"{API}/notifications").json
    assert everything["total"] == 1 and everything["items"][0]["read"] is True
    assert rep.post(f"{API}/notifications/nope/read").status_code == 404


# ---------------------------------------------------------------- bulk

def test_bulk_create_makes_one_task_per_customer_and_reports_each(people, amqp_url,
                                                                  settings):
    rep = people["rep1"]
    c1, c2, c3 = (customer_of(amqp_url, settings, rep) for _ in range(3))
    reply = rep.post(f"{API}/tasks/bulk", json={
        "customer_ids": [c1, c2, c1, c3],
        "task": {"title": "季度回访", "type": "call", "due_at": later(days=3)}})
    assert reply.status_code == 200, reply
    results = reply.json["results"]
    assert [(r["customer_id"], r["ok"]) for r in results] == [
        (c1, True), (c2, True), (c1, False), (c3, True)]
    assert results[2]["code"] == "duplicate"
    for r in results:
        if r["ok"]:
            assert rep.get(f"{API}/tasks/{r['id']}").json["customer_ids"] == [r["customer_id"]]
    bad = rep.post(f"{API}/tasks/bulk", json={"customer_ids": [c1], "task": {
        "title": "t", "due_at": later(hours=-1)}})
    assert bad.status_code == 422 and "due_at" in bad.json["errors"]
    nested = rep.post(f"{API}/tasks/bulk", json={"customer_ids": [c1], "task": {
        "title": "t", "due_at": later(days=1), "customer_ids": ["x"]}})
    assert nested.status_code == 422 and nested.json["code"] == "unknown_field"


def test_bulk_assign_deals_round_robin_and_reports_each(people):
    sup, rep1, rep2 = people["sup1"], people["rep1"], people["rep2"]
    pooled = [new_task(sup, assignee_id=None, title=f"池 {i}")["id"] for i in range(5)]
    invisible = new_task(people["rep3"])["id"]
    reply = sup.post(f"{API}/tasks/bulk-assign", json={
        "task_ids": pooled + [invisible, "missing"], "user_ids": [rep1.id, rep2.id]})
    assert reply.status_code == 200, reply
    results = reply.json["results"]
    assert [(r["id"], r["ok"], r["user_id"]) for r in results[:5]] == [
        (pooled[0], True, rep1.id), (pooled[1], True, rep2.id), (pooled[2], True, rep1.id),
        (pooled[3], True, rep2.id), (pooled[4], True, rep1.id)]
    assert [(r["ok"], r["code"]) for r in results[5:]] == [(False, "not_found"),
                                                          (False, "not_found")]
    assert rep2.get(f"{API}/tasks?scope=mine").json["total"] == 2
    rep_try = rep1.post(f"{API}/tasks/bulk-assign", json={"task_ids": pooled[:1],
                                                          "user_ids": [people["rep3"].id]})
    assert rep_try.status_code == 200
    assert rep_try.json["results"][0]["ok"] is False     # another team
    colleague = rep1.post(f"{API}/tasks/bulk-assign", json={"task_ids": pooled[:1],
                                                            "user_ids": [rep2.id]})
    assert colleague.json["results"][0]["ok"] is True    # a colleague of their own team


# ---------------------------------------------------------------- catalog

def test_event_catalog_lists_the_task_events_with_schemas(org):
    catalog = org.admin.get(f"{API}/events/catalog").json
    text = str(catalog)
    for event_type in ("task.created", "task.assigned", "task.status_changed",
                       "task.completed", "reminder.due"):
        assert event_type in catalog["channels"], event_type
    message = catalog["components"]["messages"]["task_completed_v1"]
    data = message["payload"]["properties"]["data"]
    assert "customer_ids" in data["properties"] and "task_id" in data["properties"]
    assert "reminder_id" in text
