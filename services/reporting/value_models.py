"""Customer value models over the customers' won deals: ABC classes (Pareto) and RFM
scores, a page at a time.

Both read the customers through a `Ranked` source: every customer in report order
(amount down, then id) with what the figures of one page need besides its own rows:
the count and amount of all (`n`, `total`), the customers per deal count and per last
deal day (RFM's quintile counts), the amount before a rank (ABC's running share) and the
rank where a share of the amount is reached (ABC's class boundaries). So the figures of
a page are those of the whole list, computed without it: `ListRanked` holds the list (a
caller who sees part of the organisation); `StoreRanked` answers from the counters and
the ranked value states (entities/value.py) whatever the number of customers (the
admin, who sees all of them).
"""
from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from datetime import date, timedelta
from itertools import accumulate
from typing import Iterator, Protocol

from services.reporting.counters import CVALUE, ORG_ROLLUP
from services.reporting.entities import value as value_state
from services.reporting.figures import money, rate

# cumulative share of deal amount: A up to 70%, B up to 90% (as fractions num / den)
ABC_LIMITS = ((7, 10), (9, 10))
EXPORT_CHUNK = 1000  # rows read at a time when every row is wanted (CSV / XLSX)


class Ranked(Protocol):
    """Customers with won deals in report order; each row `{customer_id, c, deals,
    last_deal_on}`."""
    n: int
    total: int
    deals: dict[int, int]          # deal count -> customers

    def day_counts(self) -> dict[str | None, int]:
        """last deal day (None: none known) -> customers."""

    def window(self, start: int, size: int) -> tuple[int, list[dict]]:
        """(the amount of the customers before rank `start`, the rows from `start` on,
        each with `gt`: how many customers have a larger amount)."""

    def boundary(self, num: int, den: int) -> tuple[int, int]:
        """(the first rank whose amount before it reaches num/den of the total (n if
        none), that amount)."""


class ListRanked:
    """A list in report order held whole."""

    def __init__(self, rows: list[dict]):
        self.rows = rows
        self.n = len(rows)
        self.before = [0, *accumulate(r["c"] for r in rows)]
        self.total = self.before[-1]
        self.deals: dict[int, int] = {}
        self.days: dict[str | None, int] = {}
        for r in rows:
            self.deals[r["deals"]] = self.deals.get(r["deals"], 0) + 1
            self.days[r["last_deal_on"]] = self.days.get(r["last_deal_on"], 0) + 1
        self._down = [-r["c"] for r in rows]

    def day_counts(self):
        return self.days

    def window(self, start, size):
        start = min(max(start, 0), self.n)
        rows = [{**r, "gt": bisect_left(self._down, -r["c"])}
                for r in self.rows[start:start + size]]
        return self.before[start], rows

    def boundary(self, num, den):
        for rank, before in enumerate(self.before[:-1]):
            if den * before >= num * self.total:
                return rank, before
        return self.n, self.total


