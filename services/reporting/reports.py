"""The reports of CONTRACT §7, computed from the pre-aggregated read models.

Every report first decides which *segments* (owners, and the pool per region) the caller
may see and the filters keep (`access.py`), then reads the counter documents of those
segments, or of the rollups (team, region, organisation) that sum exactly a group of
them (`rollups.py`), for the buckets its date range needs. So its cost follows the
groups it returns, never the number of events seen nor (but grouped by owner) the
number of people.
"""
from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Iterable, Protocol

from crmkit.identity import Identity
from events.customer import METHODS
from services.reporting import periods, rollups, value_models
from services.reporting.access import (Filters, is_pool, target_visible,
                                       visible_entries)
from services.reporting.counters import (FORECAST, FUNNEL, NO_BUCKET, NOW, PERF, VALUE,
                                         WINLOSS)
from services.reporting.figures import money, rate, weighted_money
from services.reporting.pipeline import DEFAULT_PIPELINE, stage_order, stage_probability_bp

GROUP_BYS = ("owner", "team", "region")
FORECAST_PERIODS = ("month", "quarter", "year")
POOL_LABEL = "公海 Pool"
UNASSIGNED_LABEL = "未归属 Unassigned"


class ReadModel(Protocol):
    def list_directory(self, *, fresh: bool = False) -> list[dict]: ...
    def counter_docs(self, kind: str, segments, ranges) -> list[dict]: ...
    def customers(self, customer_ids) -> dict[str, dict]: ...
    def targets(self, scope: str) -> list[dict]: ...
    def get_pipeline(self) -> dict | None: ...
    def value_model_ready(self) -> bool: ...
    def value_ranked(self, low: str, high: str | None, limit: int, *,
                     rows: bool = True) -> list[dict]: ...


def _scope(rm: ReadModel, viewer: Identity, filters: Filters,
           group_by: str | None = None) -> tuple[dict, dict]:
    """(the segments the caller sees and the filters keep, the segments to read for them,
    rollups included, each with the entry its figures are grouped by)."""
    directory = rm.list_directory()
    entries = visible_entries(rm, viewer, filters, directory=directory)
    group_of = None if group_by is None else (lambda entry: group_key(entry, group_by))
    return entries, rollups.plan(directory, entries, group_of)


def _sum_fields(docs: Iterable[dict]) -> dict[str, int]:
    total: dict[str, int] = {}
    for doc in docs:
        for field, n in doc["c"].items():
            total[field] = total.get(field, 0) + n
    return total


def owner_label(entry: dict) -> str:
    return entry.get("name") or entry.get("username") or entry.get("owner_id") or ""


def group_key(entry: dict, group_by: str) -> tuple[str | None, str]:
    """(key, label) of the row a segment's figures go to."""
    if group_by == "region":
        return entry.get("region"), entry.get("region") or UNASSIGNED_LABEL
    if is_pool(entry):
        return None, POOL_LABEL
    if group_by == "team":
        return entry.get("team"), entry.get("team") or UNASSIGNED_LABEL
    return entry.get("owner_id"), owner_label(entry)


# --- summary ---------------------------------------------------------------------------

def summary(rm: ReadModel, viewer: Identity) -> dict:
    directory = rm.list_directory()
    entries = visible_entries(rm, viewer, directory=directory)
    read = rollups.plan(directory, entries)
    totals = _sum_fields(rm.counter_docs(NOW, list(read), [(NO_BUCKET, NO_BUCKET)]))
    # the pool itself is public (anyone may browse and claim it): count all of it
    pools = [e["_id"] for e in directory if is_pool(e)]
    pool = _sum_fields(rm.counter_docs(NOW, pools, [(NO_BUCKET, NO_BUCKET)]))
    return {
        "customers": totals.get("customers", 0),
        "customers_in_pool": pool.get("pool_customers", 0),
        "opportunities_open": totals.get("opps_open", 0),
        "pipeline_amount": money(totals.get("open_cents", 0)),
        "won_amount": money(totals.get("won_cents", 0)),
        "tasks_open": totals.get("tasks_open", 0),
        "currency": "CNY",
    }


# --- funnel ----------------------------------------------------------------------------

