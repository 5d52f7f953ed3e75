"""Shared fixtures for the gateway's unit tests (a stand-in upstream service at most)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from gateway.identity.domain import User


class FakeHasher:
    """A transparent stand-in for argon2, so domain tests run in microseconds."""

    def __init__(self, scheme: str = "v1"):
        self.scheme = scheme
        self.dummy_calls = 0

    def hash(self, password: str) -> str:
        return f"{self.scheme}${password[::-1]}"

    def verify(self, password_hash: str, password: str) -> bool:
        _, _, body = password_hash.partition("$")
        return body == password[::-1]

    def needs_rehash(self, password_hash: str) -> bool:
        return not password_hash.startswith(self.scheme + "$")

    def verify_dummy(self, password: str) -> None:
        self.dummy_calls += 1


NOW = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def hasher():
    return FakeHasher()


@pytest.fixture
def make_user(hasher):
    def make(**overrides) -> User:
        fields = dict(username="zhang.san", name="张三", password="Initial#2026", role="rep",
                      team="east/shanghai/team-1", region="east", hasher=hasher, now=NOW)
        fields.update(overrides)
        return User.create(**fields)

    return make


class Upstream:
    """A stand-in service on a free local port, speaking HTTP/1.1 with keep-alive: it
    records each request target and counts the connections it accepted. `close_after`
    (a path) is answered, then its connection is closed by the server without saying so,
    as a service does when its keep-alive runs out."""

    def __init__(self):
        import http.server
        import threading

        upstream = self
        self.targets: list[str] = []
        self.connections = 0
        self.closed = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                upstream.connections += 1

            def do_GET(self):
                upstream.targets.append(self.path)
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                if self.path.startswith("/close-after"):
                    self.close_connection = True

            def finish(self):
                super().finish()
                upstream.closed.set()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream():
    server = Upstream()
    yield server
    server.stop()
