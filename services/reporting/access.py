"""Who sees which figures (CONTRACT §3, via crmkit.visibility), and who may set which
target.

A rep sees their own figures, a supervisor also those of users in their team or below,
a manager their region, an admin everything. Figures of records with no owner (customers
and opportunities back in the pool) belong to the pool of their region: supervisors and
managers of that region and admins see them. Sharing a record gives access to it, not to
its owner's figures. Report filters (`owner_id`, `team`, `region`) only narrow that.
"""
from __future__ import annotations

from dataclasses import dataclass

from crmkit.errors import Forbidden, Invalid
from crmkit.identity import Identity
from crmkit.visibility import Owner, can_see, team_within
from services.reporting.counters import owner_segment


@dataclass(frozen=True)
class Filters:
    owner_id: str | None = None
    team: str | None = None
    region: str | None = None


def is_pool(entry: dict) -> bool:
    return entry["_id"].startswith("p:")


def can_view_segment(viewer: Identity, entry: dict) -> bool:
    if viewer.role == "admin":  # every person and pool (can_see's first rule)
        return True
    if is_pool(entry):
        return viewer.role in ("supervisor", "manager") and \
            entry.get("region") in (None, viewer.region)
    return can_see(viewer, Owner(entry.get("owner_id"), entry.get("team"),
                                 entry.get("region")))


def keeps(entry: dict, filters: Filters) -> bool:
    if filters.owner_id and entry.get("owner_id") != filters.owner_id:
        return False
    if filters.team and not team_within(entry.get("team"), filters.team):
        return False
    if filters.region and entry.get("region") != filters.region:
        return False
    return True


def visible_entries(rm, viewer: Identity, filters: Filters = Filters(), *,
                    directory: list[dict] | None = None) -> dict:
    """segment -> directory entry, for every segment the caller sees and filters keep."""
    return {e["_id"]: e for e in (rm.list_directory() if directory is None else directory)
            if can_view_segment(viewer, e) and keeps(e, filters)}



def target_visible(viewer: Identity, scope: str, doc: dict, entries: dict,
                    filters: Filters) -> bool:
    key = doc["key"]
    if scope == "owner":
        return f"u:{key}" in entries
    if filters.owner_id:
        return False
    if scope == "team":
        if filters.team and not team_within(key, filters.team):
            return False
        if filters.region and doc.get("region") != filters.region:
            return False
        if viewer.role == "admin":
            return True
        if viewer.role == "supervisor":
            return team_within(key, viewer.team)
        return viewer.role == "manager" and doc.get("region") == viewer.region
    if filters.team or (filters.region and key != filters.region):
        return False
    return viewer.role == "admin" or (
        viewer.role in ("supervisor", "manager") and key == viewer.region)



def target_region(viewer: Identity, scope: str, key: str, directory: list[dict]) -> str | None:
    """Checks the caller may set this target; returns the region it belongs to."""
    refuse = Forbidden("You may only set targets within what you oversee. "
                       "只能为您管辖范围内设置目标。", code="forbidden")
    entries = {e["_id"]: e for e in directory}
    if scope == "owner":
        entry = entries.get(owner_segment(key))
        if entry is None:
            raise Invalid("owner_id", "Unknown user. 用户不存在。", code="unknown_user")
        if not can_view_segment(viewer, entry):
            raise refuse
        return entry.get("region")
    if scope == "team":
        members = [e for e in entries.values()
                   if not is_pool(e) and team_within(e.get("team"), key)]
        region = members[0].get("region") if members else None
        if viewer.role == "admin":
            return region
        if viewer.role == "supervisor" and team_within(key, viewer.team):
            return region or viewer.region
        if viewer.role == "manager" and all(m.get("region") == viewer.region
                                            for m in members):
            return viewer.region
        raise refuse
    if viewer.role == "admin" or (viewer.role == "manager" and key == viewer.region):
        return key
    raise refuse
