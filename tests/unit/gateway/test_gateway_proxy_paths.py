"""Forwarding keeps the path the client sent: characters that arrived percent-encoded
(`%3F`, `%23`, `%25`, `%2F`...) are sent encoded again, over HTTP and in process."""
from __future__ import annotations

import pytest
from flask import Flask, jsonify, request

from gateway.proxy import HttpServiceClient, InProcessServiceClient, request_target

DECODED = "/api/v1/customers/a?b#c%d e/中"


def test_request_target_encodes_what_would_change_the_meaning_of_the_path():
    assert request_target(DECODED) == "/api/v1/customers/a%3Fb%23c%25d%20e/%E4%B8%AD"
    assert request_target("/api/v1/customers/x", "page=2") == "/api/v1/customers/x?page=2"
    # what is already plain stays plain
    assert request_target("/api/v1/pool/rules") == "/api/v1/pool/rules"
    assert request_target("/api/v1/a:b@c,d;e=f+g~h") == "/api/v1/a:b@c,d;e=f+g~h"


def test_the_http_client_sends_the_path_encoded(upstream):
    HttpServiceClient("customer", upstream.url + "/").request("GET", DECODED, query="page=1")
    assert upstream.targets == ["/api/v1/customers/a%3Fb%23c%25d%20e/%E4%B8%AD?page=1"]


@pytest.mark.parametrize("query", ["", "page=1"])
def test_the_in_process_client_hands_the_service_the_same_path(query):
    app = Flask("echo")

    @app.route("/<path:rest>", methods=["GET", "POST"])
    def echo(rest):
        return jsonify(path=request.path, args=request.args.to_dict())

    reply = InProcessServiceClient("customer", app).request("GET", DECODED, query=query)
    assert reply.status == 200
    assert reply.json() == {"path": DECODED, "args": {"page": "1"} if query else {}}
