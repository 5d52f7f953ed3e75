"""How events change the reporting read models: pure functions over plain dicts.

The scheme ("contribution diffing"), chosen so that duplicates and out-of-order delivery
end in exactly the figures of in-order processing:

1. Every event touches one *entity* (a customer, opportunity, interaction or task). Its
   state is a plain dict holding the latest-known value of each field together with the
   order key `[occurred_at (UTC), aggregate version, event id]` of the event that set it.
   A field only moves forward (last writer wins by order key); the set of stages an
   opportunity ever reached only grows. So applying events in any order, or one event
   twice, yields the same final state.
2. `contributions(state)` says what that entity adds to the pre-aggregated counters
   *now*: a flat vector `{key: int}`. Keys are
   `("c", kind, segment, bucket, field)` for additive counters and
   `("m", kind, segment, bucket, field, member)` for distinct counts (a member's reference
   count; the store bumps `field` by one when a member appears and drops it when the
   last reference goes).
3. The state remembers the vector it last applied. Applying an event stores
   `contributions(new) - applied` into the counters. An entity therefore always
   contributes exactly its current picture, wherever it used to count (owner changes,
   stage moves, corrected amounts, a creation event arriving late).

Counters are grouped by *segment*: `u:<user id>` for an owner, `p:<region>` for records
with no owner (the pool). A segment's team and region are looked up at query time in the
directory built from `user.*` events, so figures follow a person who changes team, and a
report costs in proportion to segments x buckets, never to events.

Money is integer cents; weighted amounts are cents x basis points (exact integers).
Dates are local dates in the organisation's time zone, passed in as `tz`.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Protocol

from crmkit.bus.ordering import order_key, parse_instant, utc_text
from crmkit.clock import org_timezone
from crmkit.money import to_cents
from services.reporting import periods

# --- the pipeline ---------------------------------------------------------------------

DEFAULT_PIPELINE = {
    "stages": [
        {"key": "lead", "zh": "线索获取", "en": "Lead", "probability": 10, "order": 1},
        {"key": "needs_analysis", "zh": "需求分析", "en": "Needs analysis",
         "probability": 25, "order": 2},
        {"key": "proposal", "zh": "方案提交", "en": "Proposal", "probability": 50, "order": 3},
        {"key": "negotiation", "zh": "商务谈判", "en": "Negotiation", "probability": 75,
         "order": 4},
        {"key": "contract", "zh": "合同签订", "en": "Contract", "probability": 90, "order": 5},
    ],
}

OPEN_TASK_STATUSES = ("todo", "in_progress")
SEEN_KEEP = 16  # recent event ids kept per entity: a cheap second line against duplicates

# counter kinds
NOW = "now"            # current state per segment, bucket "-"
FUNNEL = "funnel"      # opportunities by created date (D/M/Y/A buckets)
FORECAST = "forecast"  # open opportunities by expected close month
PERF = "perf"          # per month/quarter/year: wins, new customers, follow-ups, tasks,
                       # and distinct customers touched / converted
WINLOSS = "winloss"    # closed opportunities by close date (D/M/Y/A)
VALUE = "value"        # per owner (bucket "-"): each customer's deals, for ABC / RFM
NO_BUCKET = "-"


def stage_order(pipeline: dict) -> list[str]:
    stages = sorted(pipeline.get("stages") or [], key=lambda s: (s.get("order", 0), s["key"]))
    return [s["key"] for s in stages]


def stage_probability_bp(pipeline: dict, stage: str | None) -> int:
    for s in pipeline.get("stages") or []:
        if s["key"] == stage:
            return probability_bp(s.get("probability")) or 0
    return 0


def probability_bp(value) -> int | None:
    """Probability in percent (10, "25", 12.5) -> basis points (integer, exact)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        pct = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    if not pct.is_finite():
        return None
    return int((min(max(pct, Decimal(0)), Decimal(100)) * 100).to_integral_value())


# --- small parsing helpers (tolerant: events come from other services) -----------------

