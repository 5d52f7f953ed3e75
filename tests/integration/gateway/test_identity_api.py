"""Identity HTTP API (CONTRACT §3) on a Flask app with FerretDB, wired like the gateway."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from flask import Flask

from crmkit.auth import TokenService
from crmkit.bus.outbox import pending_envelopes
from crmkit.idempotency import IdempotencyStore
from crmkit.web import install_error_handlers, install_request_id
from gateway.identity.component import IdentityComponent
from gateway.identity.passwords import Argon2Hasher
from crm_testing import fresh_database

SECRET = "s" * 40
ADMIN_PASSWORD = "Admin#Pass2026"


class Clock:
    def __init__(self):
        # From the real time: the attempts' TTL index expires by the real clock.
        self.now = datetime.now(timezone.utc).replace(microsecond=0)

    def __call__(self):
        return self.now


@pytest.fixture
def db():
    return fresh_database("identity")


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def identity(db, clock):
    component = IdentityComponent.create(
        db, TokenService(SECRET), hasher=Argon2Hasher(fast=True),
        idempotency_store=IdempotencyStore(db["_idempotency"]),
        env={"CRM_ADMIN_PASSWORD": ADMIN_PASSWORD})
    component.handlers.clock = clock
    component.start()
    return component


@pytest.fixture
def client(identity):
    app = Flask("identity-test")
    install_request_id(app)
    install_error_handlers(app)
    app.register_blueprint(identity.blueprint)
    return app.test_client()


def login(client, username, password, ip="10.0.0.1"):
    return client.post("/api/v1/auth/login", json={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": ip})


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin(client):
    response = login(client, "admin", ADMIN_PASSWORD)
    assert response.status_code == 200, response.json
    return bearer(response.json["access_token"])


NEW_USER = {"username": "zhang.san", "name": "张三", "password": "Initial#2026", "role": "rep",
            "team": "east/shanghai/team-1", "region": "east"}


def create_user(client, admin, **overrides):
    response = client.post("/api/v1/users", json={**NEW_USER, **overrides}, headers=admin)
    assert response.status_code == 201, response.json
    return response.json


def ready_user(client, admin, **overrides):
    """A created user who has changed the initial password; returns (user, headers)."""
    user = create_user(client, admin, **overrides)
    temp = {**NEW_USER, **overrides}["password"]
    token = login(client, user["username"], temp).json["access_token"]
    assert client.post("/api/v1/auth/password", headers=bearer(token), json={
        "old_password": temp, "new_password": "Changed#2026"}).status_code == 204
    return user, bearer(token)


def assert_problem(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    assert response.json["status"] == status
    assert response.json["code"] == code
    assert response.json["title"] and response.json["detail"]


# ------------------------------------------------------------------ bootstrap + login

def test_bootstrap_admin_logs_in_without_being_forced_to_change(client):
    response = login(client, "admin", ADMIN_PASSWORD)
    assert response.status_code == 200
    body = response.json
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] > 0
    assert body["must_change_password"] is False
    me = client.get("/api/v1/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json["role"] == "admin" and me.json["username"] == "admin"


def test_bootstrap_runs_once_even_when_started_again(identity, db):
    identity.start()
    identity.start()
    assert db["users"].count_documents({"role": "admin"}) == 1


def test_bootstrap_uses_the_configured_username(db):
    component = IdentityComponent.create(
        db, TokenService(SECRET), hasher=Argon2Hasher(fast=True),
        env={"CRM_ADMIN_PASSWORD": ADMIN_PASSWORD, "CRM_ADMIN_USERNAME": "root"})
    component.start()
    assert db["users"].find_one({"role": "admin"})["username"] == "root"


def test_no_admin_is_created_without_a_password(db):
    IdentityComponent.create(db, TokenService(SECRET), hasher=Argon2Hasher(fast=True),
                             env={}).start()
    assert db["users"].count_documents({}) == 0


def test_wrong_password_is_401_invalid_credentials(client):
    assert_problem(login(client, "admin", "Wrong#Pass1"), 401, "invalid_credentials")


def test_unknown_user_is_the_same_401(client):
    assert_problem(login(client, "nobody", "Wrong#Pass1"), 401, "invalid_credentials")


def test_login_username_is_case_insensitive(client):
    assert login(client, "ADMIN", ADMIN_PASSWORD).status_code == 200


def test_login_with_missing_fields_is_422(client):
    response = client.post("/api/v1/auth/login", json={"username": "admin"})
    assert_problem(response, 422, "validation_error")
    assert "password" in response.json["errors"]


def test_login_with_unknown_fields_is_422_unknown_field(client):
    response = client.post("/api/v1/auth/login", json={
        "username": "admin", "password": ADMIN_PASSWORD, "remember": True})
    assert_problem(response, 422, "unknown_field")


def test_malformed_json_is_400(client):
    response = client.post("/api/v1/auth/login", data="{not json",
                           content_type="application/json")
    assert_problem(response, 400, "malformed_json")


def test_token_responses_are_not_cached(client):
    assert login(client, "admin", ADMIN_PASSWORD).headers["Cache-Control"] == "no-store"


# ------------------------------------------------------------------ rate limiting

def test_five_failures_then_429_with_retry_after(client):
    for _ in range(5):
        assert login(client, "admin", "Wrong#Pass1").status_code == 401
    response = login(client, "admin", ADMIN_PASSWORD)     # even the right password
    assert_problem(response, 429, "too_many_login_attempts")
    assert 0 < int(response.headers["Retry-After"]) <= 300


def test_the_block_lifts_after_the_window(client, clock):
    for _ in range(5):
        login(client, "admin", "Wrong#Pass1")
    clock.now += timedelta(minutes=5, seconds=1)
    assert login(client, "admin", ADMIN_PASSWORD).status_code == 200


def test_a_success_resets_the_username_counter(client):
    for _ in range(4):
        login(client, "admin", "Wrong#Pass1")
    assert login(client, "admin", ADMIN_PASSWORD).status_code == 200
    for _ in range(4):
        assert login(client, "admin", "Wrong#Pass1").status_code == 401
    assert login(client, "admin", ADMIN_PASSWORD).status_code == 200


def test_one_address_guessing_many_usernames_is_blocked(client):
    for n in range(100):
        login(client, f"user{n}", "Wrong#Pass1", ip="10.9.9.9")
    assert_problem(login(client, "admin", ADMIN_PASSWORD, ip="10.9.9.9"), 429,
                   "too_many_login_attempts")
    assert login(client, "admin", ADMIN_PASSWORD, ip="10.0.0.2").status_code == 200


# ------------------------------------------------------------------ tokens

def test_missing_token_is_401(client):
    assert_problem(client.get("/api/v1/me"), 401, "unauthenticated")


def test_garbage_token_is_401(client):
    assert_problem(client.get("/api/v1/me", headers=bearer("abc.def.ghi")), 401,
                   "invalid_token")


def test_an_internal_token_is_not_an_access_token(client, identity):
    admin_user = identity.repository.by_username("admin")
    internal = identity.handlers.tokens.issue_internal(admin_user.to_identity())
    assert_problem(client.get("/api/v1/me", headers=bearer(internal)), 401, "invalid_token")


def test_expired_token_is_401(db, client, identity):
    short = TokenService(SECRET, access_ttl=-10)
    admin_user = identity.repository.by_username("admin")
    token, _ = short.issue_access(admin_user.id, session_version=0)
    assert_problem(client.get("/api/v1/me", headers=bearer(token)), 401, "token_expired")


# ------------------------------------------------------------------ user administration

def test_admin_creates_a_user_who_must_change_the_password(client, admin):
    response = client.post("/api/v1/users", json={**NEW_USER, "email": "zs@example.com"},
                           headers=admin)
    assert response.status_code == 201
    user = response.json
    assert user["must_change_password"] is True
    assert not any("password" in key and key != "must_change_password" for key in user)
    assert "password_hash" not in response.get_data(as_text=True)
    assert user["timezone"] == "Asia/Shanghai"
    assert user["version"] == 0 and user["active"] is True
    assert response.headers["ETag"] == '"0"'
    assert response.headers["Location"].endswith(f"/api/v1/users/{user['id']}")
    assert user["created_at"].endswith("+00:00")


def test_create_user_validates_and_names_fields(client, admin):
    response = client.post("/api/v1/users", headers=admin, json={
        **NEW_USER, "role": "boss", "team": "bad team", "password": "short"})
    assert_problem(response, 422, "validation_error")
    assert set(response.json["errors"]) == {"role", "team", "password"}


def test_create_user_refuses_server_managed_fields(client, admin):
    for field, value in (("id", "x"), ("version", 3), ("must_change_password", False),
                         ("active", False), ("created_at", "2026-01-01T00:00:00Z")):
        response = client.post("/api/v1/users", headers=admin, json={**NEW_USER, field: value})
        assert_problem(response, 422, "unknown_field")
        assert field in response.json["errors"]


def test_duplicate_username_is_409_whatever_the_case(client, admin):
    create_user(client, admin)
    response = client.post("/api/v1/users", headers=admin,
                           json={**NEW_USER, "username": "Zhang.San"})
    assert_problem(response, 409, "username_taken")


def test_create_with_idempotency_key_creates_once(client, admin, db):
    headers = {**admin, "Idempotency-Key": "create-zs-1"}
    first = client.post("/api/v1/users", json=NEW_USER, headers=headers)
    again = client.post("/api/v1/users", json=NEW_USER, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json == again.json
    assert db["users"].count_documents({"username_key": "zhang.san"}) == 1


def test_non_admins_cannot_create_users(client, admin):
    _, rep = ready_user(client, admin)
    response = client.post("/api/v1/users", headers=rep,
                           json={**NEW_USER, "username": "li.si"})
    assert_problem(response, 403, "admin_required")


def test_admin_lists_users_with_paging_and_filters(client, admin):
    create_user(client, admin)
    create_user(client, admin, username="li.si", name="李四", role="supervisor",
                team="east/shanghai", region="east")
    create_user(client, admin, username="wang.wu", name="王五", team="north/beijing/team-1",
                region="north")
    everyone = client.get("/api/v1/users", headers=admin).json
    assert everyone["total"] == 4 and everyone["page"] == 1 and everyone["per_page"] == 20
    assert [u["username"] for u in everyone["items"]] == ["admin", "li.si", "wang.wu",
                                                          "zhang.san"]
    east = client.get("/api/v1/users?region=east&sort=-name", headers=admin).json
    assert {u["username"] for u in east["items"]} == {"zhang.san", "li.si"}
    team = client.get("/api/v1/users?team=east/shanghai", headers=admin).json
    assert {u["username"] for u in team["items"]} == {"zhang.san", "li.si"}
    page2 = client.get("/api/v1/users?per_page=3&page=2", headers=admin).json
    assert len(page2["items"]) == 1 and page2["total"] == 4
    found = client.get("/api/v1/users?q=王", headers=admin).json
    assert [u["username"] for u in found["items"]] == ["wang.wu"]


def test_list_refuses_a_bad_query(client, admin):
    assert_problem(client.get("/api/v1/users?per_page=500", headers=admin), 422,
                   "validation_error")
    assert_problem(client.get("/api/v1/users?sort=password_hash", headers=admin), 422,
                   "validation_error")


def test_a_supervisor_sees_only_the_users_of_their_team(client, admin):
    create_user(client, admin)
    create_user(client, admin, username="wang.wu", team="north/beijing/team-1", region="north")
    boss, boss_headers = ready_user(client, admin, username="li.si", role="supervisor",
                                    team="east/shanghai")
    listed = client.get("/api/v1/users", headers=boss_headers).json
    assert {u["username"] for u in listed["items"]} == {"li.si", "zhang.san"}
    north = client.get("/api/v1/users?q=wang", headers=admin).json["items"][0]
    assert_problem(client.get(f"/api/v1/users/{north['id']}", headers=boss_headers), 404,
                   "user_not_found")
    assert_problem(client.patch(f"/api/v1/users/{boss['id']}", json={"name": "x"},
                                headers=boss_headers), 403, "admin_required")


def test_a_rep_cannot_list_users(client, admin):
    _, rep = ready_user(client, admin)
    assert_problem(client.get("/api/v1/users", headers=rep), 403, "forbidden")


def test_get_unknown_user_is_404(client, admin):
    assert_problem(client.get("/api/v1/users/nope", headers=admin), 404, "user_not_found")


def test_patch_changes_the_user_and_bumps_the_version(client, admin):
    user = create_user(client, admin)
    response = client.patch(f"/api/v1/users/{user['id']}", headers={**admin, "If-Match": '"0"'},
                            json={"role": "supervisor", "team": "east/shanghai",
                                  "timezone": "Europe/London", "email": "zs@example.com"})
    assert response.status_code == 200, response.json
    assert response.json["role"] == "supervisor"
    assert response.json["timezone"] == "Europe/London"
    assert response.json["version"] == 1
    assert response.headers["ETag"] == '"1"'
    assert client.get(f"/api/v1/users/{user['id']}", headers=admin).json["team"] == \
        "east/shanghai"


def test_patch_with_a_stale_if_match_is_412(client, admin):
    user = create_user(client, admin)
    client.patch(f"/api/v1/users/{user['id']}", headers=admin, json={"name": "张三丰"})
    response = client.patch(f"/api/v1/users/{user['id']}", headers={**admin, "If-Match": "0"},
                            json={"name": "张三"})
    assert_problem(response, 412, "stale_version")


def test_patch_refuses_unknown_and_server_managed_fields(client, admin):
    user = create_user(client, admin)
    for field, value in (("username", "x.y"), ("password", "Whatever#1"), ("version", 5),
                         ("must_change_password", False)):
        response = client.patch(f"/api/v1/users/{user['id']}", headers=admin,
                                json={field: value})
        assert_problem(response, 422, "unknown_field")


def test_patch_validates_values(client, admin):
    user = create_user(client, admin)
    response = client.patch(f"/api/v1/users/{user['id']}", headers=admin,
                            json={"timezone": "Mars/Base", "region": "east coast"})
    assert_problem(response, 422, "validation_error")
    assert set(response.json["errors"]) == {"timezone", "region"}
    response = client.patch(f"/api/v1/users/{user['id']}", headers=admin, json={"active": "no"})
    assert_problem(response, 422, "validation_error")
    assert list(response.json["errors"]) == ["active"]


def test_deactivated_user_cannot_log_in_and_loses_their_session(client, admin):
    user, headers = ready_user(client, admin)
    response = client.patch(f"/api/v1/users/{user['id']}", headers=admin,
                            json={"active": False})
    assert response.status_code == 200 and response.json["active"] is False
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert_problem(login(client, "zhang.san", "Changed#2026"), 403, "account_disabled")
    client.patch(f"/api/v1/users/{user['id']}", headers=admin, json={"active": True})
    assert login(client, "zhang.san", "Changed#2026").status_code == 200


def test_the_last_admin_cannot_be_demoted_or_deactivated(client, admin):
    me = client.get("/api/v1/me", headers=admin).json
    assert_problem(client.patch(f"/api/v1/users/{me['id']}", headers=admin,
                                json={"role": "manager"}), 409, "last_admin")
    assert_problem(client.patch(f"/api/v1/users/{me['id']}", headers=admin,
                                json={"active": False}), 409, "last_admin")


# ------------------------------------------------------------------ forced password change

def test_forced_password_change_flow(client, admin):
    create_user(client, admin)
    first = login(client, "zhang.san", "Initial#2026")
    assert first.status_code == 200 and first.json["must_change_password"] is True
    token = bearer(first.json["access_token"])

    assert client.get("/api/v1/me", headers=token).status_code == 200
    assert_problem(client.get("/api/v1/users", headers=token), 403, "password_change_required")

    weak = client.post("/api/v1/auth/password", headers=token,
                       json={"old_password": "Initial#2026", "new_password": "zhang.san"})
    assert_problem(weak, 422, "weak_password")
    assert "new_password" in weak.json["errors"]
    wrong = client.post("/api/v1/auth/password", headers=token,
                        json={"old_password": "Nope#20266", "new_password": "Changed#2026"})
    assert_problem(wrong, 422, "wrong_password")
    assert "old_password" in wrong.json["errors"]

    done = client.post("/api/v1/auth/password", headers=token,
                       json={"old_password": "Initial#2026", "new_password": "Changed#2026"})
    assert done.status_code == 204 and done.get_data() == b""
    # The session that changed the password goes on working.
    me = client.get("/api/v1/me", headers=token)
    assert me.status_code == 200 and me.json["must_change_password"] is False

    assert_problem(login(client, "zhang.san", "Initial#2026"), 401, "invalid_credentials")
    again = login(client, "zhang.san", "Changed#2026")
    assert again.status_code == 200 and again.json["must_change_password"] is False


def test_password_change_logs_out_other_sessions(client, admin):
    _, phone = ready_user(client, admin)
    laptop = bearer(login(client, "zhang.san", "Changed#2026").json["access_token"])
    assert client.post("/api/v1/auth/password", headers=laptop, json={
        "old_password": "Changed#2026", "new_password": "Newest#2026"}).status_code == 204
    assert_problem(client.get("/api/v1/me", headers=phone), 401, "session_revoked")
    assert client.get("/api/v1/me", headers=laptop).status_code == 200


def test_admin_reset_forces_a_new_change(client, admin):
    user, headers = ready_user(client, admin)
    response = client.post(f"/api/v1/users/{user['id']}/password", headers=admin,
                           json={"password": "Temporary#1"})
    assert response.status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    relogin = login(client, "zhang.san", "Temporary#1")
    assert relogin.json["must_change_password"] is True


# ------------------------------------------------------------------ the forwarding authenticator

def test_forwarded_requests_get_an_internal_token_with_the_current_identity(client, admin,
                                                                            identity):
    user, headers = ready_user(client, admin)
    caller = identity.authenticate_forwarded(headers["Authorization"], "GET",
                                             "/api/v1/customers")
    assert caller.identity.user_id == user["id"]
    assert caller.identity.role == "rep"
    checked = identity.handlers.tokens.verify_internal(caller.internal_token)
    assert checked == caller.identity
    client.patch(f"/api/v1/users/{user['id']}", headers=admin, json={"role": "supervisor"})
    again = identity.authenticate_forwarded(headers["Authorization"], "GET",
                                            "/api/v1/customers")
    assert again.identity.role == "supervisor"


def test_forwarded_identities_carry_the_organisations_sharing_switch(client, admin,
                                                                    identity):
    """上下级强制共享 (CONTRACT §11) travels with each forwarded request, as it stands
    when the request comes: an admin's change holds in every service at once."""
    _, headers = ready_user(client, admin, role="supervisor")
    caller = identity.authenticate_forwarded(headers["Authorization"], "GET",
                                             "/api/v1/customers")
    assert caller.identity.sees_subordinates is True
    reply = client.put("/api/v1/settings", headers=admin,
                       json={"superiors_see_subordinates": False})
    assert reply.status_code == 200 and reply.json["version"] == 1
    assert db_settings_event(identity) == "settings.updated"
    caller = identity.authenticate_forwarded(headers["Authorization"], "GET",
                                             "/api/v1/customers")
    assert caller.identity.sees_subordinates is False
    assert identity.handlers.tokens.verify_internal(caller.internal_token) == caller.identity
    assert client.put("/api/v1/settings", headers=headers, json={}).status_code == 403


