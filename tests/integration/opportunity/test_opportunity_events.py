"""Events over the real RabbitMQ: what the service publishes, what it does with customer
events (its own read model; opportunities follow the customer's owner), and what other
services make of its events (tasks: calendar entries; customer and reporting: wins)."""
from __future__ import annotations

import json
import uuid
from contextlib import contextmanager

import pytest
from kombu import Queue

from crm_testing import eventually
from crmkit.bus.connection import connect
from crmkit.bus.publisher import Publisher
from crmkit.bus.topology import events_exchange
from opp_helpers import OPPS, customer_event, future, new_customer, open_when_known

ENVELOPE_KEYS = {"id", "type", "version", "occurred_at", "producer", "aggregate_id",
                 "actor_id", "correlation_id", "region", "data"}


class Spy:
    """An outside subscriber's own queue on crm.events."""

    def __init__(self, connection, routing_key):
        self.queue = Queue(f"test.opp.spy.{uuid.uuid4().hex}", exchange=events_exchange,
                           routing_key=routing_key, exclusive=True, auto_delete=True)
        self.bound = self.queue(connection.channel())
        self.bound.declare()
        self.seen: list[tuple[dict, dict]] = []  # (envelope, message properties)

    def drain(self):
        while (message := self.bound.get(no_ack=True)) is not None:
            self.seen.append((json.loads(message.body), dict(message.properties)))
        return self.seen

    def events(self, event_type=None, aggregate_id=None):
        self.drain()
        return [e for e, _ in self.seen if (event_type in (None, e["type"])) and
                (aggregate_id in (None, e["aggregate_id"]))]

    def wait(self, event_type, aggregate_id, count=1, timeout=5.0):
        return eventually(lambda: (found := self.events(event_type, aggregate_id))
                          and len(found) >= count and found,
                          timeout=timeout, message=f"{count} × {event_type}")


@contextmanager
def spy(amqp_url, routing_key="opportunity.#"):
    with connect(amqp_url) as connection:
        yield Spy(connection, routing_key)


def publish(amqp_url, envelope):
    publisher = Publisher(amqp_url)
    try:
        publisher.publish(envelope)
    finally:
        publisher.close()
    return envelope


def owner_of(session, opp_id):
    reply = session.get(f"{OPPS}/{opp_id}")
    return reply.json["owner_id"] if reply.status_code == 200 else reply.status_code


# ---- what the service publishes

def test_each_change_is_published_with_the_contract_envelope(people, amqp_url):
    rep = people["rep1"]
    customer = new_customer(rep)
    with spy(amqp_url) as events:
        opp = open_when_known(rep, customer["id"])
        url = f"{OPPS}/{opp['id']}"
        rep.patch(url, json={"product": "数控机床"})
        rep.post(f"{url}/stage", json={"stage": "proposal", "note": "方案已提交"},
                 headers={"X-Request-ID": "req-opp-stage-1"})
        rep.post(f"{url}/followup-plans", json={"start_at": future(3), "end_at": future(3, 1),
                                                "method": "visit", "content": "上门拜访"})
        rep.post(f"{url}/reminders", json={"remind_at": future(1)})
        rep.post(f"{url}/win", json={"amount": "118000.00", "contract_number": "HT-9",
                                     "signed_on": "2026-11-20"})
        expected = ["opportunity.created", "opportunity.updated", "opportunity.stage_changed",
                    "opportunity.followup_planned", "opportunity.reminder_set",
                    "opportunity.won"]
        eventually(lambda: {e["type"] for e in events.events(aggregate_id=opp["id"])}
                   >= set(expected), timeout=5, message="all events published")
        envelopes = {e["type"]: e for e in events.events(aggregate_id=opp["id"])}
        for event_type, envelope in envelopes.items():
            assert set(envelope) == ENVELOPE_KEYS
            assert envelope["producer"] == "opportunity" and envelope["actor_id"] == rep.id
            assert envelope["data"]["customer_id"] == customer["id"]
        stage = envelopes["opportunity.stage_changed"]
        assert stage["correlation_id"] == "req-opp-stage-1"
        assert (stage["data"]["from_stage"], stage["data"]["to_stage"],
                stage["data"]["note"]) == ("lead", "proposal", "方案已提交")
        won = envelopes["opportunity.won"]["data"]
        assert won["won"] == {"amount": "118000.00", "contract_number": "HT-9",
                              "signed_on": "2026-11-20"}
        props = [p for e, p in events.seen if e["type"] == "opportunity.won"][0]
        assert props["delivery_mode"] == 2 and props["type"] == "opportunity.won"
        assert props["content_type"] == "application/json"


