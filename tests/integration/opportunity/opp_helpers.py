"""Helpers for the opportunity integration tests (system fixture, real RabbitMQ)."""
from __future__ import annotations

import itertools
import uuid
from datetime import date, datetime, timedelta, timezone

from crm_testing import eventually
from event_data import envelope

_names = itertools.count(1)
OPPS = "/api/v1/opportunities"


def new_customer(session, *, in_pool=False, **extra) -> dict:
    body = {"name": f"测试客户{next(_names)}号{uuid.uuid4().hex[:6]}有限公司",
            "industry": "制造业", "status": "potential",
            "primary_contact": {"name": "王经理", "phone": "13812345678"}, **extra}
    if in_pool:
        body["in_pool"] = True
    reply = session.post("/api/v1/customers", json=body)
    assert reply.status_code == 201, reply
    return reply.json


def opportunity_body(customer_id: str, **extra) -> dict:
    return {"name": "A公司2026年设备采购项目", "customer_id": customer_id,
            "amount": "120000.50", "expected_close_date": "2026-12-31", **extra}


def open_when_known(session, customer_id: str, timeout: float = 5.0, **extra) -> dict:
    """Create an opportunity as soon as the service has the customer's event (polls
    with a deadline; 422 unknown_customer until then)."""
    body = opportunity_body(customer_id, **extra)

    def attempt():
        reply = session.post(OPPS, json=body)
        if reply.status_code == 422 and reply.json.get("code") == "unknown_customer":
            return None
        return reply

    reply = eventually(attempt, timeout=timeout, message="customer known to opportunities")
    assert reply.status_code == 201, reply
    return reply.json


def future(days: float = 3, hours: float = 0) -> str:
    moment = datetime.now(timezone.utc) + timedelta(days=days, hours=hours)
    return moment.replace(microsecond=0).isoformat()


def today() -> str:
    return date.today().isoformat()


def customer_event(kind: str, customer_id: str, *, owner=None, shared=(), region="east",
                   name="外部事件客户", actor_id=None, **extra) -> dict:
    """An envelope as the customer service publishes it (snapshot in `data`)."""
    return envelope(f"customer.{kind}", {
        "customer_id": customer_id, "name": name, "region": region,
        "owner_id": owner.id if owner else None,
        "owner_team": owner.user.get("team") if owner else None,
        "owner_region": owner.user.get("region") if owner else None,
        "shared_with": list(shared), **extra},
        aggregate_id=customer_id, actor_id=actor_id or (owner.id if owner else None),
        region=region, correlation_id=uuid.uuid4().hex)

