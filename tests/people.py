"""The one factory of test identities (`crmkit.identity.Identity`), and the kernel
tests' viewers, one of each kind. Each domain's own cast (opp_people, task_people,
the services' fixtures) is made with `person`."""
from __future__ import annotations

from datetime import datetime, timezone

from crmkit.identity import Identity
from crmkit.visibility import Owner

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)   # 10:00 in Shanghai


def person(user_id: str, role: str = "rep", team: str = "east/shanghai/team-1",
           region: str = "east", *, name: str | None = None,
           timezone: str = "Asia/Shanghai") -> Identity:
    """Someone signed in: the username is the id, the name its title unless given."""
    return Identity(user_id=user_id, username=user_id, name=name or user_id.title(),
                    role=role, team=team, region=region, timezone=timezone)


def owner_of(identity: Identity) -> Owner:
    return Owner(identity.user_id, identity.team, identity.region)


# The kernel's visibility tests: one viewer of each kind
REP = person("rep1", "rep", team="east/sh/t1")
SUPERVISOR = person("sup1", "supervisor", team="east/sh")
MANAGER = person("mgr1", "manager", team="east", region="east")
ADMIN = person("adm1", "admin", team="hq", region="hq")