def test_event_catalog_lists_every_opportunity_event_with_its_schema(people):
    catalog = people["rep1"].get("/api/v1/events/catalog")
    assert catalog.status_code == 200
    messages = catalog.json["components"]["messages"]
    by_type = {m["name"]: m for m in messages.values()}
    for event_type in ("opportunity.created", "opportunity.updated",
                       "opportunity.stage_changed", "opportunity.won", "opportunity.lost",
                       "opportunity.assigned", "opportunity.followup_planned",
                       "opportunity.reminder_set"):
        data = by_type[event_type]["payload"]["properties"]["data"]
        assert "customer_id" in data["properties"], event_type


# ---- plans and reminders reach the tasks service

def test_followup_plan_and_reminder_land_in_the_owners_tasks(people):
    rep = people["rep1"]
    customer = new_customer(rep)
    opp = open_when_known(rep, customer["id"])
    url = f"{OPPS}/{opp['id']}"
    plan = rep.post(f"{url}/followup-plans", json={
        "start_at": future(5), "end_at": future(5, 1), "method": "call",
        "content": "电话确认需求"}).json
    rep.post(f"{url}/reminders", json={"remind_at": future(2), "note": "报价截止"})

    def tasks():
        reply = rep.get(f"/api/v1/tasks?opportunity_id={opp['id']}")
        return reply.json["items"] if reply.status_code == 200 and \
            reply.json["total"] >= 2 else None

    found = eventually(tasks, timeout=5, message="plan and reminder in the tasks service")
    assert {t["assignee_id"] for t in found} == {rep.id}
    call = next(t for t in found if t["type"] == "call")
    assert [r["remind_at"][:16] for r in call["reminders"]] == [
        plan["reminders"][0]["remind_at"][:16]]


# ---- the customer read model and owner-following (customer events on the bus)

@pytest.fixture
def outside_customer(people, amqp_url):
    """A customer known only from events, owned by rep1, with one open opportunity."""
    customer_id = f"ext-{uuid.uuid4().hex[:12]}"
    publish(amqp_url, customer_event("created", customer_id, owner=people["rep1"]))
    opp = open_when_known(people["rep1"], customer_id)
    return customer_id, opp


