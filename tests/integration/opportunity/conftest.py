"""One system per test module (the real local RabbitMQ + FerretDB) and a cast of users.

Tests in a module share the system but each makes its own customers and opportunities,
so they do not depend on one another; what is global (the pipeline) is tested in a
module of its own.
"""
from __future__ import annotations


import pytest

from crm_testing import Org, eventually


# The root fixtures (tests/conftest.py: `settings`, `system`, `org`) under the names
# these modules use: the opportunity service needs no setting of its own.
@pytest.fixture(scope="module")
def opp_settings(settings):
    return settings


@pytest.fixture(scope="module")
def opp_system(system):
    return system


@pytest.fixture(scope="module")
def opp_org(org) -> Org:
    return org


@pytest.fixture(scope="module")
def people(opp_org, opp_system, opp_settings):
    """Two reps of team-1 and their supervisor; a rep and a supervisor in hangzhou; the
    manager of east; a supervisor and a manager of west; the admin."""
    p = {
        "rep1": opp_org.user("rep", "east/shanghai/team-1"),
        "rep2": opp_org.user("rep", "east/shanghai/team-1"),
        "rep3": opp_org.user("rep", "east/hangzhou/team-1"),
        "sup1": opp_org.user("supervisor", "east/shanghai"),
        "sup2": opp_org.user("supervisor", "east/hangzhou"),
        "mgr": opp_org.user("manager", "east"),
        "sup_w": opp_org.user("supervisor", "west/chengdu", region="west"),
        "mgr_w": opp_org.user("manager", "west", region="west"),
        "admin": opp_org.admin,
    }
    from crmkit.mongo import get_database
    users = get_database(opp_settings.mongo_url,
                         opp_settings.database_name("opportunity"))["users"]
    for session in p.values():
        if session.id:
            eventually(lambda: users.find_one({"_id": session.id}), timeout=10,
                       message="opportunity service knows the user")
    return p