def local_day(value, tz) -> str | None:
    """An instant (or a plain date) as the local date 'YYYY-MM-DD' in `tz`."""
    if value is None or value == "":
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    if len(text) == 10:
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            return None
    moment = parse_instant(value)
    return moment.astimezone(tz).date().isoformat() if moment else None


def cents(value) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        value = repr(value)
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    if not amount.is_finite():
        return None
    return to_cents(amount)


def as_date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def clean_reason(text) -> str:
    words = " ".join(str(text or "").split())
    return words[:200] if words else "-"


# --- segments ---------------------------------------------------------------------------

def owner_segment(user_id: str) -> str:
    return f"u:{user_id}"


def pool_segment(region: str | None) -> str:
    return f"p:{region or ''}"


def segment_of(owner_id, region) -> str:
    return owner_segment(owner_id) if owner_id else pool_segment(region)


# --- entity state -----------------------------------------------------------------------

def new_state(entity_type: str, entity_id: str) -> dict:
    return {"_id": f"{entity_type}:{entity_id}", "type": entity_type, "id": entity_id,
            "f": {}, "t": {}, "reached": [], "first": None, "seen": [], "applied": []}


def _set(state: dict, field: str, value, key: str) -> None:
    """Last writer wins by order key; an equal key (the same event again) is a no-op."""
    current = state["t"].get(field)
    if current is None or key >= current:
        state["f"][field] = value
        state["t"][field] = key


def _reach(state: dict, *stages) -> None:
    for stage in stages:
        if stage and stage not in state["reached"]:
            state["reached"].append(stage)
    state["reached"].sort()


def _snapshot(data: dict, nested: str) -> dict:
    """The fields an event states: flat, a nested entity, or `changes: {f: [old, new]}`."""
    found: dict[str, Any] = {}
    inner = data.get(nested)
    if isinstance(inner, dict):
        found.update(inner)
    for name, value in data.items():
        if name not in ("changes", nested):
            found[name] = value
    changes = data.get("changes")
    if isinstance(changes, dict):
        for name, change in changes.items():
            if isinstance(change, (list, tuple)) and len(change) == 2:
                found[name] = change[1]
            elif isinstance(change, dict) and "new" in change:
                found[name] = change["new"]
    return found


def entity_ref(envelope: dict) -> tuple[str, str] | None:
    """Which read-model entity an event is about (None: no figure depends on it)."""
    etype = str(envelope.get("type") or "")
    data = envelope.get("data") or {}
    family = etype.split(".", 1)[0]
    if family == "customer" and etype not in ("customer.reclaim_warning",
                                              "customer.shared", "customer.unshared"):
        entity_id = envelope.get("aggregate_id") or data.get("id") or data.get("customer_id")
        return ("customer", str(entity_id)) if entity_id else None
    if family == "opportunity" and etype != "opportunity.followup_planned":
        entity_id = envelope.get("aggregate_id") or data.get("id")
        return ("opportunity", str(entity_id)) if entity_id else None
    if etype == "interaction.logged":
        entity_id = (data.get("id") or data.get("interaction_id")
                     or (data.get("interaction") or {}).get("id") or envelope.get("id"))
        return ("interaction", str(entity_id)) if entity_id else None
    if family == "task":
        entity_id = envelope.get("aggregate_id") or data.get("id") or data.get("task_id")
        return ("task", str(entity_id)) if entity_id else None
    return None


def apply_event(state: dict, envelope: dict, tz=None) -> dict:
    """The entity's state after `envelope` (a new dict; the input is not changed)."""
    tz = tz or org_timezone()
    event_id = str(envelope.get("id") or "")
    if event_id and event_id in state.get("seen", ()):
        return state
    state = {**state, "f": dict(state["f"]), "t": dict(state["t"]),
             "reached": list(state.get("reached") or []),
             "seen": (list(state.get("seen") or []) + [event_id])[-SEEN_KEEP:]}
    occurred = utc_text(envelope.get("occurred_at"))
    key = order_key(envelope, creation=str(envelope.get("type", "")).endswith(".created"))
    if occurred and (state.get("first") is None or occurred < state["first"]):
        state["first"] = occurred
    apply = _APPLIERS[state["type"]]
    apply(state, envelope, key, tz)
    return state


