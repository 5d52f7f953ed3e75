"""One running system per test module (gateway + services in this process, the real
RabbitMQ, mongomock): starting it takes seconds, and every test makes its own users and
customers, so tests of a module do not see each other's data."""
from __future__ import annotations

import uuid

import pytest

from crm_testing import ADMIN_PASSWORD, Org, eventually, flask_transport, purge_crm_queues


@pytest.fixture(scope="module")
def customer_settings(amqp_url):
    from crmkit.config import Settings

    return Settings(amqp_url=amqp_url, mongo_url="mongomock://",
                    db_prefix=f"t{uuid.uuid4().hex[:10]}_", admin_password=ADMIN_PASSWORD,
                    retry_delay_ms=200, max_attempts=3, relay_interval=0.05, embedded=False,
                    jwt_secret="integration-test-secret-" + "x" * 24)


@pytest.fixture(scope="module")
def csys(customer_settings):
    from crm.system import EmbeddedSystem

    purge_crm_queues(customer_settings.amqp_url)
    running = EmbeddedSystem(customer_settings)
    client = running.gateway.test_client()
    eventually(lambda: client.get("/healthz").status_code == 200, timeout=20,
               message="system healthy")
    yield running
    running.stop()
    purge_crm_queues(customer_settings.amqp_url)


@pytest.fixture(scope="module")
def corg(csys) -> Org:
    return Org(flask_transport(csys.gateway.test_client()))


@pytest.fixture(scope="module")
def handlers(csys):
    """The customer service's use cases (for what only a scheduler or consumer does)."""
    return csys.services["customer"].blueprints["customers"].handlers
