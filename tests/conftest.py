"""Fixtures for every layer. Integration tests use the real local RabbitMQ (a missing
broker fails in CI and skips elsewhere) and the session's FerretDB (crm_testing.
session_mongo_url); e2e tests start `crm up`."""
from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from crm_testing import (LAST_OF_GROUP, RELEASE_AFTER, Org, flask_transport,
                         integration_settings, reports_caught_up, running_system, test_group)

BROKER = os.environ.get("CRM_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")

# The suite signs hundreds of users in: the cheapest argon2 cost (the defaults are the
# unit tests' business) for the systems it starts, in this process and in `crm up`.
for _name, _value in (("CRM_ARGON2_TIME_COST", "1"), ("CRM_ARGON2_MEMORY_KIB", "8"),
                      ("CRM_ARGON2_PARALLELISM", "1")):
    os.environ.setdefault(_name, _value)


def _broker_answers(url: str) -> str | None:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1)
        return None
    except Exception as error:  # the reason goes into the skip / failure message
        return f"{error.__class__.__name__}: {error}"


def _rabbitmqctl(*args: str) -> bool:
    try:
        return subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True,
                              timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def broker_vhosts():
    """Makes virtual hosts on the real local RabbitMQ, each an isolated broker, so that
    concurrent test runs, benchmarks, a running `crm up` and long-lived test systems
    never share a queue. All are deleted at the end of the session."""
    problem = _broker_answers(BROKER)
    if problem:
        message = f"RabbitMQ is not reachable at {BROKER} ({problem})"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI needs the real broker")
        pytest.skip(message)
    made: list[str] = []

    def make(purpose: str) -> str:
        vhost = f"crm-{purpose}-{uuid.uuid4().hex[:8]}"
        if not (_rabbitmqctl("add_vhost", vhost)
                and _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")):
            return BROKER  # no rabbitmqctl here (remote broker): share the default vhost
        made.append(vhost)
        return BROKER.rstrip("/") + "/" + vhost

    yield make
    for vhost in made:
        _rabbitmqctl("delete_vhost", vhost)


@pytest.fixture(scope="session")
def amqp_url(broker_vhosts) -> str:
    """The real broker for this session's integration tests (its own virtual host)."""
    return broker_vhosts("test")


@pytest.fixture(scope="session")
def demo_crm():
    """`crm up --demo` as a user starts it (embedded, its own data folder), with the built
    console, once the demo is in and reporting has taken it in. Shared by the browser
    tests and the e2e tests of the demo (one group: crm_testing.test_group), and stopped
    after the last of them."""
    from console_build import ensure_built
    from crm_process import crm_up

    ensure_built()
    with crm_up(amqp_url=None, group="demo", args=("--demo",),
                extra_env={"CRM_CONSOLE_BUILD": "0"}) as running:
        running.wait_for_output("Demo logins")  # the demo data is all in
        reports_caught_up(running.base_url)
        yield running


@pytest.fixture(scope="module")
def settings(amqp_url):
    return integration_settings(amqp_url)


@pytest.fixture(scope="module")
def system(settings):
    """The whole system in this process on the real broker: gateway + four services,
    shared by the tests of a module (each makes its own users and records)."""
    with running_system(settings) as running:
        yield running


@pytest.fixture(scope="module")
def org(system) -> Org:
    """Admin session plus a factory of ready users, talking to the gateway."""
    return Org(flask_transport(system.gateway.test_client()))


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_make_parametrize_id(config, val, argname):
    """Long bytes get a short id that is not about their content: every xdist worker
    must collect the same ids, and a file made at collection time (a zip stamps the
    clock) differs between workers, even in length (an xlsx: 4,853 or 4,854 bytes)."""
    if isinstance(val, bytes) and len(val) > 32:
        return f"{argname}-bytes"
    return None


def pytest_collection_modifyitems(config, items):
    """Groups for pytest-xdist (`--dist loadgroup`, set in pyproject): what shares a
    running system runs in one worker, so each system starts once (crm_testing.
    test_group). A group's tests are also made adjacent (in one process too), so that
    its shared system can stop as soon as its last test is done. The first test of a
    group that starts `crm up` also waits for it to start, hence a longer timeout."""
    first_seen: dict[str | None, int] = {}
    for item in items:
        first_seen.setdefault(test_group(item), len(first_seen))
    items.sort(key=lambda item: first_seen[test_group(item)])
    for item in items:
        group = test_group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
            LAST_OF_GROUP[group] = item
        if group in ("demo", "e2e", "faults"):
            item.add_marker(pytest.mark.timeout(1200))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    yield
    group = test_group(item)
    if group is not None and LAST_OF_GROUP.get(group) is item:
        for stop in RELEASE_AFTER.pop(group, []):
            stop()
