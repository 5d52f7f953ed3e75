"""E2E: the whole system started as a user starts it (`crm up`), driven over HTTP."""
from __future__ import annotations

import pytest

from crm_process import crm_up
from crm_testing import Org, http_transport


@pytest.fixture(scope="session")
def crm(broker_vhosts):
    """`crm up` with the real broker: gateway and services as separate processes.

    Shared by every e2e module and stopped after the last of them (crm_testing.
    release_after_group), with a virtual host of its own: its consumers never compete
    with the systems the integration tests start."""
    with crm_up(amqp_url=broker_vhosts("e2e"), group="e2e") as running:
        yield running


@pytest.fixture(scope="session")
def org(crm) -> Org:
    return Org(http_transport(crm.base_url))