_OPPORTUNITY_FIELDS = ("name", "customer_id", "currency", "expected_close_date", "stage",
                       "status", "owner_id", "region", "owner_team", "owner_region")


def _apply_opportunity(state, envelope, key, tz):
    etype = envelope["type"]
    data = envelope.get("data") or {}
    snap = _snapshot(data, "opportunity")
    for name in _OPPORTUNITY_FIELDS:
        if name in snap:
            _set(state, name, snap[name], key)
    if "amount" in snap and etype != "opportunity.won" and cents(snap["amount"]) is not None:
        _set(state, "amount", cents(snap["amount"]), key)
    if "probability" in snap and probability_bp(snap["probability"]) is not None:
        _set(state, "probability_bp", probability_bp(snap["probability"]), key)
    if "expected_close_date" in snap:
        _set(state, "expected_close_date", local_day(snap["expected_close_date"], tz), key)
    if snap.get("stage"):
        _reach(state, snap["stage"])
    if snap.get("created_at"):  # producers' snapshots say it on every event
        _set(state, "created_on", local_day(snap["created_at"], tz), key)

    if etype == "opportunity.created":
        _set(state, "created", True, key)
        created = local_day(snap.get("created_at") or envelope.get("occurred_at"), tz)
        _set(state, "created_on", created, key)
        if not snap.get("status"):
            _set(state, "status", "open", key)
    elif etype == "opportunity.stage_changed":
        to_stage = data.get("to") or data.get("to_stage") or data.get("stage")
        from_stage = data.get("from") or data.get("from_stage")
        if to_stage:
            _set(state, "stage", to_stage, key)
        _reach(state, from_stage, to_stage)
    elif etype == "opportunity.won":
        won = data.get("won") if isinstance(data.get("won"), dict) else data
        _set(state, "status", "won", key)
        amount = cents(won.get("won_amount", won.get("amount")))
        if amount is not None:
            _set(state, "won_amount", amount, key)
        on = local_day(won.get("signed_on") or envelope.get("occurred_at"), tz)
        _set(state, "closed_on", on, key)
    elif etype == "opportunity.lost":
        lost = data.get("lost") if isinstance(data.get("lost"), dict) else data
        _set(state, "status", "lost", key)
        _set(state, "lost_reason", clean_reason(lost.get("reason")), key)
        on = local_day(lost.get("lost_on") or lost.get("closed_at")
                       or envelope.get("occurred_at"), tz)
        _set(state, "closed_on", on, key)
    elif etype == "opportunity.assigned":
        owner = _new_owner(data)
        if owner is not _MISSING:
            _set(state, "owner_id", owner, key)


_MISSING = object()


def _new_owner(data: dict):
    for name in ("owner_id", "to_owner_id", "new_owner_id", "user_id", "to"):
        if name in data:
            return data[name] or None
    return _MISSING


_CUSTOMER_FIELDS = ("name", "status", "region", "level", "industry", "owner_team",
                    "owner_region")


def _apply_customer(state, envelope, key, tz):
    etype = envelope["type"]
    data = envelope.get("data") or {}
    snap = _snapshot(data, "customer")
    for name in _CUSTOMER_FIELDS:
        if name in snap:
            _set(state, name, snap[name], key)
    if "owner_id" in snap:
        _set(state, "owner_id", snap["owner_id"] or None, key)
    if etype == "customer.created":
        _set(state, "created", True, key)
        _set(state, "created_on",
             local_day(snap.get("created_at") or envelope.get("occurred_at"), tz), key)
        # who brought the customer in: its owner at creation (None: created into the pool)
        _set(state, "creation_owner", snap.get("owner_id") or None, key)
    elif etype == "customer.claimed":
        owner = _new_owner(data)
        _set(state, "owner_id",
             envelope.get("actor_id") if owner in (_MISSING, None) else owner, key)
    elif etype == "customer.returned":
        _set(state, "owner_id", None, key)
    elif etype in ("customer.recovered", "customer.assigned"):
        owner = _new_owner(data)
        _set(state, "owner_id", None if owner is _MISSING else owner, key)
    elif etype == "customer.deleted":
        _set(state, "deleted", True, key)


