"""People, clocks and sample tasks shared by the tasks tests."""
from __future__ import annotations

import people
from people import NOW, person


class Clock:
    """A clock a test moves by hand: `clock.now += timedelta(...)`."""
    def __init__(self):
        self.now = NOW

    def __call__(self):
        return self.now


PEOPLE = {
    "rep1": person("rep1", "rep", "east/shanghai/team-1"),
    "rep2": person("rep2", "rep", "east/shanghai/team-1"),
    "rep3": person("rep3", "rep", "east/shanghai/team-2"),
    "sup1": person("sup1", "supervisor", "east/shanghai/team-1"),
    "sup_sh": person("sup_sh", "supervisor", "east/shanghai"),
    "sup_west": person("sup_west", "supervisor", "west/chengdu", region="west"),
    "mgr_east": person("mgr_east", "manager", "east", region="east"),
    "mgr_west": person("mgr_west", "manager", "west", region="west"),
    "admin": person("admin", "admin", "hq", region="hq"),
    "rep_west": person("rep_west", "rep", "west/chengdu/team-1", region="west"),
}


def owner_of(user_id):
    return people.owner_of(PEOPLE[user_id])


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
