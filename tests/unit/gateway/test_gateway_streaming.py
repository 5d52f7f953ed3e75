"""An export is passed on as it arrives: the gateway hands its client the first piece
while the service is still producing the rest (over HTTP and in process), and a client
that leaves mid-way leaves no half-read connection to the next request."""
from __future__ import annotations

import threading

import pytest
from flask import Flask, Response, stream_with_context
from werkzeug.serving import make_server

from gateway.proxy import HttpServiceClient, InProcessServiceClient, is_streamed

EXPORT = "/api/v1/customers/export"
PATIENCE_S = 30.0   # generous: the service waits on the test, never the other way round


def slow_export_app(first_piece_read: threading.Event) -> Flask:
    """A service whose export sends its first row, then waits until the test has read
    it before sending the rest: a buffering client would wait for ever (and fail)."""
    app = Flask("export")

    @app.get(EXPORT)
    def export():
        def rows():
            yield b"first row\n"
            if not first_piece_read.wait(PATIENCE_S):
                raise AssertionError("the first row was not read before the rest was asked")
            yield b"the rest\n"
        return Response(stream_with_context(rows()), content_type="text/csv")   # as services do

    return app


def test_only_exports_are_streamed():
    assert is_streamed("GET", EXPORT)
    assert is_streamed("GET", "/api/v1/opportunities/export")
    assert not is_streamed("POST", EXPORT)
    assert not is_streamed("GET", "/api/v1/customers/c1")


def read_through(reply, first_piece_read: threading.Event) -> bytes:
    assert reply.status == 200 and reply.chunks is not None
    pieces = iter(reply.content)
    first = next(pieces)
    first_piece_read.set()
    return first + b"".join(pieces)


def test_the_in_process_client_passes_an_export_on_as_it_comes():
    first_piece_read = threading.Event()
    client = InProcessServiceClient("customer", slow_export_app(first_piece_read))
    reply = client.request("GET", EXPORT)
    assert read_through(reply, first_piece_read) == b"first row\nthe rest\n"


def test_an_in_process_export_streams_through_a_gateway_request():
    """The service's streamed answer outlives the gateway's request that forwarded it:
    their Flask contexts must not interleave (popping one found the other on top)."""
    first_piece_read = threading.Event()
    client = InProcessServiceClient("customer", slow_export_app(first_piece_read))
    gateway = Flask("gateway")

    @gateway.get(EXPORT)
    def forward():
        return Response(client.request("GET", EXPORT).content, content_type="text/csv")

    reply = gateway.test_client().get(EXPORT, buffered=False)
    pieces = iter(reply.response)
    assert next(pieces) == b"first row\n"
    first_piece_read.set()
    assert b"".join(pieces) == b"the rest\n"
    reply.close()


@pytest.fixture
def served():
    """Serve a WSGI app on a free local port for the duration of a test."""
    servers = []

    def serve(app) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield serve
    for server in servers:
        server.shutdown()


def test_the_http_client_passes_an_export_on_as_it_comes(served):
    first_piece_read = threading.Event()
    client = HttpServiceClient("customer", served(slow_export_app(first_piece_read)))
    reply = client.request("GET", EXPORT)
    assert read_through(reply, first_piece_read) == b"first row\nthe rest\n"
    # read to the end, its connection serves the next request
    assert b"".join(client.request("GET", EXPORT).content) == b"first row\nthe rest\n"


def test_a_client_leaving_mid_export_leaves_the_next_request_whole(served):
    first_piece_read = threading.Event()
    client = HttpServiceClient("customer", served(slow_export_app(first_piece_read)))
    pieces = client.request("GET", EXPORT).content
    assert next(pieces) == b"first row\n"
    pieces.close()            # what the WSGI server does when its client goes away
    first_piece_read.set()    # the service now sends the rest down that connection
    # a half-read connection put back in the pool would hand the next request "the rest"
    assert b"".join(client.request("GET", EXPORT).content) == b"first row\nthe rest\n"
