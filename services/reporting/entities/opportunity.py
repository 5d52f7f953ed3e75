"""Opportunities in the read models, from opportunity.* events (events.opportunity:
every one carries the opportunity's snapshot; won and lost add what closed it)."""
from __future__ import annotations

from services.reporting import periods
from services.reporting.counters import (FORECAST, FUNNEL, NO_BUCKET, NOW, PERF, VALUE,
                                         WINLOSS, Vector, add, add_member, segment_of)
from services.reporting.entities.state import first_day, reach, set_field
from services.reporting.fields import (as_date, cents, clean_reason, local_day,
                                       probability_bp)
from services.reporting.pipeline import stage_order, stage_probability_bp

# opportunity.* events about its figures (a follow-up plan changes none)
EVENTS = frozenset({"opportunity.created", "opportunity.updated",
                    "opportunity.stage_changed", "opportunity.won", "opportunity.lost",
                    "opportunity.assigned", "opportunity.reminder_set"})
SNAPSHOT_FIELDS = ("name", "customer_id", "currency", "stage", "status", "owner_id",
                   "region", "owner_team", "owner_region")


def entity_id(data: dict) -> str:
    return data["opportunity_id"]


def apply(state: dict, envelope: dict, key: str, tz) -> None:
    etype, data = envelope["type"], envelope["data"]
    for name in SNAPSHOT_FIELDS:
        set_field(state, name, data[name], key)
    set_field(state, "amount", cents(data["amount"]), key)
    set_field(state, "probability_bp", probability_bp(data["probability"]), key)
    set_field(state, "expected_close_date", local_day(data["expected_close_date"], tz), key)
    set_field(state, "created_on", local_day(data["created_at"], tz), key)
    reach(state, data["stage"])
    if etype == "opportunity.created":
        set_field(state, "created", True, key)
    elif etype == "opportunity.stage_changed":
        reach(state, data["from_stage"], data["to_stage"])
    elif etype == "opportunity.won":
        set_field(state, "won_amount", cents(data["won_amount"]), key)
        set_field(state, "closed_on", local_day(data["signed_on"], tz), key)
    elif etype == "opportunity.lost":
        set_field(state, "lost_reason", clean_reason(data["reason"]), key)
        set_field(state, "closed_on", local_day(data["closed_at"], tz), key)


def segment(state: dict) -> str:
    return segment_of(state["f"].get("owner_id"), state["f"].get("region"))


def hint(state: dict) -> dict:
    return {"team": state["f"].get("owner_team"), "region": state["f"].get("owner_region")}


def contributions(state: dict, pipeline: dict) -> Vector:
    f = state["f"]
    vec: Vector = {}
    segment_ = segment(state)
    status = f.get("status") or "open"
    amount = f.get("amount") or 0
    stage = f.get("stage")
    # an opportunity whose creation event has not arrived yet still counts, dated by the
    # first event seen; the creation event re-dates it (the diff moves the counts)
    created = as_date(f.get("created_on") or first_day(state))
    created_buckets = periods.date_buckets(created) if created else ()

    if status == "open":
        prob = f.get("probability_bp")
        if prob is None or state["t"].get("probability_bp", "") < state["t"].get("stage", ""):
            prob = stage_probability_bp(pipeline, stage)
        weighted = amount * prob
        add(vec, NOW, segment_, [NO_BUCKET], "opps_open")
        add(vec, NOW, segment_, [NO_BUCKET], "open_cents", amount)
        if stage:
            add(vec, FUNNEL, segment_, created_buckets, f"open:n:{stage}")
            add(vec, FUNNEL, segment_, created_buckets, f"open:c:{stage}", amount)
            add(vec, FUNNEL, segment_, created_buckets, f"open:w:{stage}", weighted)
        close = as_date(f.get("expected_close_date"))
        if close:
            bucket = [periods.month_bucket(close)]
            add(vec, FORECAST, segment_, bucket, "n")
            add(vec, FORECAST, segment_, bucket, "c", amount)
            add(vec, FORECAST, segment_, bucket, "w", weighted)

    # stage conversion: reached a stage = was in it, or in a later one, or won
    order = stage_order(pipeline)
    known = [s for s in state.get("reached") or [] if s in order]
    furthest = max((order.index(s) for s in known), default=-1)
    for index, name in enumerate(order):
        if status == "won" or index <= furthest:
            add(vec, FUNNEL, segment_, created_buckets, f"reach:{name}")
        if status == "won" or index < furthest:
            add(vec, FUNNEL, segment_, created_buckets, f"pass:{name}")

    closed = as_date(f.get("closed_on"))
    cycle = max((closed - created).days, 0) if closed and created else 0
    closed_buckets = periods.date_buckets(closed) if closed else ()
    if status == "won":
        _won(vec, f, segment_, amount, created_buckets, closed, closed_buckets, cycle)
    elif status == "lost":
        reason = f.get("lost_reason") or "-"
        add(vec, FUNNEL, segment_, created_buckets, "lost:n")
        add(vec, FUNNEL, segment_, created_buckets, "lost:c", amount)
        add(vec, WINLOSS, segment_, closed_buckets, "lost:n")
        add(vec, WINLOSS, segment_, closed_buckets, "lost:c", amount)
        add(vec, WINLOSS, segment_, closed_buckets, "lost:days", cycle)
        add(vec, WINLOSS, segment_, closed_buckets, f"r:n:{reason}")
        add(vec, WINLOSS, segment_, closed_buckets, f"r:c:{reason}", amount)
    return vec


def _won(vec, f, segment_, amount, created_buckets, closed, closed_buckets, cycle) -> None:
    won = f.get("won_amount")
    won = amount if won is None else won
    add(vec, NOW, segment_, [NO_BUCKET], "won_cents", won)
    add(vec, FUNNEL, segment_, created_buckets, "won:n")
    add(vec, FUNNEL, segment_, created_buckets, "won:c", won)
    add(vec, WINLOSS, segment_, closed_buckets, "won:n")
    add(vec, WINLOSS, segment_, closed_buckets, "won:c", won)
    add(vec, WINLOSS, segment_, closed_buckets, "won:days", cycle)
    if closed:
        add(vec, PERF, segment_, periods.period_buckets(closed), "won_n")
        add(vec, PERF, segment_, periods.period_buckets(closed), "won_c", won)
    customer = f.get("customer_id")
    if customer:
        # the customer's value as its winners' figures: "<what>|<customer>[|<day>]"
        add(vec, VALUE, segment_, [NO_BUCKET], f"deals|{customer}")
        add(vec, VALUE, segment_, [NO_BUCKET], f"c|{customer}", won)
        if closed:
            add(vec, VALUE, segment_, [NO_BUCKET], f"on|{customer}|{closed.isoformat()}")
            add_member(vec, PERF, segment_, periods.period_buckets(closed), "converted",
                       customer)