def test_opportunities_follow_assign_return_and_claim(people, amqp_url, outside_customer):
    customer_id, opp = outside_customer
    rep1, rep2, rep3 = people["rep1"], people["rep2"], people["rep3"]
    with spy(amqp_url) as events:
        publish(amqp_url, customer_event("assigned", customer_id, owner=rep2,
                                         actor_id=people["sup1"].id))
        eventually(lambda: owner_of(rep2, opp["id"]) == rep2.id, timeout=5,
                   message="moved to rep2")
        assert rep1.get(f"{OPPS}/{opp['id']}").status_code == 404  # the old owner lost it

        publish(amqp_url, customer_event("returned", customer_id, owner=None,
                                         actor_id=rep2.id))
        eventually(lambda: owner_of(people["sup1"], opp["id"]) is None, timeout=5,
                   message="unowned")
        for who, status in (("rep2", 404), ("rep1", 404), ("sup1", 200), ("sup2", 200),
                            ("mgr", 200), ("admin", 200), ("sup_w", 404), ("mgr_w", 404)):
            assert people[who].get(f"{OPPS}/{opp['id']}").status_code == status, who
        listed = people["sup2"].get(f"{OPPS}?owner_id=none&customer_id={customer_id}").json
        assert listed["total"] == 1

        publish(amqp_url, customer_event("claimed", customer_id, owner=rep3))
        eventually(lambda: owner_of(rep3, opp["id"]) == rep3.id, timeout=5,
                   message="claimed by rep3")
        moves = events.wait("opportunity.assigned", opp["id"], count=3)
        assert [(m["data"]["from_owner_id"], m["data"]["to_owner_id"], m["data"]["cause"])
                for m in moves] == [(rep1.id, rep2.id, "customer.assigned"),
                                    (rep2.id, None, "customer.returned"),
                                    (None, rep3.id, "customer.claimed")]
    history = rep3.get(f"{OPPS}/{opp['id']}/history").json
    assert [(h["action"], h["from_owner_id"], h["to_owner_id"]) for h in history] == [
        ("assigned", rep1.id, rep2.id), ("assigned", rep2.id, None),
        ("assigned", None, rep3.id)]
    assert history[0]["actor_id"] == people["sup1"].id


def test_duplicates_and_late_older_events_change_nothing(people, amqp_url, outside_customer):
    customer_id, opp = outside_customer
    rep2, rep3 = people["rep2"], people["rep3"]
    older_claim = customer_event("claimed", customer_id, owner=rep3)
    assign = customer_event("assigned", customer_id, owner=rep2)
    with spy(amqp_url) as events:
        publish(amqp_url, assign)
        eventually(lambda: owner_of(rep2, opp["id"]) == rep2.id, timeout=5, message="moved")
        publish(amqp_url, assign)        # redelivered
        publish(amqp_url, older_claim)   # older, arriving late
        marker = customer_event("updated", customer_id, owner=rep2, name="标记后的客户",
                                changes={"name": ["外部事件客户", "标记后的客户"]})
        publish(amqp_url, marker)        # handled after the others (one queue, in order)
        url = f"{OPPS}/{opp['id']}"
        eventually(lambda: rep2.get(url).json["customer_name"] == "标记后的客户",
                   message="the marker handled")
        # and an event published after any the late ones could have caused
        rep2.patch(url, json={"product": "标记"})
        events.wait("opportunity.updated", opp["id"])
        assert owner_of(rep2, opp["id"]) == rep2.id
        assert len(events.events("opportunity.assigned", opp["id"])) == 1


def test_sharees_of_the_customer_may_read_but_not_change(people, amqp_url, outside_customer):
    customer_id, opp = outside_customer
    rep2 = people["rep2"]
    publish(amqp_url, customer_event("shared", customer_id, owner=people["rep1"],
                                     shared=[rep2.id], user_ids=[rep2.id]))
    eventually(lambda: rep2.get(f"{OPPS}/{opp['id']}").status_code == 200, timeout=5,
               message="sharee reads")
    assert rep2.get(f"{OPPS}?scope=shared").json["total"] >= 1
    reply = rep2.post(f"{OPPS}/{opp['id']}/stage", json={"stage": "proposal", "note": "n"})
    assert reply.status_code == 403
    publish(amqp_url, customer_event("unshared", customer_id, owner=people["rep1"],
                                     shared=[], user_ids=[rep2.id]))
    eventually(lambda: rep2.get(f"{OPPS}/{opp['id']}").status_code == 404, timeout=5,
               message="no longer shared")


def test_deleted_customer_is_unknown(people, amqp_url):
    customer_id = f"ext-{uuid.uuid4().hex[:12]}"
    publish(amqp_url, customer_event("created", customer_id, owner=people["rep1"]))
    open_when_known(people["rep1"], customer_id)
    publish(amqp_url, customer_event("deleted", customer_id, owner=None))

    def refused():
        reply = people["rep1"].post(OPPS, json={"name": "n", "customer_id": customer_id,
                                                "amount": "1", "expected_close_date":
                                                "2027-01-01"})
        return reply.status_code == 422 and reply.json["code"] == "unknown_customer"

    eventually(refused, timeout=5, message="deleted customer refused")