def _apply_interaction(state, envelope, key, tz):
    data = envelope.get("data") or {}
    snap = _snapshot(data, "interaction")
    _set(state, "customer_id", snap.get("customer_id") or envelope.get("aggregate_id"), key)
    _set(state, "method", snap.get("method") or "other", key)
    author = (snap.get("logged_by") or snap.get("created_by") or snap.get("author_id")
              or snap.get("user_id") or envelope.get("actor_id"))
    _set(state, "author_id", author, key)
    _set(state, "occurred_on",
         local_day(snap.get("occurred_at") or envelope.get("occurred_at"), tz), key)
    if snap.get("region") or envelope.get("region"):
        _set(state, "region", snap.get("region") or envelope.get("region"), key)


def _apply_task(state, envelope, key, tz):
    etype = envelope["type"]
    data = envelope.get("data") or {}
    snap = _snapshot(data, "task")
    if "assignee_id" in snap:
        _set(state, "assignee_id", snap["assignee_id"] or None, key)
    elif etype == "task.assigned":
        owner = _new_owner(data)
        if owner is not _MISSING:
            _set(state, "assignee_id", owner, key)
    # the region whose task pool holds it while unassigned (CONTRACT §3: supervisors and
    # up of that region only; without it the task counted in every region's pool)
    if snap.get("region") or envelope.get("region"):
        _set(state, "region", snap.get("region") or envelope.get("region"), key)
    status = snap.get("status") or (data.get("to") if etype == "task.status_changed" else None)
    if etype == "task.completed":
        status = "done"
    if etype == "task.created":
        _set(state, "created", True, key)
        status = status or "todo"
    if status:
        _set(state, "status", status, key)
        if status == "done":
            _set(state, "completed_on",
                 local_day(snap.get("completed_at") or envelope.get("occurred_at"), tz), key)


_APPLIERS = {
    "opportunity": _apply_opportunity,
    "customer": _apply_customer,
    "interaction": _apply_interaction,
    "task": _apply_task,
}


# --- contributions ----------------------------------------------------------------------

Vector = dict  # {("c", kind, segment, bucket, field) | ("m", ..., member): int}


def _add(vec: Vector, kind: str, segment: str, buckets: Iterable[str], field: str,
         amount: int = 1) -> None:
    if not amount:
        return
    for bucket in buckets:
        key = ("c", kind, segment, bucket, field)
        vec[key] = vec.get(key, 0) + amount


def _member(vec: Vector, kind: str, segment: str, buckets: Iterable[str], field: str,
            member: str) -> None:
    for bucket in buckets:
        key = ("m", kind, segment, bucket, field, member)
        vec[key] = vec.get(key, 0) + 1


def contributions(state: dict, pipeline: dict | None = None) -> Vector:
    """What an entity adds to the counters, given everything known about it now."""
    pipeline = pipeline or DEFAULT_PIPELINE
    return _CONTRIBUTORS[state["type"]](state, pipeline)


def _first_day(state) -> str | None:
    return state.get("first", "")[:10] if state.get("first") else None