def funnel(rm: ReadModel, viewer: Identity, *, start: date | None = None,
           end: date | None = None, filters: Filters = Filters()) -> dict:
    """Opportunities created in [start, end] (all time when open-ended)."""
    _, read = _scope(rm, viewer, filters)
    totals = _sum_fields(rm.counter_docs(FUNNEL, list(read), periods.cover(start, end)))
    pipeline = rm.get_pipeline() or DEFAULT_PIPELINE
    order = stage_order(pipeline)
    extra = sorted({f.split(":", 2)[2] for f in totals if f.startswith("open:n:")} - set(order))
    labels = {s["key"]: s for s in pipeline.get("stages") or []}
    stages = []
    for key in order + extra:
        info = labels.get(key, {})
        stages.append({
            "stage": key,
            "label": {"zh": info.get("zh", key), "en": info.get("en", key)},
            "probability": stage_probability_bp(pipeline, key) / 100,
            "count": totals.get(f"open:n:{key}", 0),
            "amount": money(totals.get(f"open:c:{key}", 0)),
            "weighted_amount": weighted_money(totals.get(f"open:w:{key}", 0)),
            "reached": totals.get(f"reach:{key}", 0),
            "conversion_rate": rate(totals.get(f"pass:{key}", 0),
                                    totals.get(f"reach:{key}", 0)),
        })
    won, lost = totals.get("won:n", 0), totals.get("lost:n", 0)
    return {
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
        "stages": stages,
        "won": {"count": won, "amount": money(totals.get("won:c", 0))},
        "lost": {"count": lost, "amount": money(totals.get("lost:c", 0))},
        "win_rate": rate(won, won + lost),
        "currency": "CNY",
    }


# --- performance and activity (rows per group and period) ------------------------------

def period_range(period: str, start: date | None, end: date | None,
                 today: date) -> list[str]:
    """Labels of the periods a report covers: those overlapping [start, end], by default
    the current one."""
    if start is None and end is None:
        start = end = today
    elif start is None:
        start = periods.parse_period(periods.period_label(period, end))[1]
    elif end is None:
        end = max(start, today)
    if start > end:
        return []
    return periods.periods_between(period, start, end)


def target_amount(explicit: dict[tuple[str, str], int], key: str, label: str,
                  targeted: set | None = None) -> int | None:
    """A period's target: set for it, or else the sum of the targets of its parts.
    `targeted`: the keys with any target (the others have none, without walking their
    months)."""
    if targeted is not None and key not in targeted:
        return None
    if (key, label) in explicit:
        return explicit[(key, label)]
    parts = [target_amount(explicit, key, child) for child in periods.child_periods(label)]
    parts = [p for p in parts if p is not None]
    return sum(parts) if parts else None


class PeriodRows:
    """The rows of a report per group and period, each started from `zero`; a group
    with a target (visible to the viewer) for a period has its row even without
    figures."""

    def __init__(self, zero: dict[str, int]):
        self.zero = zero
        self.rows: dict[tuple, dict] = {}

    def row(self, key, label_text: str, period_label: str) -> dict:
        found = self.rows.get((key, period_label))
        if found is None:
            found = self.rows[(key, period_label)] = {
                "key": key, "label": label_text, "period": period_label, **self.zero}
        return found

    def add_targets(self, rm: ReadModel, viewer: Identity, group_by: str,
                    labels: list[str], entries: dict, filters: Filters
                    ) -> dict[tuple[str, str], int]:
        """Rows for the visible targets; returns the targets set explicitly."""
        targets = [t for t in rm.targets(group_by)
                   if target_visible(viewer, group_by, t, entries, filters)]
        explicit = {(t["key"], t["period"]): t["amount_c"] for t in targets}
        owner_names = {e.get("owner_id"): owner_label(e) for e in entries.values()}
        for key in sorted({t["key"] for t in targets}):
            for label in labels:
                if target_amount(explicit, key, label) is not None:
                    self.row(key, owner_names.get(key, key) if group_by == "owner" else key,
                             label)
        return explicit

    def in_order(self) -> list[tuple[tuple, dict]]:
        """By period, then key (the pool's None first)."""
        return sorted(self.rows.items(), key=lambda kv: (kv[0][1], kv[0][0] or ""))


