"""Helpers shared by the integration and e2e tests: polling, API sessions, users."""
from __future__ import annotations

import itertools
import json
import time
from typing import Any, Callable

ADMIN_PASSWORD = "Admin#Pass-2026"
USER_PASSWORD = "Sales#Pass-2026"
_counter = itertools.count(1)


def eventually(probe: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02,
               message: str = "condition"):
    """Poll until `probe()` returns something truthy; fail with the last value at the deadline."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{message} not met within {timeout}s (last: {last!r})")


class Response:
    """Same shape for Flask test-client and urllib responses."""

    def __init__(self, status: int, headers, body: bytes):
        self.status_code = status
        self.headers = headers
        self.data = body

    @property
    def json(self):
        return json.loads(self.data) if self.data else None

    def __repr__(self):
        return f"<Response {self.status_code} {self.data[:300]!r}>"


class Session:
    """Requests as one user (or anonymous), against a transport callable."""

    def __init__(self, transport, token: str | None = None, user: dict | None = None):
        self._transport = transport
        self.token = token
        self.user = user or {}

    @property
    def id(self) -> str:
        return self.user.get("id")

    def request(self, method: str, path: str, *, json_body=None, headers=None, data=None,
                content_type=None) -> Response:
        headers = dict(headers or {})
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return self._transport(method, path, json_body, headers, data, content_type)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, json=None, **kw):
        return self.request("POST", path, json_body=json, **kw)

    def put(self, path, json=None, **kw):
        return self.request("PUT", path, json_body=json, **kw)

    def patch(self, path, json=None, **kw):
        return self.request("PATCH", path, json_body=json, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


def flask_transport(client):
    def send(method, path, json_body, headers, data, content_type):
        kwargs = {"headers": headers}
        if json_body is not None:
            kwargs["json"] = json_body
        elif data is not None:
            kwargs["data"] = data
            if content_type:
                kwargs["content_type"] = content_type
        reply = client.open(path, method=method, **kwargs)
        return Response(reply.status_code, reply.headers, reply.get_data())
    return send


def http_transport(base_url: str):
    import urllib.error
    import urllib.request

    def send(method, path, json_body, headers, data, content_type):
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers = {**headers, "Content-Type": "application/json"}
        elif data is not None:
            body = data
            if content_type:
                headers = {**headers, "Content-Type": content_type}
        request = urllib.request.Request(base_url + path, data=body, method=method,
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                return Response(reply.status, reply.headers, reply.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, error.headers, error.read())
    return send


class Org:
    """Log in and create users through the public API, as an admin would."""

    def __init__(self, transport, admin_username: str = "admin",
                 admin_password: str = ADMIN_PASSWORD):
        self.transport = transport
        self.admin = self.login(admin_username, admin_password)
        assert self.admin.token, "bootstrap admin could not log in"

    def anonymous(self) -> Session:
        return Session(self.transport)

    def login(self, username: str, password: str) -> Session:
        reply = Session(self.transport).post("/api/v1/auth/login",
                                             json={"username": username, "password": password})
        if reply.status_code != 200:
            return Session(self.transport, None, {"login_status": reply.status_code})
        session = Session(self.transport, reply.json["access_token"])
        me = session.get("/api/v1/me")
        session.user = me.json if me.status_code == 200 else {"username": username}
        return session

    def user(self, role: str = "rep", team: str = "east/shanghai/team-1", region: str = "east",
             *, timezone: str = "Asia/Shanghai", username: str | None = None) -> Session:
        """A ready user: created by the admin, logged in, first password changed."""
        username = username or f"{role}{next(_counter)}_{int(time.time() * 1000) % 100000}"
        created = self.admin.post("/api/v1/users", json={
            "username": username, "name": username.title(), "password": "Temp#Pass-2026",
            "role": role, "team": team, "region": region, "timezone": timezone})
        assert created.status_code == 201, created
        session = self.login(username, "Temp#Pass-2026")
        changed = session.post("/api/v1/auth/password", json={
            "old_password": "Temp#Pass-2026", "new_password": USER_PASSWORD})
        assert changed.status_code == 204, changed
        session.user = session.get("/api/v1/me").json
        return session
