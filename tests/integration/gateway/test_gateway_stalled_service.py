"""One stalled service does not take the gateway down: a service frozen mid-request
(SIGSTOP, found by fault injection) with concurrent report requests made the gateway stop
answering every route, /livez included. Here every service is a socket that takes
requests and never answers: /livez still answers, /readyz says 503 within about a
second, a request waits only its route's timeout (504), and once one service holds its
share of the gateway's threads further requests to it are refused at once (503)."""
from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from crm_testing import ADMIN_PASSWORD, eventually, integration_settings
from crmkit.config import SERVICES
from crmkit.problems import CONTENT_TYPE as PROBLEM
from gateway.app import create_app
from gateway.proxy import MAX_IN_FLIGHT, SLOT_WAIT_S, HttpServiceClient

TIMEOUT_S = 5.0   # long enough that held requests still wait while the slot wait runs out


@pytest.fixture(scope="module")
def stalled():
    """A server that accepts connections, reads, and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", held
    stop.set()
    thread.join(5)
    for connection in held:
        connection.close()
    listener.close()


@pytest.fixture(scope="module")
def gateway(amqp_url, stalled):
    url, _ = stalled
    clients = {name: HttpServiceClient(name, url, timeout=TIMEOUT_S) for name in SERVICES}
    app = create_app(integration_settings(amqp_url), clients=clients, with_workers=False)
    login = app.test_client().post("/api/v1/auth/login",
                                   json={"username": "admin", "password": ADMIN_PASSWORD})
    assert login.status_code == 200, login.json
    yield app, {"Authorization": f"Bearer {login.json['access_token']}"}
    app.extensions["crm.gateway.callers"].stop()


def test_a_stalled_service_costs_its_routes_timeout_then_a_504_problem(gateway):
    app, auth = gateway
    started = time.monotonic()
    reply = app.test_client().get("/api/v1/customers", headers=auth)
    elapsed = time.monotonic() - started
    assert reply.status_code == 504 and reply.headers["Content-Type"] == PROBLEM, reply.json
    assert reply.json["code"] == "service_timeout"
    assert TIMEOUT_S <= elapsed < TIMEOUT_S + 10


def test_readiness_says_not_ready_quickly_and_liveness_still_answers(gateway):
    app, _ = gateway
    started = time.monotonic()
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503
    assert time.monotonic() - started < TIMEOUT_S   # the probes' own short timeout
    assert all(not s["ready"] for s in ready.json["services"].values())
    assert app.test_client().get("/livez").status_code == 200


def test_a_stalled_service_gets_its_share_of_threads_and_no_more(gateway, stalled):
    app, auth = gateway
    _, connections = stalled
    before = len(connections)
    with ThreadPoolExecutor(max_workers=MAX_IN_FLIGHT + 3) as pool:
        held = [pool.submit(app.test_client().get, "/api/v1/reports/summary", headers=auth)
                for _ in range(MAX_IN_FLIGHT)]
        # every held request is at the stalled service (each lasts TIMEOUT_S there)
        eventually(lambda: len(connections) >= before + MAX_IN_FLIGHT,
                   message="the held requests reached the service")
        started = time.monotonic()
        refused = app.test_client().get("/api/v1/reports/funnel", headers=auth)
        assert time.monotonic() - started < SLOT_WAIT_S + TIMEOUT_S   # not the timeout
        assert refused.status_code == 503 and refused.json["code"] == "service_busy"
        assert refused.headers["Retry-After"]
        # another service's routes are not held up by the stalled one's share
        other = pool.submit(app.test_client().get, "/api/v1/tasks", headers=auth)
        assert other.result(timeout=30).status_code == 504
        assert all(f.result(timeout=30).status_code == 504 for f in held)
    assert app.test_client().get("/livez").status_code == 200