def performance(rm: ReadModel, viewer: Identity, *, group_by: str = "owner",
                period: str = "month", start: date | None = None, end: date | None = None,
                today: date, filters: Filters = Filters()) -> dict:
    entries, read = _scope(rm, viewer, filters, group_by)
    labels = period_range(period, start, end, today)
    table = PeriodRows({"won_count": 0, "won_c": 0, "new_customers": 0, "interactions": 0})

    for key, label_text, label, c in _performance_counters(rm, read, group_by, period,
                                                          labels):
        r = table.row(key, label_text, label)
        r["won_count"] += c.get("won_n", 0)
        r["won_c"] += c.get("won_c", 0)
        r["new_customers"] += c.get("new_customers", 0)
        r["interactions"] += c.get("interactions", 0)

    explicit = table.add_targets(rm, viewer, group_by, labels, entries, filters)
    targeted = {k for k, _ in explicit}
    out = []
    for (key, label), r in table.in_order():
        target = target_amount(explicit, key, label, targeted) if key is not None else None
        out.append({
            "key": r["key"], "label": r["label"], "period": r["period"],
            "won_count": r["won_count"], "won_amount": money(r["won_c"]),
            "target": money(target), "attainment": rate(r["won_c"], target)
            if target else None,
            "new_customers": r["new_customers"], "interactions": r["interactions"],
        })
    return {"group_by": group_by, "period": period, "periods": labels, "rows": out,
            "currency": "CNY"}


_PERIOD_GRAIN = {"month": "M", "quarter": "Q", "year": "Y"}


def _performance_counters(rm: ReadModel, read: dict, group_by: str, period: str,
                          labels: list[str]):
    """(group key, its label, period label, counters) of the performance counters of
    the segments `read` (_scope's) in the periods `labels`."""
    if not labels:
        return
    for doc in rm.counter_docs(PERF, list(read), [_period_buckets(period, labels)]):
        key, label_text = group_key(read[doc["segment"]], group_by)
        yield key, label_text, doc["bucket"][2:], doc["c"]


def _period_buckets(period: str, labels: list[str]) -> tuple[str, str]:
    """The bucket range holding the figures of these periods (one bucket each)."""
    grain = _PERIOD_GRAIN[period]
    return f"{grain}:{labels[0]}", f"{grain}:{labels[-1]}"


def activity(rm: ReadModel, viewer: Identity, *, group_by: str = "owner",
             period: str = "month", start: date | None = None, end: date | None = None,
             today: date, filters: Filters = Filters()) -> dict:
    """Interactions by method, tasks completed, customers touched and won (distinct per
    segment and period: a customer two reps both touched counts once for each)."""
    _, read = _scope(rm, viewer, filters, group_by)
    labels = period_range(period, start, end, today)
    rows: dict[tuple, dict] = {}

    def row(entry, period_label):
        key, label_text = group_key(entry, group_by)
        found = rows.get((key, period_label))
        if found is None:
            found = rows[(key, period_label)] = {
                "key": key, "label": label_text, "period": period_label, "interactions": 0,
                "by_method": {m: 0 for m in METHODS}, "tasks_completed": 0,
                "customers_touched": 0, "customers_converted": 0}
        return found

    if labels:
        for doc in rm.counter_docs(PERF, list(read), [_period_buckets(period, labels)]):
            c = doc["c"]
            if not any(f in ("interactions", "tasks_done", "touched", "converted")
                       for f in c):
                continue
            r = row(read[doc["segment"]], doc["bucket"][2:])
            r["interactions"] += c.get("interactions", 0)
            r["tasks_completed"] += c.get("tasks_done", 0)
            r["customers_touched"] += c.get("touched", 0)
            r["customers_converted"] += c.get("converted", 0)
            for field, n in c.items():
                if field.startswith("int:"):
                    method = field[4:]
                    r["by_method"][method] = r["by_method"].get(method, 0) + n

    out = []
    for (key, label), r in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][0] or "")):
        r["conversion_rate"] = rate(r["customers_converted"], r["customers_touched"])
        out.append(r)
    return {"group_by": group_by, "period": period, "periods": labels, "rows": out}


# --- forecast --------------------------------------------------------------------------

