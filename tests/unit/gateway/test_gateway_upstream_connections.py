"""The gateway's HTTP client keeps one connection per thread and service alive, and
never sends a request down a connection the service has closed."""
from __future__ import annotations

import select
import socket
import threading

import pytest

from crm_testing import eventually
from gateway.proxy import HttpServiceClient, ServiceUnavailable


def test_one_thread_reuses_its_connection(upstream):
    client = HttpServiceClient("customer", upstream.url)
    for _ in range(3):
        reply = client.request("GET", "/api/v1/customers/x")
        assert (reply.status, reply.json()) == (200, {"ok": True})
    assert upstream.connections == 1


def test_each_thread_has_a_connection_of_its_own(upstream):
    client = HttpServiceClient("customer", upstream.url)
    client.request("GET", "/api/v1/customers/x")
    other = threading.Thread(target=client.request, args=("GET", "/api/v1/customers/y"))
    other.start()
    other.join()
    assert upstream.connections == 2
    client.request("GET", "/api/v1/customers/z")   # this thread's own, still open
    assert upstream.connections == 2


def test_a_connection_the_service_closed_while_idle_is_replaced(upstream):
    client = HttpServiceClient("customer", upstream.url)
    assert client.request("GET", "/close-after").status == 200
    assert upstream.closed.wait(10)
    kept = client._kept.connection.sock

    def closed_seen() -> bool:
        return bool(select.select([kept], [], [], 0)[0])

    eventually(closed_seen, message="the service's close reaching the client")
    # sent down the closed connection, this would fail (502) instead of being answered
    assert client.request("GET", "/api/v1/customers/x").status == 200
    assert upstream.connections == 2


def test_a_service_that_is_not_listening_is_a_502():
    with socket.socket() as probe:       # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = HttpServiceClient("customer", f"http://127.0.0.1:{port}")
    with pytest.raises(ServiceUnavailable):
        client.request("GET", "/api/v1/customers/x")