def db_settings_event(identity) -> str:
    """The type of the event the settings document holds in its outbox."""
    doc = identity.settings.repository.settings.find_one({})
    return pending_envelopes(doc)[-1]["type"]


def test_forwarded_requests_wait_for_the_password_change(client, admin, identity):
    from crmkit.errors import Forbidden
    create_user(client, admin)
    token = "Bearer " + login(client, "zhang.san", "Initial#2026").json["access_token"]
    with pytest.raises(Forbidden) as caught:
        identity.authenticate_forwarded(token, "GET", "/api/v1/customers")
    assert caught.value.code == "password_change_required"
    assert identity.authenticate_forwarded(token, "GET", "/api/v1/me/").identity


# ------------------------------------------------------------------ events through the outbox

def test_user_events_wait_in_the_outbox_without_passwords(client, admin, db):
    user = create_user(client, admin)
    client.patch(f"/api/v1/users/{user['id']}", headers=admin, json={"region": "north",
                                                                    "team": "north/bj"})
    document = db["users"].find_one({"_id": user["id"]})
    created, updated = pending_envelopes(document)
    assert (created["type"], updated["type"]) == ("user.created", "user.updated")
    assert created["producer"] == "gateway" and created["aggregate_id"] == user["id"]
    admin_id = client.get("/api/v1/me", headers=admin).json["id"]
    assert created["actor_id"] == admin_id
    assert updated["data"]["changes"] == {"region": ["east", "north"],
                                          "team": ["east/shanghai/team-1", "north/bj"]}
    assert updated["region"] == "north"
    for envelope in (created, updated):
        assert "password" not in str(envelope["data"])
        assert document["password_hash"] not in str(envelope)


def test_a_request_id_becomes_the_correlation_id(client, admin, db):
    client.post("/api/v1/users", json=NEW_USER, headers={**admin, "X-Request-ID": "req-42"})
    [created] = pending_envelopes(db["users"].find_one({"username_key": "zhang.san"}))
    assert created["correlation_id"] == "req-42"


def test_huge_login_inputs_are_refused_before_hashing(client):
    response = client.post("/api/v1/auth/login", json={"username": "a" * 5000,
                                                        "password": "b" * 5000})
    assert_problem(response, 422, "validation_error")
    assert set(response.json["errors"]) == {"username", "password"}
