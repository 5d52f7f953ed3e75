"""Every change emits its CONTRACT §8 event, and every event's data schema is in the
catalog."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from crm_testing import eventually

from customer_helpers import EventSpy, create, url

CUSTOMER_EVENTS = {
    "customer.created", "customer.updated", "customer.claimed", "customer.returned",
    "customer.recovered", "customer.assigned", "customer.shared", "customer.unshared",
    "customer.deleted", "customer.reclaim_warning", "contact.created", "contact.updated",
    "contact.deleted", "interaction.logged",
}


def test_every_change_emits_its_event(corg, customer_settings, handlers):
    rep, other = corg.user("rep"), corg.user("rep")
    supervisor = corg.user("supervisor", "east/shanghai")
    with EventSpy(customer_settings.amqp_url, "#") as spy:
        customer = create(rep)
        rep.patch(url(customer), json={"level": "A"})
        contact = rep.post(url(customer, "/contacts"), json={"name": "李", "mobile":
                                                             "13900002222"}).json
        rep.patch(url(customer, f"/contacts/{contact['id']}"), json={"title": "CTO"})
        rep.delete(url(customer, f"/contacts/{contact['id']}"))
        rep.post(url(customer, "/interactions"), json={
            "occurred_at": datetime.now(timezone.utc).isoformat(), "method": "wechat",
            "subject": "微信沟通", "content": "发资料"})
        rep.post(url(customer, "/shares"), json={"user_ids": [other.id]})
        rep.delete(url(customer, f"/shares/{other.id}"))
        rep.post(url(customer, "/return"), json={})
        other.post(url(customer, "/claim"))
        other.post(url(customer, "/assign"), json={"user_id": rep.id})
        supervisor.post(url(customer, "/recover"), json={})
        supervisor.delete(url(customer))
        warned = create(rep)
        try:
            corg.admin.put("/api/v1/pool/rules", json={
                "auto_reclaim": True, "days_without_followup": 5, "warn_days_before": 2})
            as_of = handlers.today() + timedelta(days=4)
            assert warned["id"] in corg.admin.post(
                f"/api/v1/pool/reclaim?as_of={as_of}").json["warned"]
        finally:
            corg.admin.put("/api/v1/pool/rules", json={})

        def all_seen():
            spy.drain()
            types = {e["type"] for e in spy.seen if e["producer"] == "customer"}
            return CUSTOMER_EVENTS <= types and types

        eventually(all_seen, timeout=10, message="every customer event type")
    for envelope in (e for e in spy.seen if e["producer"] == "customer"):
        properties = envelope.pop("_properties")
        assert set(envelope) == {"id", "type", "version", "occurred_at", "producer",
                                 "aggregate_id", "actor_id", "correlation_id", "region",
                                 "data"}
        assert properties["message_id"] == envelope["id"]
        assert properties["type"] == envelope["type"]
        assert properties["delivery_mode"] == 2
        assert envelope["data"]["customer_id"] in (customer["id"], warned["id"])
    types = [e["type"] for e in spy.seen if e["aggregate_id"] == customer["id"]]
    assert types.index("customer.created") < types.index("customer.claimed")


def test_the_catalog_lists_every_customer_event_with_its_schema(corg):
    reply = corg.user("rep").get("/api/v1/events/catalog")
    assert reply.status_code == 200
    document = reply.json
    assert document["asyncapi"].startswith("3.")
    messages = document["components"]["messages"]
    listed = {m["name"] for m in messages.values()}
    assert CUSTOMER_EVENTS <= listed
    created = next(m for m in messages.values() if m["name"] == "customer.created")
    data = created["payload"]["properties"]["data"]
    assert {"customer_id", "owner_id", "number", "in_pool"} <= set(data["properties"])
