"""The foundation as a user meets it: `crm up`, health, login, a write that reaches
reporting, the public documents, and a clean stop."""
from __future__ import annotations

import json
import signal
import time
import urllib.request

from crm_process import RunningCrm, processes_marked
from crm_testing import Org, eventually, http_transport

CUSTOMER = {"name": "北京华远科技有限公司", "industry": "IT", "status": "intent",
            "primary_contact": {"name": "李雷", "phone": "13912345678"}}


def get_json(url: str):
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_readyz_lists_every_service_and_dependency(crm):
    status, report = get_json(f"{crm.base_url}/readyz")
    assert status == 200
    assert report["ready"] is True and report["mode"] == "distributed"
    assert set(report["services"]) == {"customer", "opportunity", "tasks", "reporting"}
    for name, service in report["services"].items():
        assert service["ready"] is True, name
        assert service["checks"]["mongo"] == "ok" and service["checks"]["broker"] == "ok"
    assert report["gateway"]["checks"]["relay"] == "ok"


def test_a_customer_created_through_the_gateway_shows_in_reports(crm, org):
    rep = org.user("rep")
    before = rep.get("/api/v1/reports/summary").json["customers"]
    created = rep.post("/api/v1/customers", json=CUSTOMER)
    assert created.status_code == 201, created
    assert created.headers["ETag"] == '"1"'
    started = time.monotonic()
    eventually(lambda: rep.get("/api/v1/reports/summary").json["customers"] == before + 1,
               timeout=2, message="the new customer counted by reporting")
    assert time.monotonic() - started <= 2


def test_errors_are_problem_json(crm, org):
    anonymous = org.anonymous()
    missing = anonymous.get("/api/v1/customers")
    assert missing.status_code == 401
    assert missing.headers["Content-Type"] == "application/problem+json"
    assert {"status", "title", "detail", "code"} <= set(missing.json)
    rep = org.user("rep")
    bad = rep.post("/api/v1/customers", json={**CUSTOMER, "number": "CRM1", "version": 7,
                                              "favourite_colour": "red"})
    assert bad.status_code == 422 and bad.json["code"] == "unknown_field"
    assert {"number", "version", "favourite_colour"} <= set(bad.json["errors"])
    malformed = rep.post("/api/v1/customers", data=b"{nope", content_type="application/json")
    assert malformed.status_code == 400
    assert rep.get("/api/v1/no-such-thing").status_code == 404


def test_openapi_and_event_catalog_are_merged(crm, org):
    status, openapi = get_json(f"{crm.base_url}/api/v1/openapi.json")
    assert status == 200 and openapi["openapi"].startswith("3.")
    for path in ("/api/v1/auth/login", "/api/v1/customers", "/api/v1/reports/summary"):
        assert path in openapi["paths"], path
    status, catalog = get_json(f"{crm.base_url}/api/v1/events/catalog")
    assert status == 200 and catalog["asyncapi"] == "3.0.0"
    for event_type in ("customer.created", "user.created", "user.updated"):
        assert event_type in catalog["channels"], event_type


def test_sigterm_stops_every_process(broker_vhosts):
    running = RunningCrm(amqp_url=broker_vhosts("e2e"))
    try:
        running.wait_healthy()
        assert len(processes_marked(running.marker)) >= 6  # supervisor + 5 servers (+ workers)
        assert running.stop(signal.SIGTERM) == 0
        eventually(lambda: not processes_marked(running.marker), timeout=10,
                   message="no process of the system left")
    finally:
        running.kill_leftovers()


def test_embedded_default_runs_in_one_process_and_says_data_is_not_kept():
    running = RunningCrm(amqp_url=None)
    try:
        running.wait_healthy()
        assert "data is NOT kept" in running.output()
        org = Org(http_transport(running.base_url))
        rep = org.user("rep")
        assert rep.post("/api/v1/customers", json=CUSTOMER).status_code == 201
        eventually(lambda: rep.get("/api/v1/reports/summary").json["customers"] == 1,
                   timeout=2, message="embedded bus delivers to reporting")
        status, report = get_json(f"{running.base_url}/readyz")
        assert report["mode"] == "embedded"
        assert running.stop(signal.SIGINT) == 0
        eventually(lambda: not processes_marked(running.marker), timeout=10,
                   message="no process left")
    finally:
        running.kill_leftovers()
