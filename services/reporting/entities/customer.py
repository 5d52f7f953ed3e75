"""Customers in the read models, from customer.* events (events.customer: every one
carries the customer's snapshot)."""
from __future__ import annotations

from services.reporting import periods
from services.reporting.counters import NO_BUCKET, NOW, PERF, Vector, add, segment_of
from services.reporting.entities.state import set_field
from services.reporting.fields import as_date, local_day

# customer.* events about the customer's figures (the others change none)
EVENTS = frozenset({"customer.created", "customer.updated", "customer.claimed",
                    "customer.returned", "customer.recovered", "customer.assigned",
                    "customer.deleted"})
SNAPSHOT_FIELDS = ("name", "status", "region", "level", "industry", "owner_id",
                   "owner_team", "owner_region")


def entity_id(data: dict) -> str:
    return data["customer_id"]


def apply(state: dict, envelope: dict, key: str, tz) -> None:
    data = envelope["data"]
    for name in SNAPSHOT_FIELDS:
        set_field(state, name, data[name], key)
    set_field(state, "created_on", local_day(data["created_at"], tz), key)
    if envelope["type"] == "customer.created":
        set_field(state, "created", True, key)
        # who brought the customer in: its owner at creation (None: created into the pool)
        set_field(state, "creation_owner", data["owner_id"], key)
    elif envelope["type"] == "customer.deleted":
        set_field(state, "deleted", True, key)


def contributions(state: dict, pipeline: dict) -> Vector:
    f = state["f"]
    vec: Vector = {}
    if f.get("deleted"):
        return vec
    owner = f.get("owner_id")
    segment = segment_of(owner, f.get("region"))
    add(vec, NOW, segment, [NO_BUCKET], "customers" if owner else "pool_customers")
    created = as_date(f.get("created_on"))
    if f.get("created") and created:
        creator = segment_of(f.get("creation_owner"), f.get("region"))
        add(vec, PERF, creator, periods.period_buckets(created), "new_customers")
    return vec


def segment(state: dict) -> str:
    return segment_of(state["f"].get("owner_id"), state["f"].get("region"))


def hint(state: dict) -> dict:
    return {"team": state["f"].get("owner_team"), "region": state["f"].get("owner_region")}
