"""A small client of the CRM's public API: sessions per user, and an `Org` that logs in
as the admin and creates ready users. Used by `crm up --demo`, the benchmarks and tests."""
from __future__ import annotations

import itertools
import json
import time

USER_PASSWORD = "Sales#Pass-2026"
TEMP_PASSWORD = "Temp#Pass-2026"
_counter = itertools.count(1)


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

    def __init__(self, transport, admin_username: str, admin_password: str):
        self.transport = transport
        self.admin = self.login(admin_username, admin_password)
        if not self.admin.token:
            raise RuntimeError(f"the admin {admin_username!r} could not log in")

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
             *, timezone: str = "Asia/Shanghai", username: str | None = None,
             name: str | None = None, password: str = USER_PASSWORD) -> Session:
        """A ready user: created by the admin, logged in, first password changed."""
        username = username or f"{role}{next(_counter)}_{int(time.time() * 1000) % 100000}"
        created = self.admin.post("/api/v1/users", json={
            "username": username, "name": name or username.title(), "password": TEMP_PASSWORD,
            "role": role, "team": team, "region": region, "timezone": timezone})
        if created.status_code != 201:
            raise RuntimeError(f"creating {username} failed: {created!r}")
        session = self.login(username, TEMP_PASSWORD)
        changed = session.post("/api/v1/auth/password", json={
            "old_password": TEMP_PASSWORD, "new_password": password})
        if changed.status_code != 204:
            raise RuntimeError(f"first password change of {username} failed: {changed!r}")
        session.user = session.get("/api/v1/me").json
        return session
