"""People and clocks shared by the tasks unit tests."""
from __future__ import annotations

from datetime import datetime, timezone



from crmkit.identity import Identity
from crmkit.visibility import Owner

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)   # 10:00 in Shanghai


def ident(user_id, role, team, region="east", tz="Asia/Shanghai"):
    return Identity(user_id=user_id, username=user_id, name=user_id.title(), role=role,
                    team=team, region=region, timezone=tz)


PEOPLE = {
    "rep1": ident("rep1", "rep", "east/shanghai/team-1"),
    "rep2": ident("rep2", "rep", "east/shanghai/team-1"),
    "rep3": ident("rep3", "rep", "east/shanghai/team-2"),
    "sup1": ident("sup1", "supervisor", "east/shanghai/team-1"),
    "sup_sh": ident("sup_sh", "supervisor", "east/shanghai"),
    "sup_west": ident("sup_west", "supervisor", "west/chengdu", region="west"),
    "mgr_east": ident("mgr_east", "manager", "east", region="east"),
    "mgr_west": ident("mgr_west", "manager", "west", region="west"),
    "admin": ident("admin", "admin", "hq", region="hq"),
    "rep_west": ident("rep_west", "rep", "west/chengdu/team-1", region="west"),
}


def owner_of(user_id):
    p = PEOPLE[user_id]
    return Owner(p.user_id, p.team, p.region)