class StoreRanked:
    """The whole organisation's customers from the store: the counters of their value
    states (entities/value.py: n, total, deals, days; count and amount per amount
    bucket, coarse and fine) and the index of those states in report order. A figure
    that needs the customers before a rank walks the coarse counts (a few hundred
    fields), the fine counts of one coarse bucket (ten) and the rows of one fine bucket
    (an amount to 3 significant digits: a handful to a few hundred customers), so a page
    costs the same whatever the number of customers."""

    def __init__(self, rm, *, with_days: bool = False):
        self.rm = rm
        self.n = self.total = 0
        self.deals: dict[int, int] = {}
        self._days: dict[str | None, int] = {}
        self._fine_of: dict[str, list[tuple]] = {}
        coarse = []
        # one index range: the totals ("h"), the coarse counts ("h:<digits>"), and
        # for RFM the days ("hr")
        last = value_state.DAYS_BUCKET if with_days else "h:\uffff"
        for doc in rm.counter_docs(CVALUE, [ORG_ROLLUP], [(value_state.TOTALS_BUCKET, last)]):
            fields = doc["c"]
            if doc["bucket"] == value_state.TOTALS_BUCKET:
                self.n, self.total = fields.get("n", 0), fields.get("t", 0)
                self.deals = {int(f[2:]): k for f, k in fields.items()
                              if f.startswith("f:") and k > 0}
            elif doc["bucket"] == value_state.DAYS_BUCKET:
                self._days = {None if f == "r:-" else f[2:]: k for f, k in fields.items()
                              if k > 0}
            else:
                coarse += _buckets(doc, doc["bucket"][2:])
        self.coarse = _ranked(coarse, 0, 0)

    def day_counts(self):
        return self._days

    def _fine(self, bucket: tuple) -> list[tuple]:
        """The fine buckets of a coarse one, ranked from where it starts."""
        key, _, _, seen, before = bucket
        if key not in self._fine_of:
            found = []
            for doc in self.rm.counter_docs(CVALUE, [ORG_ROLLUP],
                                            [(value_state.fine_bucket(key),) * 2]):
                found += _buckets(doc, key)
            self._fine_of[key] = _ranked(found, seen, before)
        return self._fine_of[key]

    def _fine_at(self, rank: int) -> tuple | None:
        """The fine bucket holding a rank."""
        def holds(bucket):  # (key, customers, amount, first rank, amount before)
            return bucket[3] <= rank < bucket[3] + bucket[1]
        coarse = next((b for b in self.coarse if holds(b)), None)
        return coarse and next((f for f in self._fine(coarse) if holds(f)), None)

    def window(self, start, size):
        bucket = self._fine_at(start)
        if bucket is None:
            return self.total, []
        key, _, _, seen, before = bucket
        low, _ = value_state.range_keys(*value_state.key_bounds(key))
        skipped = start - seen
        # the bucket's rows before the page: their keys only (amounts: the page's
        # running share and ties); then the page's own rows
        keys = self.rm.value_ranked(low, None, skipped + size, rows=False) \
            if skipped else []
        amounts = [value_state.amount_of(k["vkey"]) for k in keys]
        if skipped and len(keys) > skipped:
            low = keys[skipped]["vkey"]
        rows = [_row(s) for s in self.rm.value_ranked(low, None, size)] \
            if not skipped or len(keys) > skipped else []
        first_of = {}  # amount -> its first index: ties never straddle a bucket's edge
        for index, amount in enumerate(amounts[:skipped] + [r["c"] for r in rows]):
            first_of.setdefault(amount, index)
        for row in rows:
            row["gt"] = seen + first_of[row["c"]]
        return before + sum(amounts[:skipped]), rows

    def boundary(self, num, den):
        goal = num * self.total
        return self._walk(self.coarse, goal, den, fine=False)

    def _walk(self, buckets, goal, den, fine) -> tuple[int, int]:
        for bucket in buckets:
            key, count, amount, seen, before = bucket
            if den * before >= goal:
                return seen, before
            if den * (before + amount) < goal:
                continue  # every rank in it, and the next, is still short
            if not fine:
                return self._walk(self._fine(bucket), goal, den, fine=True)
            low, high = value_state.range_keys(*value_state.key_bounds(key))
            for rank, state in enumerate(self.rm.value_ranked(low, high, count, rows=False)):
                if den * before >= goal:
                    return seen + rank, before
                before += value_state.amount_of(state["vkey"])
            return seen + count, before
        return self.n, self.total


def _buckets(doc: dict, prefix: str) -> list[tuple[str, int, int]]:
    """(bucket key, customers, amount) of a counter document's `n:`/`c:` fields."""
    fields = doc["c"]
    return [(prefix + f[2:], k, fields.get(f"c:{f[2:]}", 0)) for f, k in fields.items()
            if f.startswith("n:") and k > 0]


def _ranked(buckets, seen: int, before: int) -> list[tuple]:
    """Buckets amount down, each (key, customers, amount, rank it starts at, amount
    before it)."""
    out = []
    for key, count, amount in sorted(buckets, reverse=True):
        out.append((key, count, amount, seen, before))
        seen += count
        before += amount
    return out


def _row(state: dict) -> dict:
    deals, cents, last = value_state.totals(state)
    return {"customer_id": state["id"], "c": cents, "deals": deals, "last_deal_on": last}


