"""Fixtures for every layer. Integration tests use the real local RabbitMQ (a missing
broker fails in CI and skips elsewhere) and the session's FerretDB (crm_testing.
session_mongo_url); e2e tests start `crm up`."""
from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from crm_testing import Org, flask_transport, integration_settings, running_system

BROKER = os.environ.get("CRM_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


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


@pytest.fixture
def settings(amqp_url):
    return integration_settings(amqp_url)


@pytest.fixture
def system(settings):
    """The whole system in this process on the real broker: gateway + four services."""
    with running_system(settings) as running:
        yield running


@pytest.fixture
def org(system) -> Org:
    """Admin session plus a factory of ready users, talking to the gateway."""
    return Org(flask_transport(system.gateway.test_client()))
