"""The one visibility rule of CONTRACT §3, as a predicate and as a Mongo filter.

A rep sees what they own and what is shared with them; a supervisor also sees records
owned by users whose team is theirs or below it; a manager also sees everything owned
in their region; an admin sees everything. Records carry their owner's team and region
(denormalised at write time) so that lists are one indexed query.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from crmkit.identity import Identity


@dataclass(frozen=True)
class Owner:
    user_id: str | None
    team: str | None = None
    region: str | None = None


def team_within(team: str | None, ancestor: str) -> bool:
    """True if `team` is `ancestor` or below it in the slash path."""
    if not team or not ancestor:
        return False
    ancestor = ancestor.rstrip("/")  # as visibility_filter does: "a/b/" means "a/b"
    return team == ancestor or team.startswith(ancestor + "/")


def can_see(viewer: Identity, owner: Owner, shared_with=()) -> bool:
    if viewer.role == "admin":
        return True
    if owner.user_id is not None and owner.user_id == viewer.user_id:
        return True
    if viewer.user_id in (shared_with or ()):
        return True
    if viewer.role == "supervisor":
        return team_within(owner.team, viewer.team)
    if viewer.role == "manager":
        return owner.region is not None and owner.region == viewer.region
    return False


def can_see_unowned(viewer: Identity, region: str | None) -> bool:
    """An unowned record (a customer back in the pool, its opportunities): admins, and
    supervisors and up of its region (or of any region while it is unknown)."""
    if viewer.is_admin:
        return True
    return viewer.at_least("supervisor") and (region is None or region == viewer.region)


def may_work_on(viewer: Identity, owner: Owner | None, region: str | None = None,
                shared_with=()) -> bool:
    """May the viewer build on a record (open an opportunity on a customer, link it to
    a task): when owned, whoever sees it; when unowned, can_see_unowned and its sharees."""
    if owner is None or owner.user_id is None:
        return can_see_unowned(viewer, region) or viewer.user_id in (shared_with or ())
    return can_see(viewer, owner, shared_with)


def is_superior(viewer: Identity, owner: Owner) -> bool:
    """Sees the owner's records by rank (not by ownership or sharing)."""
    if viewer.role == "admin":
        return True
    if viewer.role == "supervisor":
        return team_within(owner.team, viewer.team)
    if viewer.role == "manager":
        return owner.region is not None and owner.region == viewer.region
    return False


def team_subtree_filter(team: str, field: str = "owner_team") -> dict:
    """Mongo filter: `field` is `team` or a team below it (an indexable prefix match)."""
    team = team.rstrip("/")
    return {"$or": [{field: team}, {field: {"$regex": "^" + re.escape(team + "/")}}]}


def visibility_filter(viewer: Identity, *, owner_field="owner_id", team_field="owner_team",
                      region_field="owner_region", shared_field="shared_with") -> dict:
    """The Mongo filter selecting exactly the documents `can_see` admits."""
    if viewer.role == "admin":
        return {}
    clauses: list[dict] = [{owner_field: viewer.user_id}]
    if shared_field:
        clauses.append({shared_field: viewer.user_id})
    if viewer.role == "supervisor" and viewer.team:
        clauses.extend(team_subtree_filter(viewer.team, team_field)["$or"])
    elif viewer.role == "manager" and viewer.region:
        clauses.append({region_field: viewer.region})
    return {"$or": clauses}
