"""A task links only customers and opportunities its author may see (CONTRACT §3, §6):
anything else is refused as the opportunity service refuses a customer it cannot use
(422 naming the field), so completing such a task can never write a follow-up into a
customer hidden from its author."""
from __future__ import annotations

import uuid

from crm_testing import eventually
from tasks_helpers import TEAM1, TEAM2, known_to_tasks, later

API = "/api/v1"


def new_customer(session) -> str:
    reply = session.post(f"{API}/customers", json={
        # unique, and never 16+ digits in a row (a bank card number to the customer service)
        "name": f"链接检查{uuid.uuid4().hex[:12]}", "industry": "软件",
        "status": "potential", "primary_contact": {"name": "王经理", "phone": "13812345678"}})
    assert reply.status_code == 201, reply
    return reply.json["id"]


def linked_once_known(session, **links) -> dict:
    """The task `session` makes with these links, once the tasks service has heard of
    the linked records (customer and opportunity events travel by bus)."""
    def attempt():
        reply = session.post(f"{API}/tasks", json={"title": "回访", "type": "call",
                                                   "due_at": later(days=2), **links})
        assert reply.status_code in (201, 422), reply
        return reply.json if reply.status_code == 201 else None
    return eventually(attempt, timeout=15, message=f"a task linking {links}")


def refused(reply, field: str, code: str) -> None:
    assert reply.status_code == 422, reply
    assert reply.headers["Content-Type"].startswith("application/problem+json")
    assert reply.json["code"] == code and field in reply.json["errors"], reply.json


def test_a_hidden_customer_cannot_be_linked_by_create_bulk_or_patch(system, org, settings):
    owner, outsider = org.user("rep", TEAM1), org.user("rep", TEAM2)
    supervisor = org.user("supervisor", TEAM1)
    known_to_tasks(settings, owner, outsider, supervisor)
    cid = new_customer(owner)
    linked_once_known(owner, customer_ids=[cid])          # the tasks service knows it

    create = outsider.post(f"{API}/tasks", json={"title": "偷看", "due_at": later(days=1),
                                                 "customer_ids": [cid]})
    refused(create, "customer_ids", "unknown_customer")
    bulk = outsider.post(f"{API}/tasks/bulk", json={
        "customer_ids": [cid], "task": {"title": "偷看", "due_at": later(days=1)}})
    assert bulk.status_code == 200, bulk
    assert bulk.json["created"] == 0
    assert [(r["ok"], r["code"]) for r in bulk.json["results"]] == [
        (False, "unknown_customer")]
    own = outsider.post(f"{API}/tasks", json={"title": "自己的", "due_at": later(days=1)})
    assert own.status_code == 201, own
    patch = outsider.patch(f"{API}/tasks/{own.json['id']}", json={"customer_ids": [cid]})
    refused(patch, "customer_ids", "unknown_customer")
    assert outsider.get(f"{API}/tasks/{own.json['id']}").json["customer_ids"] == []
    never_heard_of = outsider.post(f"{API}/tasks", json={
        "title": "t", "due_at": later(days=1), "customer_ids": ["no-such-customer"]})
    refused(never_heard_of, "customer_ids", "unknown_customer")
    assert outsider.get(f"{API}/tasks?customer_id={cid}").json["total"] == 0

    # Who sees the customer may link it: the owner's supervisor, and a sharee.
    assert supervisor.post(f"{API}/tasks", json={
        "title": "督办", "due_at": later(days=1), "customer_ids": [cid]}).status_code == 201
    eventually(lambda: owner.post(f"{API}/customers/{cid}/shares", json={
        "user_ids": [outsider.id]}).status_code == 200, timeout=15,
        message="the customer shared (the customer service knows the sharee)")
    linked_once_known(outsider, customer_ids=[cid])


def test_a_hidden_opportunity_cannot_be_linked(system, org, settings):
    owner, outsider = org.user("rep", TEAM1), org.user("rep", TEAM2)
    manager = org.user("manager", "east")
    known_to_tasks(settings, owner, outsider, manager)
    cid = new_customer(owner)
    opportunity = eventually(lambda: (lambda r: r.json if r.status_code == 201 else None)(
        owner.post(f"{API}/opportunities", json={
            "name": "MES 项目", "customer_id": cid, "amount": "300000",
            "expected_close_date": "2027-06-30"})), timeout=15,
        message="the opportunity service knows the customer")
    oid = opportunity["id"]
    linked_once_known(owner, opportunity_id=oid)

    create = outsider.post(f"{API}/tasks", json={"title": "偷看", "due_at": later(days=1),
                                                 "opportunity_id": oid})
    refused(create, "opportunity_id", "unknown_opportunity")
    bulk = outsider.post(f"{API}/tasks/bulk", json={"customer_ids": ["whatever"], "task": {
        "title": "偷看", "due_at": later(days=1), "opportunity_id": oid}})
    refused(bulk, "opportunity_id", "unknown_opportunity")
    own = outsider.post(f"{API}/tasks", json={"title": "自己的", "due_at": later(days=1)})
    patch = outsider.patch(f"{API}/tasks/{own.json['id']}", json={"opportunity_id": oid})
    refused(patch, "opportunity_id", "unknown_opportunity")
    refused(outsider.post(f"{API}/tasks", json={"title": "t", "due_at": later(days=1),
                                                "opportunity_id": "no-such-opportunity"}),
            "opportunity_id", "unknown_opportunity")
    assert outsider.get(f"{API}/tasks?opportunity_id={oid}").json["total"] == 0

    # The region's manager sees it; unlinking needs no check.
    by_manager = manager.post(f"{API}/tasks", json={"title": "督办", "due_at": later(days=1),
                                                    "opportunity_id": oid})
    assert by_manager.status_code == 201, by_manager
    mine = linked_once_known(owner, opportunity_id=oid)
    cleared = owner.patch(f"{API}/tasks/{mine['id']}", json={"opportunity_id": None})
    assert cleared.status_code == 200 and cleared.json["opportunity_id"] is None