def _opportunity_contrib(state, pipeline) -> Vector:
    f = state["f"]
    vec: Vector = {}
    segment = segment_of(f.get("owner_id"), f.get("region"))
    status = f.get("status") or "open"
    amount = f.get("amount") or 0
    stage = f.get("stage")
    # an opportunity whose creation event has not arrived yet still counts, dated by the
    # first event seen; the creation event re-dates it (the diff moves the counts)
    created = as_date(f.get("created_on") or _first_day(state))
    created_buckets = periods.date_buckets(created) if created else ()

    if status == "open":
        prob = f.get("probability_bp")
        if prob is None or state["t"].get("probability_bp", "") < state["t"].get("stage", ""):
            prob = stage_probability_bp(pipeline, stage)
        weighted = amount * prob
        _add(vec, NOW, segment, [NO_BUCKET], "opps_open")
        _add(vec, NOW, segment, [NO_BUCKET], "open_cents", amount)
        if stage:
            _add(vec, FUNNEL, segment, created_buckets, f"open:n:{stage}")
            _add(vec, FUNNEL, segment, created_buckets, f"open:c:{stage}", amount)
            _add(vec, FUNNEL, segment, created_buckets, f"open:w:{stage}", weighted)
        close = as_date(f.get("expected_close_date"))
        if close:
            bucket = [periods.month_bucket(close)]
            _add(vec, FORECAST, segment, bucket, "n")
            _add(vec, FORECAST, segment, bucket, "c", amount)
            _add(vec, FORECAST, segment, bucket, "w", weighted)

    # stage conversion: reached a stage = was in it, or in a later one, or won
    order = stage_order(pipeline)
    known = [s for s in state.get("reached") or [] if s in order]
    furthest = max((order.index(s) for s in known), default=-1)
    for index, name in enumerate(order):
        if status == "won" or index <= furthest:
            _add(vec, FUNNEL, segment, created_buckets, f"reach:{name}")
        if status == "won" or index < furthest:
            _add(vec, FUNNEL, segment, created_buckets, f"pass:{name}")

    closed = as_date(f.get("closed_on"))
    cycle = max((closed - created).days, 0) if closed and created else 0
    closed_buckets = periods.date_buckets(closed) if closed else ()
    if status == "won":
        won = f.get("won_amount")
        won = amount if won is None else won
        _add(vec, NOW, segment, [NO_BUCKET], "won_cents", won)
        _add(vec, FUNNEL, segment, created_buckets, "won:n")
        _add(vec, FUNNEL, segment, created_buckets, "won:c", won)
        _add(vec, WINLOSS, segment, closed_buckets, "won:n")
        _add(vec, WINLOSS, segment, closed_buckets, "won:c", won)
        _add(vec, WINLOSS, segment, closed_buckets, "won:days", cycle)
        if closed:
            _add(vec, PERF, segment, periods.period_buckets(closed), "won_n")
            _add(vec, PERF, segment, periods.period_buckets(closed), "won_c", won)
        customer = f.get("customer_id")
        if customer:
            # the customer's value as its winners' figures: "<what>|<customer>[|<day>]"
            _add(vec, VALUE, segment, [NO_BUCKET], f"deals|{customer}")
            _add(vec, VALUE, segment, [NO_BUCKET], f"c|{customer}", won)
            if closed:
                _add(vec, VALUE, segment, [NO_BUCKET], f"on|{customer}|{closed.isoformat()}")
                _member(vec, PERF, segment, periods.period_buckets(closed), "converted",
                        customer)
    elif status == "lost":
        reason = f.get("lost_reason") or "-"
        _add(vec, FUNNEL, segment, created_buckets, "lost:n")
        _add(vec, FUNNEL, segment, created_buckets, "lost:c", amount)
        _add(vec, WINLOSS, segment, closed_buckets, "lost:n")
        _add(vec, WINLOSS, segment, closed_buckets, "lost:c", amount)
        _add(vec, WINLOSS, segment, closed_buckets, "lost:days", cycle)
        _add(vec, WINLOSS, segment, closed_buckets, f"r:n:{reason}")
        _add(vec, WINLOSS, segment, closed_buckets, f"r:c:{reason}", amount)
    return vec


