"""One running system per test module (gateway + services in this process, the real
RabbitMQ, FerretDB): starting it takes seconds, and every test makes its own users and
customers, so tests of a module do not see each other's data."""
from __future__ import annotations


import pytest

from crm_testing import Org, flask_transport, integration_settings, running_system


@pytest.fixture(scope="module")
def customer_settings(amqp_url):
    return integration_settings(amqp_url)


@pytest.fixture(scope="module")
def csys(customer_settings):
    with running_system(customer_settings) as running:
        yield running


@pytest.fixture(scope="module")
def corg(csys) -> Org:
    return Org(flask_transport(csys.gateway.test_client()))


@pytest.fixture(scope="module")
def handlers(csys):
    """The customer service's use cases (for what only a scheduler or consumer does)."""
    return csys.services["customer"].blueprints["customers"].handlers
