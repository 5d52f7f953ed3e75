"""People, clocks and sample tasks shared by the tasks tests."""
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


def sample_tasks():
    """One task of each kind of holder, and below who may see which."""
    from datetime import timedelta

    from services.tasks.domain import create_task

    def make(actor, **kw):
        return create_task(PEOPLE[actor], due_at=NOW + timedelta(days=2), now=NOW,
                           title="拜访客户,对接技术方案细节", type="visit", **kw)

    return {
        "rep1_own": make("rep1"),
        "rep2_own": make("rep2"),
        "rep3_own": make("rep3"),
        "sup1_to_rep2": make("sup1", assignee=owner_of("rep2")),
        "pool_east": make("sup1", assignee=None),
        "pool_west": make("sup_west", assignee=None),
        "west_rep": make("rep_west"),
    }


EXPECTED_VISIBLE = {
    "rep1": {"rep1_own"},
    "rep2": {"rep2_own", "sup1_to_rep2"},
    "rep3": {"rep3_own"},
    "sup1": {"rep1_own", "rep2_own", "sup1_to_rep2", "pool_east"},
    "sup_sh": {"rep1_own", "rep2_own", "rep3_own", "sup1_to_rep2", "pool_east"},
    "sup_west": {"pool_west", "west_rep"},
    "mgr_east": {"rep1_own", "rep2_own", "rep3_own", "sup1_to_rep2", "pool_east"},
    "mgr_west": {"pool_west", "west_rep"},
    "admin": {"rep1_own", "rep2_own", "rep3_own", "sup1_to_rep2", "pool_east",
              "pool_west", "west_rep"},
    "rep_west": {"west_rep"},
}
