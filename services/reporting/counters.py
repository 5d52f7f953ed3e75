"""Contribution vectors: what an entity adds to the pre-aggregated counters.

A vector is `{key: int}` with keys `("c", kind, segment, bucket, field)` for additive
counters and `("m", kind, segment, bucket, field, member)` for distinct counts (a
member's reference count; the store bumps `field` by one when a member appears and
drops it when the last reference goes). Segments: `u:<user id>` for an owner,
`p:<region>` for records with no owner (the pool).
"""
from __future__ import annotations

import json
from typing import Iterable

Vector = dict  # {("c", kind, segment, bucket, field) | ("m", ..., member): int}

# counter kinds
NOW = "now"            # current state per segment, bucket "-"
FUNNEL = "funnel"      # opportunities by created date (D/M/Y/A buckets)
FORECAST = "forecast"  # open opportunities by expected close month
PERF = "perf"          # per month/quarter/year: wins, new customers, follow-ups, tasks,
                       # and distinct customers touched / converted
WINLOSS = "winloss"    # closed opportunities by close date (D/M/Y/A)
VALUE = "value"        # per owner (bucket "-"): each customer's deals, for ABC / RFM
NO_BUCKET = "-"


def owner_segment(user_id: str) -> str:
    return f"u:{user_id}"


def pool_segment(region: str | None) -> str:
    return f"p:{region or ''}"


def segment_of(owner_id, region) -> str:
    return owner_segment(owner_id) if owner_id else pool_segment(region)


def add(vec: Vector, kind: str, segment: str, buckets: Iterable[str], field: str,
        amount: int = 1) -> None:
    if not amount:
        return
    for bucket in buckets:
        key = ("c", kind, segment, bucket, field)
        vec[key] = vec.get(key, 0) + amount


def add_member(vec: Vector, kind: str, segment: str, buckets: Iterable[str], field: str,
               member: str) -> None:
    for bucket in buckets:
        key = ("m", kind, segment, bucket, field, member)
        vec[key] = vec.get(key, 0) + 1


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