def _customer_contrib(state, pipeline) -> Vector:
    f = state["f"]
    vec: Vector = {}
    if f.get("deleted"):
        return vec
    owner = f.get("owner_id")
    segment = segment_of(owner, f.get("region"))
    _add(vec, NOW, segment, [NO_BUCKET], "customers" if owner else "pool_customers")
    created = as_date(f.get("created_on"))
    if f.get("created") and created:
        creator = segment_of(f.get("creation_owner"), f.get("region"))
        _add(vec, PERF, creator, periods.period_buckets(created), "new_customers")
    return vec


def _interaction_contrib(state, pipeline) -> Vector:
    f = state["f"]
    vec: Vector = {}
    day = as_date(f.get("occurred_on"))
    if not day:
        return vec
    segment = segment_of(f.get("author_id"), f.get("region"))
    buckets = periods.period_buckets(day)
    _add(vec, PERF, segment, buckets, "interactions")
    _add(vec, PERF, segment, buckets, f"int:{f.get('method') or 'other'}")
    if f.get("customer_id"):
        _member(vec, PERF, segment, buckets, "touched", f["customer_id"])
    return vec


def _task_contrib(state, pipeline) -> Vector:
    f = state["f"]
    vec: Vector = {}
    segment = segment_of(f.get("assignee_id"), f.get("region"))
    status = f.get("status") or "todo"
    if status in OPEN_TASK_STATUSES:
        _add(vec, NOW, segment, [NO_BUCKET], "tasks_open")
    day = as_date(f.get("completed_on"))
    if status == "done" and day:
        _add(vec, PERF, segment, periods.period_buckets(day), "tasks_done")
    return vec


_CONTRIBUTORS = {
    "opportunity": _opportunity_contrib,
    "customer": _customer_contrib,
    "interaction": _interaction_contrib,
    "task": _task_contrib,
}


def diff(new: Vector, old: Vector) -> Vector:
    """What to add to the counters to go from contributing `old` to contributing `new`."""
    delta = {}
    for key in new.keys() | old.keys():
        change = new.get(key, 0) - old.get(key, 0)
        if change:
            delta[key] = change
    return delta


def to_rows(vec: Vector) -> list[list]:
    """A vector as JSON/Mongo-friendly rows (keys may hold any text)."""
    return [list(key) + [n] for key, n in sorted(vec.items()) if n]


def from_rows(rows) -> Vector:
    if isinstance(rows, str):
        rows = json.loads(rows)
    return {tuple(row[:-1]): row[-1] for row in rows or ()}


def pack(vec: Vector) -> str:
    """A vector as one JSON text: what an entity state stores as `applied` (one string
    is cheap to store and copy, however many counters the entity feeds)."""
    return json.dumps(to_rows(vec), ensure_ascii=False, separators=(",", ":"))


def segments_in(vec: Vector) -> set[str]:
    return {key[2] for key in vec}


# --- the directory: who a segment is (from user.* events, or hints until then) ---------

def directory_entry(segment: str) -> dict:
    entry = {"_id": segment, "owner_id": None, "name": None, "team": None, "region": None,
             "role": None, "active": True, "source": "hint", "k": None}
    if segment.startswith("p:"):
        entry["region"] = segment[2:] or None
        entry["source"] = "pool"
    else:
        entry["owner_id"] = segment[2:]
    return entry


def apply_user_event(entry: dict, envelope: dict) -> dict:
    """A user's name, team, region and role, last writer wins."""
    data = _snapshot(envelope.get("data") or {}, "user")
    key = order_key(envelope)
    entry = dict(entry)
    if entry.get("source") == "user" and entry.get("k") and key < entry["k"]:
        return entry
    for name in ("name", "team", "region", "role", "username"):
        if name in data:
            entry[name] = data[name]
    if "active" in data:
        entry["active"] = bool(data["active"])
    entry["source"] = "user"
    entry["k"] = key
    return entry


def apply_hint(entry: dict, hint: dict, key: str) -> dict:
    """Team/region learnt from a record, used only until the user's own event arrives."""
    if entry.get("source") != "hint":
        return entry
    if entry.get("k") and key < entry["k"]:
        return entry
    changed = {name: value for name, value in hint.items() if value and entry.get(name) != value}
    if not changed:
        return entry
    return {**entry, **changed, "k": key}


