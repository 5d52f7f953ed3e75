"""Follow-ups in the read models, from interaction.logged, corrected by
interaction.updated and taken out by interaction.deleted (events.customer)."""
from __future__ import annotations

from services.reporting import periods
from services.reporting.counters import PERF, Vector, add, add_member, owner_segment
from services.reporting.entities.state import set_field
from services.reporting.fields import as_date, local_day

EVENTS = frozenset({"interaction.logged", "interaction.updated", "interaction.deleted"})


def entity_id(data: dict) -> str:
    return data["interaction_id"]


def apply(state: dict, envelope: dict, key: str, tz) -> None:
    data = envelope["data"]
    if envelope["type"] == "interaction.deleted":
        # final: a logged or updated event arriving late does not bring it back
        state["f"]["deleted"] = True
        set_field(state, "author_id", data["created_by"], key)
        return
    set_field(state, "customer_id", data["customer_id"], key)
    set_field(state, "method", data["method"], key)
    set_field(state, "author_id", data["created_by"], key)
    set_field(state, "occurred_on", local_day(data["occurred_at"], tz), key)


def contributions(state: dict, pipeline: dict) -> Vector:
    f = state["f"]
    vec: Vector = {}
    day = as_date(f.get("occurred_on"))
    if not day or f.get("deleted"):
        return vec
    segment_ = segment(state)
    buckets = periods.period_buckets(day)
    add(vec, PERF, segment_, buckets, "interactions")
    add(vec, PERF, segment_, buckets, f"int:{f.get('method') or 'other'}")
    if f.get("customer_id"):
        add_member(vec, PERF, segment_, buckets, "touched", f["customer_id"])
    return vec


def segment(state: dict) -> str:
    """The author's: whoever logged a follow-up did the work (always a user)."""
    return owner_segment(state["f"]["author_id"])


def hint(state: dict) -> dict:
    return {}  # the event names the customer owner's team, not the author's
