"""Identity inside the running system (one process, the real local RabbitMQ): what the
gateway forwards, and the user events other systems receive."""
from __future__ import annotations

import json
import time

from kombu import Queue

from crm_testing import eventually
from crmkit.bus.connection import connect
from crmkit.bus.topology import events_exchange

TEMP = "Temp#Pass-2026"


def new_user_body(username, **overrides):
    return {"username": username, "name": "王小明", "password": TEMP, "role": "rep",
            "team": "east/shanghai/team-1", "region": "east", **overrides}


def unique(prefix):
    return f"{prefix}{time.time_ns() % 10**9}"


def test_a_user_who_must_change_the_password_is_stopped_at_the_gateway(system, org):
    username = unique("fresh")
    assert org.admin.post("/api/v1/users", json=new_user_body(username)).status_code == 201
    session = org.login(username, TEMP)
    refused = session.get("/api/v1/reports/summary")
    assert refused.status_code == 403
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.json["code"] == "password_change_required"
    assert session.post("/api/v1/auth/password", json={
        "old_password": TEMP, "new_password": "Fresh#Pass-2026"}).status_code == 204
    assert session.get("/api/v1/reports/summary").status_code == 200


def test_a_role_change_reaches_services_on_the_next_request(system, org):
    rep = org.user("rep")
    path = "/api/v1/admin/dead-letters?service=customer"
    assert rep.get(path).status_code == 403
    promoted = org.admin.patch(f"/api/v1/users/{rep.id}", json={"role": "admin"})
    assert promoted.status_code == 200, promoted
    assert rep.get(path).status_code == 200       # same token, current role


def test_a_deactivated_user_is_refused_everywhere_at_once(system, org):
    rep = org.user("rep", password="Sales#Pass-2026")
    assert rep.get("/api/v1/reports/summary").status_code == 200
    assert org.admin.patch(f"/api/v1/users/{rep.id}", json={"active": False}).status_code == 200
    forwarded = rep.get("/api/v1/reports/summary")
    assert forwarded.status_code == 401 and forwarded.json["code"] in (
        "account_disabled", "session_revoked")
    assert rep.get("/api/v1/me").status_code == 401
    assert org.login(rep.user["username"], "Sales#Pass-2026").token is None


def test_repeated_failed_logins_are_answered_429(system, org):
    username = unique("target")
    org.admin.post("/api/v1/users", json=new_user_body(username))
    anonymous = org.anonymous()
    statuses = [anonymous.post("/api/v1/auth/login", json={
        "username": username, "password": "Wrong#Pass-1"}).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    blocked = anonymous.post("/api/v1/auth/login", json={"username": username,
                                                         "password": TEMP})
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert blocked.json["code"] == "too_many_login_attempts"


def test_user_events_reach_the_bus_without_secrets(system, org, amqp_url):
    username = unique("evented")
    with connect(amqp_url) as connection:
        spy = Queue(f"test.users.{time.time_ns()}", exchange=events_exchange,
                    routing_key="user.*", exclusive=True, auto_delete=True)
        spy(connection.default_channel).declare()

        created = org.admin.post("/api/v1/users", json=new_user_body(username),
                                 headers={"X-Request-ID": "req-user-1"})
        assert created.status_code == 201, created
        user_id = created.json["id"]
        org.admin.patch(f"/api/v1/users/{user_id}", json={"team": "east/hangzhou"})

        envelopes = {}

        def both_seen():
            message = spy(connection.default_channel).get(no_ack=True)
            if message is not None:
                envelope = json.loads(message.body)
                if envelope["aggregate_id"] == user_id:
                    envelopes[envelope["type"]] = (envelope, message)
            return len(envelopes) == 2

        eventually(both_seen, timeout=5, message="user.created and user.updated on crm.events")

    created_envelope, message = envelopes["user.created"]
    assert created_envelope["producer"] == "gateway"
    assert created_envelope["actor_id"] == org.admin.id
    assert created_envelope["correlation_id"] == "req-user-1"
    assert created_envelope["data"]["username"] == username
    assert message.properties["message_id"] == created_envelope["id"]
    updated_envelope, _ = envelopes["user.updated"]
    assert updated_envelope["data"]["team"] == "east/hangzhou"
    assert updated_envelope["data"]["changes"] == {"team": ["east/shanghai/team-1",
                                                            "east/hangzhou"]}
    for envelope, _ in envelopes.values():
        text = json.dumps(envelope, ensure_ascii=False)
        assert "password" not in text and "$argon2" not in text


def test_identity_routes_are_in_the_public_openapi_and_events_in_the_catalog(system, org):
    openapi = org.anonymous().get("/api/v1/openapi.json").json
    for path in ("/api/v1/auth/login", "/api/v1/auth/password", "/api/v1/me",
                 "/api/v1/users", "/api/v1/users/{user_id}"):
        assert path in openapi["paths"], path
    catalog = json.dumps(org.anonymous().get("/api/v1/events/catalog").json)
    assert "user.created" in catalog and "user.updated" in catalog
