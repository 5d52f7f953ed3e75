"""Customer value models over the customers' won deals: ABC classes (Pareto) and RFM
scores."""
from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from datetime import date
from decimal import Decimal

from services.reporting.figures import money, rate

ABC_LIMITS = (Decimal("0.7"), Decimal("0.9"))  # cumulative share of deal amount: A, B


def abc(items: list[dict]) -> dict:
    """Pareto classes: A holds the first 70% of the deal amount, B the next 20%."""
    total = sum(i["c"] for i in items)
    classes = {k: {"class": k, "count": 0, "c": 0} for k in "ABC"}
    out, running = [], 0
    for item in items:
        before = Decimal(running) / total if total else Decimal(1)
        klass = "A" if before < ABC_LIMITS[0] else "B" if before < ABC_LIMITS[1] else "C"
        running += item["c"]
        classes[klass]["count"] += 1
        classes[klass]["c"] += item["c"]
        out.append({"customer_id": item["customer_id"], "name": item["name"],
                    "owner_id": item["owner_id"], "owner_name": item["owner_name"],
                    "deals": item["deals"], "amount": money(item["c"]),
                    "share": rate(item["c"], total),
                    "cumulative_share": rate(running, total), "class": klass})
    return {"model": "abc", "total_amount": money(total),
            "classes": [{"class": k, "count": v["count"], "amount": money(v["c"]),
                         "share": rate(v["c"], total)} for k, v in classes.items()],
            "items": out, "currency": "CNY"}


def _scores(values: list, better_high: bool) -> list[int]:
    """Quintile scores 1..5 by cumulative share (ties share a score; 5 is best)."""
    n = len(values)
    ranked = sorted(values)
    scores = []
    for v in values:
        if better_high:
            at_or_below = _count_le(ranked, v)
        else:
            at_or_below = n - _count_lt(ranked, v)
        scores.append(max(1, min(5, math.ceil(5 * at_or_below / n))))
    return scores


def _count_le(ranked, v) -> int:
    return bisect_right(ranked, v)


def _count_lt(ranked, v) -> int:
    return bisect_left(ranked, v)


def rfm(items: list[dict], as_of: date) -> dict:
    recency = [max((as_of - date.fromisoformat(i["last_deal_on"])).days, 0)
               if i["last_deal_on"] else 10**6 for i in items]
    r_scores = _scores(recency, better_high=False) if items else []
    f_scores = _scores([i["deals"] for i in items], better_high=True) if items else []
    m_scores = _scores([i["c"] for i in items], better_high=True) if items else []
    out = []
    for item, days, r, f, m in zip(items, recency, r_scores, f_scores, m_scores):
        out.append({"customer_id": item["customer_id"], "name": item["name"],
                    "owner_id": item["owner_id"], "owner_name": item["owner_name"],
                    "last_deal_on": item["last_deal_on"],
                    "recency_days": days if item["last_deal_on"] else None,
                    "frequency": item["deals"], "monetary": money(item["c"]),
                    "r": r, "f": f, "m": m, "score": f"{r}{f}{m}"})
    return {"model": "rfm", "as_of": as_of.isoformat(), "items": out, "currency": "CNY"}