def forecast(rm: ReadModel, viewer: Identity, *, period: str = "month",
             start: date | None = None, end: date | None = None,
             filters: Filters = Filters()) -> dict:
    """Open opportunities by expected close period: amount and amount x probability."""
    _, read = _scope(rm, viewer, filters)
    low = periods.month_bucket(start) if start else "M:0000"
    high = periods.month_bucket(end) if end else "M:9999-99"
    rows: dict[str, dict] = {}
    for doc in rm.counter_docs(FORECAST, list(read), [(low, high)]):
        label = periods.period_of_month(period, doc["bucket"][2:])
        r = rows.setdefault(label, {"period": label, "count": 0, "c": 0, "w": 0})
        r["count"] += doc["c"].get("n", 0)
        r["c"] += doc["c"].get("c", 0)
        r["w"] += doc["c"].get("w", 0)
    out = [{"period": r["period"], "count": r["count"], "amount": money(r["c"]),
            "weighted_amount": weighted_money(r["w"])}
           for _, r in sorted(rows.items()) if r["count"] or r["c"]]
    return {
        "period": period, "rows": out,
        "total": {"count": sum(r["count"] for r in rows.values()),
                  "amount": money(sum(r["c"] for r in rows.values())),
                  "weighted_amount": weighted_money(sum(r["w"] for r in rows.values()))},
        "currency": "CNY",
    }


def forecast_vs_target(rm: ReadModel, viewer: Identity, *, group_by: str = "owner",
                       period: str = "year", start: date | None = None,
                       end: date | None = None, today: date,
                       filters: Filters = Filters()) -> dict:
    """Seed 002 (销售预测与目标管理): per owner / team / region and period, what is won
    already, what the open opportunities expected to close in the period weigh (amount x
    probability), their sum (expected), the target, the gap to it and both rates."""
    entries, read = _scope(rm, viewer, filters, group_by)
    labels = period_range(period, start, end, today)
    table = PeriodRows({"won_c": 0, "n": 0, "c": 0, "w": 0})

    for key, label_text, label, c in _performance_counters(rm, read, group_by, period,
                                                          labels):
        if c.get("won_c"):
            table.row(key, label_text, label)["won_c"] += c["won_c"]
    if labels:
        months = (periods.months_of_period(labels[0])[0],
                  periods.months_of_period(labels[-1])[-1])
        wanted = set(labels)
        for doc in rm.counter_docs(FORECAST, list(read),
                                   [(f"M:{months[0]}", f"M:{months[1]}")]):
            label = periods.period_of_month(period, doc["bucket"][2:])
            if label not in wanted:
                continue
            key, label_text = group_key(read[doc["segment"]], group_by)
            r = table.row(key, label_text, label)
            r["n"] += doc["c"].get("n", 0)
            r["c"] += doc["c"].get("c", 0)
            r["w"] += doc["c"].get("w", 0)

    explicit = table.add_targets(rm, viewer, group_by, labels, entries, filters)
    targeted = {k for k, _ in explicit}
    out = []
    for (key, label), r in table.in_order():
        target = target_amount(explicit, key, label, targeted) if key is not None else None
        expected_units = r["won_c"] * BP + r["w"]        # cents x basis points
        out.append({
            "key": r["key"], "label": r["label"], "period": r["period"],
            "won_amount": money(r["won_c"]), "open_count": r["n"],
            "open_amount": money(r["c"]), "weighted_amount": weighted_money(r["w"]),
            "expected_amount": weighted_money(expected_units),
            "target": money(target),
            "gap": None if target is None else weighted_money(target * BP - expected_units),
            "attainment": rate(r["won_c"], target) if target else None,
            "expected_attainment": rate(Decimal(expected_units) / BP, target)
            if target else None,
        })
    return {"group_by": group_by, "period": period, "periods": labels, "rows": out,
            "currency": "CNY"}


BP = 10_000   # basis points in one: weighted figures are cents x basis points


# --- win / loss ------------------------------------------------------------------------

def _average_days(total_days: int, count: int) -> float | None:
    return None if not count else float((Decimal(total_days) / count).quantize(
        Decimal("0.1"), rounding=ROUND_HALF_UP))


