"""E2E: the whole system started as a user starts it (`crm up`), driven over HTTP."""
from __future__ import annotations

import pytest

from crm_process import RunningCrm
from crm_testing import Org, http_transport, purge_crm_queues

@pytest.fixture(scope="package")
def crm(amqp_url):
    """`crm up` with the real broker: gateway and services as separate processes."""
    purge_crm_queues(amqp_url)
    running = RunningCrm(amqp_url=amqp_url)
    try:
        running.wait_healthy()
        yield running
    finally:
        running.stop()
        running.kill_leftovers()
        purge_crm_queues(amqp_url)


@pytest.fixture(scope="package")
def org(crm) -> Org:
    return Org(http_transport(crm.base_url))
