"""Which counter documents a report reads: rollups where they hold exactly what the
caller may see, people and pools elsewhere.

A rollup (`counters.py`) holds the figures of the people whose rolled home names it (the
`rollups` of their directory entry). It may stand in for those people when every one of
them is among the segments the caller sees and the filters keep, none is read through
another rollup already, and (for a grouped report) all of them fall in one row. So an
admin's report reads the organisation's rollup, a manager's their region's, a
supervisor's their teams', and a report grouped by owner reads each person it shows
(its cost follows the rows it returns). The choice is exact whatever the visibility
rules or filters are: a rollup either fits whole or is not used.
"""
from __future__ import annotations

from typing import Callable, Hashable

from services.reporting.counters import ORG_ROLLUP


def _breadth(rollup: str) -> int:
    """Organisation first, then regions, then teams (the fewest documents)."""
    return 0 if rollup == ORG_ROLLUP else 1 if rollup.startswith("r:") else 2


def plan(directory: list[dict], entries: dict[str, dict],
         group_of: Callable[[dict], Hashable] | None = None) -> dict[str, dict]:
    """segment to read -> the directory entry its figures are grouped by (for a rollup,
    one of its people's). `entries`: the segments the caller sees and the filters keep;
    `group_of`: a grouped report's row of an entry."""
    members: dict[str, list[dict]] = {}
    for entry in directory:
        if entry["_id"].startswith("u:"):
            for rollup in entry.get("rollups") or ():
                members.setdefault(rollup, []).append(entry)
    people = {segment for segment in entries if segment.startswith("u:")}
    chosen: dict[str, dict] = {}
    for rollup in sorted(members, key=lambda r: (_breadth(r), -len(members[r]), r)):
        inside = members[rollup]
        if len(inside) < 2 or any(e["_id"] not in people for e in inside):
            continue  # one person: read them (same cost, no rollup needed)
        if group_of is not None:
            row = group_of(inside[0])
            if any(group_of(e) != row for e in inside):  # stops at the first other row
                continue
        chosen[rollup] = inside[0]
        people.difference_update(e["_id"] for e in inside)
    chosen.update((segment, entries[segment]) for segment in entries
                  if segment in people or not segment.startswith("u:"))
    return chosen
