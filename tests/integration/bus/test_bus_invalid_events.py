"""Consumers act only on events their schema accepts (issue 12.3): a well-formed envelope
with empty `data` is parked at once, with the schema's errors as the reason, and changes
nothing. Before, a `customer.created` with `data: {}` counted a phantom customer in the
reports, and a `customer.deleted` with `data: {}` made a real customer unusable for new
opportunities."""
from __future__ import annotations

import uuid

from bus_kit import forged_envelope
from crm_testing import eventually
from crmkit.bus.deadletters import list_parked
from crmkit.bus.publisher import Publisher

SCHEMA_REFUSED = "data does not match its schema"


def counted(session) -> tuple[int, int]:
    summary = session.get("/api/v1/reports/summary").json
    return summary["customers"], summary["customers_in_pool"]


def test_empty_customer_events_are_parked_and_change_nothing(system, org):
    rep = org.user("rep")
    customer = rep.post("/api/v1/customers", json={
        "name": f"校验物流{uuid.uuid4().hex[:6]}有限公司", "industry": "物流",
        "status": "potential", "primary_contact": {"name": "钱七", "phone": "13900001111"}})
    assert customer.status_code == 201, customer
    customer_id = customer.json["id"]
    eventually(lambda: rep.get("/api/v1/reports/summary").json["customers"] == 1,
               message="the real customer in the reports")
    before = counted(org.admin)

    phantom = forged_envelope("customer.created", uuid.uuid4().hex, {},
                              producer="customer", actor_id=rep.id)
    deleted = forged_envelope("customer.deleted", customer_id, {},
                              producer="customer", actor_id=rep.id)
    publisher = Publisher(system.settings.amqp_url)
    try:
        publisher.publish(phantom)
        publisher.publish(deleted)
    finally:
        publisher.close()

    def parked_in(service):
        items = {item["id"]: item for item in list_parked(system.settings.amqp_url, service)}
        return items if {phantom["id"], deleted["id"]} <= set(items) else None

    for service in ("reporting", "opportunity"):   # both consume customer.*
        parked = eventually(lambda: parked_in(service), timeout=10,
                            message=f"both parked by {service}")
        for envelope in (phantom, deleted):
            item = parked[envelope["id"]]
            assert item["attempts"] == 1                       # at once, never retried
            assert f"{envelope['type']} v1 {SCHEMA_REFUSED}" in item["error"]
            assert "Missing data for required field" in item["error"]
            assert item["envelope"] == envelope

    # no phantom customer counted, and the real one is still there
    assert counted(org.admin) == before
    assert rep.get("/api/v1/reports/summary").json["customers"] == 1
    # still usable for new opportunities: not taken for deleted
    opened = eventually(lambda: (lambda r: r if r.status_code != 422 or r.json.get(
        "code") != "unknown_customer" else None)(rep.post("/api/v1/opportunities", json={
            "name": "仓储系统", "customer_id": customer_id, "amount": "12000.50",
            "expected_close_date": "2026-12-31"})), timeout=5,
        message="the customer known to opportunities")
    assert opened.status_code == 201, opened
