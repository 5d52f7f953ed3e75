"""Events as the producers send them, for tests that publish events themselves.

A test states what matters to it; `event_data` completes the rest of the snapshot and
the event's own required fields, then checks the whole against the event's schema (the
`events` package) as strictly as the producers do: consumers park what it refuses.
`envelope` wraps that in the producers' own envelope (`crmkit.events.make_envelope`):
the one way tests build an envelope of a system event.
"""
from __future__ import annotations

import itertools
from datetime import datetime

from crmkit.clock import isoformat, utcnow
from crmkit.events import DomainEvent, make_envelope, registry
import events  # noqa: F401  (registers every event's schema)
from services.tasks.domain import CUSTOMER_WORK_TYPES

_versions = itertools.count(1)   # made later = happened later, as at the producers


def _customer(data: dict) -> dict:
    customer_id = data.get("customer_id") or data.get("id") or "cust-x"
    return {"customer_id": customer_id, "id": customer_id, "number": "CRM202611230001",
            "name": "测试客户", "industry": "制造业", "status": "potential", "level": None,
            "source": None, "tags": [], "region": "east", "owner_id": None,
            "owner_team": None, "owner_region": None, "owner_name": None, "shared_with": [],
            "deal_amount": "0.00", "currency": "CNY", "last_deal_on": None,
            "last_followup_at": None, "created_by": data.get("owner_id") or "admin",
            "created_at": isoformat(utcnow()), "version": next(_versions)}


def _opportunity(data: dict) -> dict:
    now = isoformat(utcnow())
    return {"opportunity_id": "opp-x", "name": "测试商机", "customer_id": "cust-x",
            "owner_id": None, "owner_team": None, "owner_region": None, "region": "east",
            "stage": "lead", "status": "open", "amount": "0.00", "currency": "CNY",
            "probability": 10, "expected_close_date": "2026-12-31", "created_at": now,
            "stage_changed_at": now, "closed_at": None, "won": None, "lost": None,
            "version": next(_versions)}


def _task(data: dict) -> dict:
    return {"task_id": "task-x", "type": "call", "title": "测试任务", "status": "todo",
            "priority": "medium", "assignee_id": None, "created_by": "admin",
            "customer_ids": [], "due_at": isoformat(utcnow()), "version": next(_versions)}


SNAPSHOTS = {"customer": _customer, "opportunity": _opportunity, "task": _task}

# each event's own required fields, from what the test gave
EXTRAS = {
    "customer.created": lambda d: {"in_pool": d.get("owner_id") is None},
    "customer.updated": lambda d: {"changes": {}, "reason": "edited"},
    "customer.claimed": lambda d: {"previous_owner_id": None},
    "customer.assigned": lambda d: {"previous_owner_id": None},
    "customer.returned": lambda d: {"previous_owner_id": None, "reason": None,
                                    "auto": False},
    "customer.recovered": lambda d: {"previous_owner_id": None, "reason": None},
    "customer.shared": lambda d: {"user_ids": []},
    "customer.unshared": lambda d: {"user_ids": []},
    "opportunity.created": lambda d: {"created_by": d.get("owner_id") or "admin"},
    "opportunity.won": lambda d: {"from_stage": "contract", "stage": "won", "status": "won",
                                  "won_amount": d.get("amount", "0.00"),
                                  "contract_number": "HT-001", "signed_on": "2026-11-20",
                                  "closed_at": isoformat(utcnow()), "probability": 100},
    "task.completed": lambda d: {
        "status": "done", "completed_at": isoformat(utcnow()), "result": "完成",
        "counts_as_followup": (d.get("type", "call") in CUSTOMER_WORK_TYPES
                               and bool(d.get("customer_ids")))},
}


def event_data(event_type: str, data: dict) -> dict:
    """`data` completed as its producer would send it, and checked against its schema."""
    snapshot = SNAPSHOTS.get(event_type.split(".")[0], lambda d: {})(data)
    full = {**snapshot, **EXTRAS.get(event_type, lambda d: {})(data), **data}
    problems = registry.get(event_type, 1).validator.validate(full)
    assert not problems, f"{event_type}: {problems}"
    return full


def envelope(event_type: str, data: dict, *, aggregate_id: str, actor_id: str | None = None,
             producer: str | None = None, region: str | None = "east",
             event_id: str | None = None, occurred_at: datetime | str | None = None,
             correlation_id: str | None = None) -> dict:
    """The envelope of `event_type` with `data` completed (`event_data`), built by the
    producers' own `make_envelope` (the producer is the schema's unless given). A test
    may fix the id (a redelivery: the same id again) or the time (an ordering)."""
    built = make_envelope(DomainEvent(event_type, aggregate_id, event_data(event_type, data),
                                      region=region),
                          producer=producer or registry.latest(event_type).producer,
                          actor_id=actor_id, correlation_id=correlation_id)
    if event_id is not None:
        built["id"] = event_id
    if occurred_at is not None:
        built["occurred_at"] = (occurred_at if isinstance(occurred_at, str)
                                else isoformat(occurred_at))
    return built
