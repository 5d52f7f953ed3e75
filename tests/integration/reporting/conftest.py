"""Fixtures for reporting's integration tests: people, and a publisher on the real bus."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from crm_testing import Org, caught_up, eventually, flask_transport, running_system
from crmkit.bus.publisher import Publisher
from reporting_envelopes import Producer

TEAM1, TEAM2, NORTH = "east/shanghai/team-1", "east/shanghai/team-2", "north/beijing/team-1"


@pytest.fixture(scope="module")
def reporting_system(settings):
    with running_system(settings) as running:
        yield running


@pytest.fixture
def system(reporting_system):
    """The module's system, its reporting service emptied before each test: these tests
    read organisation-wide figures (the admin's funnel, the regions' attainment, ABC
    classes), which earlier tests' data would change. Once everything sent so far is
    handled (`caught_up`: markers through the queue), the kept events and the targets go
    and a rebuild drops the read models and the service's caches: a reporting service
    that has seen nothing."""
    handlers = reporting_system.services["reporting"].blueprints["reports"].handlers
    repository = handlers.repository
    caught_up(reporting_system, "reporting")
    repository.events.delete_many({})
    repository.target_docs.delete_many({})
    handlers.rebuild(grace=0)
    return reporting_system


@pytest.fixture(scope="module")
def org(reporting_system) -> Org:
    return Org(flask_transport(reporting_system.gateway.test_client()))


@pytest.fixture
def people(org, system):
    """Sessions of a small organisation (the reporting directory learns them by events)."""
    crew = SimpleNamespace(
        admin=org.admin,
        rep1=org.user("rep", team=TEAM1, region="east", name="张三"),
        rep2=org.user("rep", team=TEAM1, region="east", name="李四"),
        rep3=org.user("rep", team=TEAM2, region="east", name="王五"),
        rep4=org.user("rep", team=NORTH, region="north", name="赵六"),
        sup=org.user("supervisor", team=TEAM1, region="east", name="主管"),
        mgr=org.user("manager", team="east", region="east", name="经理"),
    )
    # reporting has seen everyone's user.created once it accepts a target for each
    # (a period long past, so that no report of the tests shows it)
    for person in (crew.rep1, crew.rep2, crew.rep3, crew.rep4, crew.sup, crew.mgr):
        eventually(lambda: crew.admin.put("/api/v1/targets", json={
            "period": "2000-01", "owner_id": person.id, "amount": "1.00"}).status_code == 200,
            timeout=5, message="reporting knows the user")
    return crew


@pytest.fixture
def bus(settings):
    publisher = Publisher(settings.amqp_url)

    def publish(*envelopes):
        for envelope in envelopes:
            publisher.publish(envelope)

    yield publish
    publisher.close()


@pytest.fixture
def produce():
    return Producer()


@pytest.fixture
def projected(system):
    """Waits until the reporting service has projected each of the given envelopes: its
    entity's state has seen the event and carries no unfinished counter delta. (A report
    showing some final figure does not say that every other event has landed too.)"""
    from crmkit.mongo import get_database
    from services.reporting.entities import entity_ref
    from services.reporting.repository import STATES

    states = get_database(system.settings.mongo_url,
                          system.settings.database_name("reporting"))[STATES]

    def done(envelopes) -> bool:
        for envelope in envelopes:
            ref = entity_ref(envelope)
            if ref is None:
                continue
            state = states.find_one({"_id": f"{ref[0]}:{ref[1]}"})
            if not state or envelope["id"] not in (state.get("seen") or ()) \
                    or state.get("pending"):
                return False
        return True

    def wait(envelopes, timeout: float = 30):
        envelopes = list(envelopes)
        eventually(lambda: done(envelopes), timeout=timeout, message="all projected")

    return wait


@pytest.fixture
def settled(system):
    """Waits until the reporting service has handled everything published to it so far,
    duplicates and redeliveries included (`caught_up`)."""
    def wait():
        caught_up(system, "reporting")
    return wait
