"""E2E: the whole system started as a user starts it (`crm up`), driven over HTTP."""
from __future__ import annotations

import pytest

from crm_process import RunningCrm
from crm_testing import Org, http_transport

@pytest.fixture(scope="session")
def crm(broker_vhosts):
    """`crm up` with the real broker: gateway and services as separate processes.

    Shared by every e2e module and alive until the session ends (tests/e2e is no
    package, so "package" scope would mean the same), hence a virtual host of its own:
    its consumers never compete with the systems the integration tests start."""
    running = RunningCrm(amqp_url=broker_vhosts("e2e"))
    try:
        running.wait_healthy()
        yield running
    finally:
        running.stop()
        running.kill_leftovers()


@pytest.fixture(scope="session")
def org(crm) -> Org:
    return Org(http_transport(crm.base_url))