def hint_of(state: dict, envelope: dict) -> dict:
    f = state["f"]
    return {"team": f.get("owner_team"),
            "region": f.get("owner_region") or f.get("region") or envelope.get("region")}


def user_id_of(envelope: dict) -> str | None:
    data = envelope.get("data") or {}
    user = data.get("user") if isinstance(data.get("user"), dict) else {}
    return envelope.get("aggregate_id") or data.get("id") or user.get("id")


# --- the projector: the same logic over any store -------------------------------------

class StateConflict(Exception):
    """The entity's state changed between read and write (another consumer thread)."""


class ProjectionStore(Protocol):
    def get_state(self, state_id: str) -> dict | None: ...
    def save_state(self, state: dict, delta: Vector) -> None: ...
    def get_directory(self, segment: str) -> dict | None: ...
    def put_directory(self, entry: dict) -> None: ...
    def get_pipeline(self) -> dict | None: ...
    def put_pipeline(self, pipeline: dict) -> None: ...


class Projector:
    """Feeds events through the pure functions above into a store.

    `store.save_state(state, delta)` must apply `delta` to the counters and save the
    state; the Mongo store makes that safe against a crash in between (see repository).
    """

    retries = 20

    def __init__(self, store: ProjectionStore, tz=None):
        self.store = store
        self.tz = tz or org_timezone()

    def pipeline(self) -> dict:
        return self.store.get_pipeline() or DEFAULT_PIPELINE

    def handle(self, envelope: dict) -> None:
        etype = str(envelope.get("type") or "")
        if etype.startswith("user."):
            self._handle_user(envelope)
            return
        if etype == "pipeline.updated":
            self._handle_pipeline(envelope)
            return
        ref = entity_ref(envelope)
        if ref is None:
            return
        state_id = f"{ref[0]}:{ref[1]}"
        for attempt in range(self.retries):
            try:
                self._project(state_id, ref, envelope)
                return
            except StateConflict:
                if attempt == self.retries - 1:
                    raise

    def _project(self, state_id: str, ref: tuple[str, str], envelope: dict) -> None:
        old = self.store.get_state(state_id) or new_state(*ref)
        new = apply_event(old, envelope, self.tz)
        if new is old:
            return  # seen before
        vec = contributions(new, self.pipeline())
        delta = diff(vec, from_rows(old.get("applied")))
        new["applied"] = pack(vec)
        new["segment"] = _primary_segment(new)
        key = order_key(envelope)
        for segment in sorted(segments_in(vec) | {new["segment"]}):
            existing = self.store.get_directory(segment)
            entry = existing or directory_entry(segment)
            if segment == new["segment"]:
                entry = apply_hint(entry, hint_of(new, envelope), key)
            if existing is None or entry is not existing:
                self.store.put_directory(entry)
        self.store.save_state(new, delta)

    def _handle_user(self, envelope: dict) -> None:
        user_id = user_id_of(envelope)
        if not user_id:
            return
        segment = owner_segment(str(user_id))
        entry = self.store.get_directory(segment) or directory_entry(segment)
        self.store.put_directory(apply_user_event(entry, envelope))

    def _handle_pipeline(self, envelope: dict) -> None:
        data = envelope.get("data") or {}
        stages = data.get("stages")
        if not isinstance(stages, list):
            return
        current = self.store.get_pipeline() or {}
        key = order_key(envelope)
        if current.get("k") and key < current["k"]:
            return
        self.store.put_pipeline({"stages": [dict(s) for s in stages if s.get("key")],
                                 "k": key})


def _primary_segment(state: dict) -> str:
    f = state["f"]
    if state["type"] == "interaction":
        return segment_of(f.get("author_id"), f.get("region"))
    if state["type"] == "task":
        return segment_of(f.get("assignee_id"), f.get("region"))
    return segment_of(f.get("owner_id"), f.get("region"))
