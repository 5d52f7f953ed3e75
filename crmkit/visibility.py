"""The one visibility rule of CONTRACT §3, as a predicate and as a Mongo filter.

A rep sees what they own and what is shared with them; a supervisor also sees records
owned by users whose team is theirs or below it; a manager also sees everything owned
in their region; an admin sees everything. Records carry their owner's team and region
(denormalised at write time) so that lists are one indexed query.

CONTRACT §11 adds two things. A record may be shared with whole teams (`shared_teams`,
team paths): every present and future member of such a team or of a team below it sees
it as a sharee. And the organisation's 上下级强制共享 may be off
(`Identity.sees_subordinates`, set by the gateway from its settings): then supervisors
and managers see by rank nothing, only what they own or what is shared with them (or
with their team); admins still see everything.
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


def team_ancestors(team: str | None) -> list[str]:
    """`team` and every team above it: "east/a/x" -> ["east", "east/a", "east/a/x"]
    (a record shared with any of these is shared with a member of `team`)."""
    parts = [p for p in (team or "").strip("/").split("/") if p]
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]


def is_sharee(viewer: Identity, shared_with=(), shared_teams=()) -> bool:
    """Shared with the viewer by name, or with their team or a team above it."""
    if viewer.user_id in (shared_with or ()):
        return True
    return any(team_within(viewer.team, team) for team in (shared_teams or ()))


def can_see(viewer: Identity, owner: Owner, shared_with=(), shared_teams=()) -> bool:
    if viewer.role == "admin":
        return True
    if owner.user_id is not None and owner.user_id == viewer.user_id:
        return True
    if is_sharee(viewer, shared_with, shared_teams):
        return True
    return is_superior(viewer, owner)


def can_see_unowned(viewer: Identity, region: str | None) -> bool:
    """An unowned record (a customer back in the pool, its opportunities): admins, and
    supervisors and up of its region (or of any region while it is unknown)."""
    if viewer.is_admin:
        return True
    return viewer.at_least("supervisor") and (region is None or region == viewer.region)


def may_work_on(viewer: Identity, owner: Owner | None, region: str | None = None,
                shared_with=(), shared_teams=()) -> bool:
    """May the viewer build on a record (open an opportunity on a customer, link it to
    a task): when owned, whoever sees it; when unowned, can_see_unowned and its sharees."""
    if owner is None or owner.user_id is None:
        return can_see_unowned(viewer, region) or is_sharee(viewer, shared_with,
                                                            shared_teams)
    return can_see(viewer, owner, shared_with, shared_teams)


def is_superior(viewer: Identity, owner: Owner) -> bool:
    """Sees the owner's records by rank (not by ownership or sharing): `outranks`, while
    the organisation's 上下级强制共享 is on (always for an admin)."""
    if viewer.role == "admin":
        return True
    return viewer.sees_subordinates and outranks(viewer, owner)


def outranks(viewer: Identity, owner: Owner) -> bool:
    """The viewer is above the owner (supervisor of their team or above it, manager of
    their region, admin): who may give them work, whatever the sharing setting."""
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


def shared_clauses(viewer: Identity, shared_field="shared_with",
                   teams_field: str | None = None) -> list[dict]:
    """Mongo clauses (any of) for the documents `is_sharee` admits."""
    clauses: list[dict] = [{shared_field: viewer.user_id}] if shared_field else []
    ancestors = team_ancestors(viewer.team)
    if teams_field and ancestors:
        clauses.append({teams_field: {"$in": ancestors}})
    return clauses


def rank_clauses(viewer: Identity, *, team_field="owner_team",
                 region_field="owner_region") -> list[dict]:
    """Mongo clauses (any of) for the documents the viewer sees by rank (`is_superior`,
    admins aside): none while 上下级强制共享 is off."""
    if not viewer.sees_subordinates:
        return []
    if viewer.role == "supervisor" and viewer.team:
        return team_subtree_filter(viewer.team, team_field)["$or"]
    if viewer.role == "manager" and viewer.region:
        return [{region_field: viewer.region}]
    return []


def visibility_filter(viewer: Identity, *, owner_field="owner_id", team_field="owner_team",
                      region_field="owner_region", shared_field="shared_with",
                      shared_teams_field: str | None = None,
                      shares: list[dict] | None = None) -> dict:
    """The Mongo filter selecting exactly the documents `can_see` admits (with
    `shared_teams_field`, the documents' `shared_teams` too). `shares`: the clauses for
    what is shared with the viewer where the caller has them in another form than the
    share arrays (which no index serves)."""
    if viewer.role == "admin":
        return {}
    clauses: list[dict] = [{owner_field: viewer.user_id}]
    clauses.extend(shared_clauses(viewer, shared_field, shared_teams_field)
                   if shares is None else shares)
    clauses.extend(rank_clauses(viewer, team_field=team_field, region_field=region_field))
    return {"$or": clauses}