def _window(source: Ranked, page: int | None, per_page: int) -> Iterator[tuple[int, list]]:
    """(amount before, rows) of one page, or of every row a chunk at a time (None)."""
    if page is not None:
        yield source.window((page - 1) * per_page, per_page)
        return
    for start in range(0, source.n, EXPORT_CHUNK):
        yield source.window(start, EXPORT_CHUNK)


def abc(source: Ranked, describe, *, page: int | None = 1, per_page: int = 20) -> dict:
    """Pareto classes: A holds the first 70% of the deal amount, B the next 20%; a
    customer's class is decided by the share before it. `describe(rows)`: each row's
    name, owner_id and owner_name. `page` None: every row (an iterator)."""
    total = source.total
    (a_rank, a_amount), (b_rank, b_amount) = (source.boundary(*limit)
                                              for limit in ABC_LIMITS)

    def klass(before: int) -> str:
        for name, (num, den) in zip("AB", ABC_LIMITS):
            if den * before < num * total:
                return name
        return "C"

    def items():
        for running, rows in _window(source, page, per_page):
            names = describe(rows)
            for row in rows:
                cls = klass(running)
                running += row["c"]
                yield {"customer_id": row["customer_id"], **names[row["customer_id"]],
                       "deals": row["deals"], "amount": money(row["c"]),
                       "share": rate(row["c"], total),
                       "cumulative_share": rate(running, total), "class": cls}

    classes = (("A", a_rank, a_amount), ("B", b_rank - a_rank, b_amount - a_amount),
               ("C", source.n - b_rank, total - b_amount))
    return {"model": "abc", "total_amount": money(total),
            "classes": [{"class": k, "count": count, "amount": money(amount),
                         "share": rate(amount, total)} for k, count, amount in classes],
            "items": items() if page is None else list(items()),
            **_paging(source, page, per_page), "currency": "CNY"}


def _paging(source: Ranked, page: int | None, per_page: int) -> dict:
    if page is None:
        return {"total": source.n}
    return {"total": source.n, "page": page, "per_page": per_page}


def _score(at_or_below: int, n: int) -> int:
    """Quintile score 1..5 by the share of customers at or below (ties share a score;
    5 is best)."""
    return max(1, min(5, math.ceil(5 * at_or_below / n)))


def rfm(source: Ranked, as_of: date, describe, *, page: int | None = 1,
        per_page: int = 20) -> dict:
    """R (days since the last deal, fewer is better), F (deals), M (amount) scored 1..5
    by quintile among all the customers."""
    n = source.n
    deal_counts = sorted(source.deals)
    up_to = [0, *accumulate(source.deals[d] for d in deal_counts)]
    day_counts = source.day_counts()
    days = sorted(d for d in day_counts if d is not None)
    after = list(accumulate(day_counts[d] for d in reversed(days)))[::-1] + [0]
    dated = n - day_counts.get(None, 0)

    def recent_than(recency: int | None) -> int:
        """Customers with a smaller recency (a customer without a deal day is last)."""
        if recency is None:
            return dated
        if recency == 0:
            return 0
        # recency < r <=> the last deal day is after as_of - r days
        return after[bisect_right(days, (as_of - timedelta(days=recency)).isoformat())]

    def items():
        for _, rows in _window(source, page, per_page):
            names = describe(rows)
            for row in rows:
                last = row["last_deal_on"]
                recency = max((as_of - date.fromisoformat(last)).days, 0) if last else None
                r = _score(n - recent_than(recency), n)
                f = _score(up_to[bisect_right(deal_counts, row["deals"])], n)
                m = _score(n - row["gt"], n)
                yield {"customer_id": row["customer_id"], **names[row["customer_id"]],
                       "last_deal_on": last, "recency_days": recency,
                       "frequency": row["deals"], "monetary": money(row["c"]),
                       "r": r, "f": f, "m": m, "score": f"{r}{f}{m}"}

    return {"model": "rfm", "as_of": as_of.isoformat(),
            "items": items() if page is None else list(items()),
            **_paging(source, page, per_page), "currency": "CNY"}
