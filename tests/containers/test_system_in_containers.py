"""End to end on real MongoDB and RabbitMQ containers, with every part of the CRM in its
own process: log in as the bootstrap admin, create a customer through the gateway, and
see the reporting service (fed only by events) count it.

Needs a Docker engine; skipped with the reason where there is none.
"""
from __future__ import annotations

import os
import time

import pytest

from crm_testing import Org, eventually, http_transport

# Pulling the images the first time can take minutes; the flow itself takes seconds.
pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

# CONTRACT §7: a change shows up in reports within 2 seconds at ordinary load.
REPORT_DEADLINE_S = float(os.environ.get("CRM_TEST_REPORT_DEADLINE", "2"))

CUSTOMER = {"name": "容器测试科技有限公司", "industry": "IT", "status": "potential",
            "primary_contact": {"name": "李四", "phone": "13912345678"}}


def test_created_customer_reaches_the_report_across_processes(crm_system):
    org = Org(http_transport(crm_system.base_url), admin_username=crm_system.admin_username,
              admin_password=crm_system.admin_password)
    admin = org.admin
    summary = admin.get("/api/v1/reports/summary")
    assert summary.status_code == 200, summary
    before = summary.json["customers"]

    created = admin.post("/api/v1/customers", json=CUSTOMER,
                         headers={"X-Request-ID": "containers-e2e-1"})
    assert created.status_code == 201, f"{created}\n{crm_system.processes.report()}"
    started = time.monotonic()

    try:
        eventually(lambda: admin.get("/api/v1/reports/summary").json["customers"] == before + 1,
                   timeout=REPORT_DEADLINE_S, interval=0.05,
                   message="reporting counts the new customer")
    except AssertionError as error:
        raise AssertionError(f"{error}\n{crm_system.processes.report()}") from None
    assert time.monotonic() - started < REPORT_DEADLINE_S

    # Two reporting workers compete on one queue; the event is still counted once: a
    # second customer, created after it, is counted and the total is exactly two more.
    second = admin.post("/api/v1/customers", json={**CUSTOMER, "name": "容器测试二号有限公司"})
    assert second.status_code == 201, second
    eventually(lambda: admin.get("/api/v1/reports/summary").json["customers"] >= before + 2,
               interval=0.05, message="reporting counts the second customer")
    assert admin.get("/api/v1/reports/summary").json["customers"] == before + 2

    fetched = admin.get(f"/api/v1/customers/{created.json['id']}")
    assert fetched.status_code == 200, fetched
    assert fetched.json["name"] == CUSTOMER["name"]


def test_every_process_stops_cleanly_on_sigterm(crm_system):
    # Runs after the flow above (same module, file order): stopping is the last step.
    codes = crm_system.processes.stop_all()
    unclean = {name: code for name, code in codes.items() if code != 0}
    assert not unclean, (f"exit codes after SIGTERM (None = had to be killed): {unclean}\n"
                         f"{crm_system.processes.report()}")
