"""One running system per test module (gateway + services in this process, the real
RabbitMQ, FerretDB): starting it takes seconds, and every test makes its own users and
customers, so tests of a module do not see each other's data."""
from __future__ import annotations


import pytest

from crm_testing import Org


# The root fixtures (tests/conftest.py: `settings`, `system`, `org`) under the names
# these modules use: the customer service needs no setting of its own.
@pytest.fixture(scope="module")
def customer_settings(settings):
    return settings


@pytest.fixture(scope="module")
def csys(system):
    return system


@pytest.fixture(scope="module")
def corg(org) -> Org:
    return org


@pytest.fixture(scope="module")
def handlers(csys):
    """The customer service's use cases (for what only a scheduler or consumer does)."""
    return csys.services["customer"].blueprints["customers"].handlers
