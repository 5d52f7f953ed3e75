"""Identity as a user meets it through `crm up` (gateway and services as processes,
the real broker): CONTRACT §3 end to end."""
from __future__ import annotations

import json
import time

from kombu import Queue

from crm_testing import eventually
from crmkit.bus.connection import connect
from crmkit.bus.topology import events_exchange

TEMP = "Temp#Pass-2026"


def unique(prefix: str) -> str:
    return f"{prefix}{time.time_ns() % 10**9}"


def user_body(username: str, **overrides) -> dict:
    return {"username": username, "name": "陈晓", "password": TEMP, "role": "rep",
            "team": "south/shenzhen/team-2", "region": "south", **overrides}


def test_a_new_user_changes_the_initial_password_before_anything_else(crm, org):
    username = unique("chen")
    created = org.admin.post("/api/v1/users", json={**user_body(username),
                                                    "email": "chen@example.com"})
    assert created.status_code == 201, created
    assert created.json["must_change_password"] is True
    assert created.json["timezone"] == "Asia/Shanghai"
    assert "password" not in created.json and "password_hash" not in created.json

    session = org.login(username, TEMP)
    assert session.token
    assert session.user["username"] == username          # GET /me works before the change
    refused = session.get("/api/v1/reports/summary")
    assert refused.status_code == 403 and refused.json["code"] == "password_change_required"
    assert refused.headers["Content-Type"] == "application/problem+json"

    changed = session.post("/api/v1/auth/password", json={"old_password": TEMP,
                                                          "new_password": "Chen#Pass-2026"})
    assert changed.status_code == 204
    assert session.get("/api/v1/reports/summary").status_code == 200
    assert org.login(username, TEMP).token is None
    again = org.anonymous().post("/api/v1/auth/login", json={"username": username,
                                                             "password": "Chen#Pass-2026"})
    assert again.status_code == 200
    assert again.json["token_type"] == "Bearer" and again.json["must_change_password"] is False


def test_bad_credentials_are_401_and_repeated_failures_429(crm, org):
    username = unique("guess")
    org.admin.post("/api/v1/users", json=user_body(username))
    anonymous = org.anonymous()

    def attempt(password):
        return anonymous.post("/api/v1/auth/login", json={"username": username,
                                                          "password": password})

    first = attempt("Wrong#Pass-1")
    assert first.status_code == 401 and first.json["code"] == "invalid_credentials"
    for _ in range(4):
        assert attempt("Wrong#Pass-1").status_code == 401
    blocked = attempt(TEMP)
    assert blocked.status_code == 429
    assert blocked.headers["Content-Type"] == "application/problem+json"
    assert 0 < int(blocked.headers["Retry-After"]) <= 300


def test_admin_manages_users_and_deactivation_stops_the_user(crm, org):
    rep = org.user("rep", team="north/beijing/team-3", region="north")
    listed = org.admin.get("/api/v1/users?region=north&per_page=100")
    assert listed.status_code == 200
    assert rep.id in {u["id"] for u in listed.json["items"]}
    assert {"items", "total", "page", "per_page"} <= set(listed.json)

    shown = org.admin.get(f"/api/v1/users/{rep.id}")
    assert shown.status_code == 200 and shown.headers["ETag"] == f'"{shown.json["version"]}"'
    stale = org.admin.patch(f"/api/v1/users/{rep.id}", json={"name": "新名字"},
                            headers={"If-Match": f'"{shown.json["version"] + 5}"'})
    assert stale.status_code == 412

    off = org.admin.patch(f"/api/v1/users/{rep.id}", json={"active": False},
                          headers={"If-Match": f'"{shown.json["version"]}"'})
    assert off.status_code == 200 and off.json["active"] is False
    assert rep.get("/api/v1/reports/summary").status_code == 401
    relogin = org.anonymous().post("/api/v1/auth/login", json={
        "username": rep.user["username"], "password": "Sales#Pass-2026"})
    assert relogin.status_code in (401, 403)
    assert relogin.json["code"] == "account_disabled"


def test_only_admins_manage_users(crm, org):
    rep = org.user("rep")
    assert rep.post("/api/v1/users", json=user_body(unique("x"))).status_code == 403
    assert rep.get("/api/v1/users").status_code == 403
    assert rep.patch(f"/api/v1/users/{rep.id}", json={"role": "admin"}).status_code == 403
    unknown = org.admin.post("/api/v1/users", json={**user_body(unique("y")), "id": "mine"})
    assert unknown.status_code == 422 and unknown.json["code"] == "unknown_field"
    duplicate = org.admin.post("/api/v1/users", json=user_body(rep.user["username"].upper()))
    assert duplicate.status_code == 409


def test_user_created_is_published_by_the_gateway(crm, org):
    username = unique("bus")
    with connect(crm.amqp_url) as connection:
        spy = Queue(f"test.e2e.users.{time.time_ns()}", exchange=events_exchange,
                    routing_key="user.created", exclusive=True, auto_delete=True)
        spy(connection.default_channel).declare()
        created = org.admin.post("/api/v1/users", json=user_body(username))
        assert created.status_code == 201

        def ours():
            message = spy(connection.default_channel).get(no_ack=True)
            if message is None:
                return None
            envelope = json.loads(message.body)
            return envelope if envelope["aggregate_id"] == created.json["id"] else None

        envelope = eventually(ours, timeout=5, message="user.created from the gateway")
    assert envelope["producer"] == "gateway"
    assert envelope["data"]["username"] == username
    assert envelope["data"]["team"] == "south/shenzhen/team-2"
    assert "password" not in json.dumps(envelope)
