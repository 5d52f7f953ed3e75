"""Contribution vectors: what an entity adds to the pre-aggregated counters.

A vector is `{key: int}` with keys `("c", kind, segment, bucket, field)` for additive
counters and `("m", kind, segment, bucket, field, member)` for distinct counts (a
member's reference count; the store bumps `field` by one when a member appears and
drops it when the last reference goes). Segments: `u:<user id>` for an owner,
`p:<region>` for records with no owner (the pool).

Rollups: beside each person's counters the stores keep their sums per team (`t:<team>`),
per region (`r:<region>`) and for the whole organisation (`o:`), so that a report over
many people reads a handful of documents. A person's figures are summed into the rollups
of their *rolled home* (`rollups` in their directory entry): the store adds every change
of `u:<id>` to those rollups too, and when the person changes team or region the
projector moves their figures from the old rollups to the new ones (`move_rollups`).
Distinct counts roll up as the sum of each person's count (what a report summing the
people shows). Pools are not rolled up (three segments at most, read as they are).
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
CVALUE = "cvalue"      # of the organisation ("o:"): customers by deals, last deal day and
                       # amount bucket, from each customer's value state (entities/value)
NO_BUCKET = "-"
# kinds summed into rollups: not VALUE, whose fields are per customer (an organisation's
# rollup document would hold every customer, past MongoDB's 16 MB per document)
ROLLED_KINDS = (NOW, FUNNEL, FORECAST, PERF, WINLOSS)
ORG_ROLLUP = "o:"


def owner_segment(user_id: str) -> str:
    return f"u:{user_id}"


def pool_segment(region: str | None) -> str:
    return f"p:{region or ''}"


def segment_of(owner_id, region) -> str:
    return owner_segment(owner_id) if owner_id else pool_segment(region)


def team_rollup(team: str) -> str:
    return f"t:{team}"


def region_rollup(region: str) -> str:
    return f"r:{region}"


def rollups_of(team: str | None, region: str | None) -> list[str]:
    """The rollups a person of this team and region is summed into (organisation,
    region, team; the last two only when known)."""
    found = [ORG_ROLLUP]
    if region:
        found.append(region_rollup(region))
    if team:
        found.append(team_rollup(team))
    return found


def is_rollup(segment: str) -> bool:
    return segment[:2] in ("t:", "r:", "o:")


def with_rollups(delta: Vector, homes: dict[str, list[str]]) -> Vector:
    """`delta` plus each change of a person's counters (`homes`: person segment -> the
    rollups they are summed into) added to those rollups. Distinct-count keys stay as
    they are: the store rolls up their counter's flips (see the stores' member code)."""
    rolled = dict(delta)
    for key, n in delta.items():
        if key[0] != "c" or key[1] not in ROLLED_KINDS:
            continue
        for rollup in homes.get(key[2], ()):
            target = ("c", key[1], rollup) + key[3:]
            rolled[target] = rolled.get(target, 0) + n
    return rolled


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
