"""One system per test module (the real local RabbitMQ + mongomock) and a cast of users.

Tests in a module share the system but each makes its own customers and opportunities,
so they do not depend on one another; what is global (the pipeline) is tested in a
module of its own.
"""
from __future__ import annotations

import uuid

import pytest

from crm_testing import ADMIN_PASSWORD, Org, eventually, flask_transport


def _purge(url: str) -> None:
    from crm.system import subscriptions
    from crmkit.bus.connection import connect
    from crmkit.bus.topology import QueueNames, declare_service

    with connect(url) as connection:
        for service, keys in subscriptions().items():
            names = QueueNames(service)
            channel = connection.channel()
            for queue in (names.main, names.retry, names.parking):
                channel.queue_delete(queue)
            channel.close()
            declare_service(connection, service, keys)


@pytest.fixture(scope="module")
def opp_settings(amqp_url):
    from crmkit.config import Settings

    return Settings(amqp_url=amqp_url, mongo_url="mongomock://",
                    db_prefix=f"t{uuid.uuid4().hex[:10]}_", admin_password=ADMIN_PASSWORD,
                    retry_delay_ms=200, max_attempts=3, relay_interval=0.05, embedded=False,
                    jwt_secret="integration-test-secret-" + "x" * 24)


@pytest.fixture(scope="module")
def opp_system(opp_settings):
    from crm.system import EmbeddedSystem

    _purge(opp_settings.amqp_url)
    running = EmbeddedSystem(opp_settings)
    client = running.gateway.test_client()
    eventually(lambda: client.get("/healthz").status_code == 200, timeout=15,
               message="system healthy")
    yield running
    running.stop()
    _purge(opp_settings.amqp_url)


@pytest.fixture(scope="module")
def opp_org(opp_system) -> Org:
    return Org(flask_transport(opp_system.gateway.test_client()))


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