# ---- with the customer service itself

def _customer_action(session, customer, action, body=None):
    return session.post(f"/api/v1/customers/{customer['id']}/{action}", json=body or {})


def test_assign_through_the_customer_service_moves_the_opportunity(people):
    rep1, rep2 = people["rep1"], people["rep2"]
    customer = new_customer(rep1)
    opp = open_when_known(rep1, customer["id"])
    reply = _customer_action(people["sup1"], customer, "assign", {"user_id": rep2.id})
    assert reply.status_code == 200, reply
    eventually(lambda: owner_of(rep2, opp["id"]) == rep2.id, timeout=5,
               message="opportunity follows the customer to rep2")
    reply = _customer_action(rep2, customer, "return", {"reason": "不再跟进"})
    assert reply.status_code == 200, reply
    eventually(lambda: owner_of(people["sup1"], opp["id"]) is None, timeout=5,
               message="opportunity unowned with its customer in the pool")
    reply = _customer_action(rep1, customer, "claim")  # default rules: no cool-down
    assert reply.status_code == 200, reply
    eventually(lambda: owner_of(rep1, opp["id"]) == rep1.id, timeout=5,
               message="opportunity goes to whoever claims the customer")
    history = rep1.get(f"{OPPS}/{opp['id']}/history").json
    assert [(h["from_owner_id"], h["to_owner_id"]) for h in history] == [
        (rep1.id, rep2.id), (rep2.id, None), (None, rep1.id)]


def test_a_win_makes_the_customer_a_deal_and_adds_up(people):
    rep = people["rep1"]
    customer = new_customer(rep)
    first = open_when_known(rep, customer["id"])
    second = open_when_known(rep, customer["id"])
    for opp, amount in ((first, "0.10"), (second, "0.20")):
        reply = rep.post(f"{OPPS}/{opp['id']}/win", json={
            "amount": amount, "contract_number": f"HT-{amount}", "signed_on": "2026-11-20"})
        assert reply.status_code == 200

    def deal():
        body = rep.get(f"/api/v1/customers/{customer['id']}").json
        return body if body.get("status") == "deal" and \
            body.get("deal_amount") == "0.30" else None

    body = eventually(deal, timeout=5, message="customer is a deal of 0.30")
    assert body["last_deal_on"] == "2026-11-20"


def test_a_win_reaches_reporting(opp_org, opp_settings):
    from decimal import Decimal

    from crmkit.mongo import get_database

    # A rep of its own: the figures it compares are this test's alone. rep1's move while
    # reporting still takes in the events of the tests before (their wins close
    # opportunities and add to the won amount after a baseline read here).
    rep = opp_org.user("rep", "east/shanghai/team-1")
    users = get_database(opp_settings.mongo_url,
                         opp_settings.database_name("opportunity"))["users"]
    eventually(lambda: users.find_one({"_id": rep.id}), timeout=10,
               message="opportunity service knows the user")
    before = rep.get("/api/v1/reports/summary").json
    customer = new_customer(rep)
    opp = open_when_known(rep, customer["id"])
    eventually(lambda: rep.get("/api/v1/reports/summary").json["opportunities_open"]
               > before["opportunities_open"], timeout=3, message="open counted")
    rep.post(f"{OPPS}/{opp['id']}/win", json={"amount": "1234.56", "contract_number": "R-1",
                                              "signed_on": "2026-11-20"})
    eventually(lambda: Decimal(rep.get("/api/v1/reports/summary").json["won_amount"])
               == Decimal(before["won_amount"]) + Decimal("1234.56"), timeout=3,
               message="reporting counts the win")
