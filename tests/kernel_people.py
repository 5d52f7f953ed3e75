"""Viewers of the kernel's visibility tests, one of each kind."""
from crmkit.identity import Identity


def person(user_id, role, team="east/sh/t1", region="east") -> Identity:
    return Identity(user_id=user_id, username=user_id, name=user_id, role=role, team=team,
                    region=region)


REP = person("rep1", "rep", team="east/sh/t1")
SUPERVISOR = person("sup1", "supervisor", team="east/sh")
MANAGER = person("mgr1", "manager", team="east", region="east")
ADMIN = person("adm1", "admin", team="hq", region="hq")