def win_loss(rm: ReadModel, viewer: Identity, *, start: date | None = None,
             end: date | None = None, filters: Filters = Filters()) -> dict:
    """Opportunities closed in [start, end]: wins, losses by reason, cycle length."""
    _, read = _scope(rm, viewer, filters)
    t = _sum_fields(rm.counter_docs(WINLOSS, list(read), periods.cover(start, end)))
    won, lost = t.get("won:n", 0), t.get("lost:n", 0)
    reasons = []
    for field, n in t.items():
        if field.startswith("r:n:") and n:
            reason = field[4:]
            reasons.append({"reason": reason, "count": n,
                            "amount": money(t.get(f"r:c:{reason}", 0)),
                            "share": rate(n, lost)})
    reasons.sort(key=lambda r: (-r["count"], r["reason"]))
    return {
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
        "won": {"count": won, "amount": money(t.get("won:c", 0)),
                "average_cycle_days": _average_days(t.get("won:days", 0), won)},
        "lost": {"count": lost, "amount": money(t.get("lost:c", 0)),
                 "average_cycle_days": _average_days(t.get("lost:days", 0), lost)},
        "win_rate": rate(won, won + lost),
        "average_cycle_days": _average_days(t.get("won:days", 0) + t.get("lost:days", 0),
                                            won + lost),
        "loss_reasons": reasons,
        "currency": "CNY",
    }


# --- customer value --------------------------------------------------------------------

def _value_items(rm: ReadModel, entries: dict) -> list[dict]:
    """Customers with won deals, from the deals the visible owners won (a customer
    two owners sold to sums both), in report order (amount down, then id)."""
    per_customer: dict[str, dict] = {}
    for doc in rm.counter_docs(VALUE, list(entries), [(NO_BUCKET, NO_BUCKET)]):
        for field, n in doc["c"].items():
            what, _, rest = field.partition("|")
            customer, _, day = rest.partition("|")
            item = per_customer.setdefault(customer, {"deals": 0, "c": 0, "days": set()})
            if what == "deals":
                item["deals"] += n
            elif what == "c":
                item["c"] += n
            elif what == "on" and n > 0:
                item["days"].add(day)
    known = rm.customers(list(per_customer))
    names = _owner_names(rm)
    items = []
    for customer_id, item in per_customer.items():
        info = known.get(customer_id) or {}
        if item["deals"] <= 0 or info.get("deleted"):
            continue
        owner = info.get("owner_id")
        items.append({"customer_id": customer_id, "name": info.get("name"),
                      "owner_id": owner, "owner_name": names.get(owner) if owner else None,
                      "deals": item["deals"], "c": item["c"],
                      "last_deal_on": max(item["days"]) if item["days"] else None})
    items.sort(key=lambda i: (-i["c"], i["customer_id"]))
    return items


def _owner_names(rm: ReadModel) -> dict:
    # the customer's current owner may be out of view
    return {e.get("owner_id"): owner_label(e) for e in rm.list_directory() if not is_pool(e)}


def _describe_from_store(rm: ReadModel):
    """Name and owner of a page's customers, read for that page only."""
    def describe(rows):
        known = rm.customers([r["customer_id"] for r in rows])
        names = _owner_names(rm)
        out = {}
        for row in rows:
            info = known.get(row["customer_id"]) or {}
            owner = info.get("owner_id")
            out[row["customer_id"]] = {"name": info.get("name"), "owner_id": owner,
                                       "owner_name": names.get(owner) if owner else None}
        return out
    return describe


def _describe_held(rows):
    return {r["customer_id"]: {k: r[k] for k in ("name", "owner_id", "owner_name")}
            for r in rows}


def customer_value(rm: ReadModel, viewer: Identity, *, model: str = "abc", as_of: date,
                   filters: Filters = Filters(), page: int | None = 1,
                   per_page: int = 20) -> dict:
    """ABC or RFM over the customers whose deals the visible owners won, one page of
    items (`page` None: all of them, as an iterator, for an export). A caller who sees
    every segment (an admin without filters) is answered from the customers' value
    states (value_models.StoreRanked: a page costs the same whatever the number of
    customers); anyone else from their owners' counters, which hold only the deals of
    the people they see (the figures are theirs: shares of what they see)."""
    directory = rm.list_directory()
    entries = visible_entries(rm, viewer, filters, directory=directory)
    if len(entries) == len(directory) and rm.value_model_ready():
        source = value_models.StoreRanked(rm, with_days=model == "rfm")
        describe = _describe_from_store(rm)
    else:
        source, describe = value_models.ListRanked(_value_items(rm, entries)), _describe_held
    if model == "rfm":
        return value_models.rfm(source, as_of, describe, page=page, per_page=per_page)
    return value_models.abc(source, describe, page=page, per_page=per_page)
