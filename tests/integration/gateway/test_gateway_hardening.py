"""Edges found by probing `crm up`, through the gateway of the running system: encoded
characters in paths, over-long URIs and headers, Idempotency-Key reuse, password
throttling and self-reset, `If-Match: *`, and who may read /metrics."""
from __future__ import annotations

import time
import uuid

import pytest

from crm_testing import integration_settings
from crmkit.problems import CONTENT_TYPE as PROBLEM

METRICS_TOKEN = "metrics-" + uuid.uuid4().hex + uuid.uuid4().hex
TEMP = "Temp#Pass-2026"


@pytest.fixture(scope="module")
def settings(amqp_url):
    return integration_settings(amqp_url).with_(metrics_token=METRICS_TOKEN)


@pytest.fixture(scope="module")
def client(system):
    return system.gateway.test_client()


def unique(prefix):
    return f"{prefix}{time.time_ns() % 10**9}"


def customer_body(**overrides):
    return {"name": f"杭州测试{uuid.uuid4().hex[:8]}有限公司", "industry": "制造",
            "status": "potential",
            "primary_contact": {"name": "李雷", "phone": "13812345678"}, **overrides}


def assert_problem(reply, status, code=None):
    assert reply.status_code == status, reply
    assert reply.headers["Content-Type"] == PROBLEM, reply
    assert reply.json["status"] == status
    if code is not None:
        assert reply.json["code"] == code, reply.json


# ------------------------------------------------------------------ (1) paths and limits

def test_an_encoded_question_mark_in_any_path_is_a_problem_never_a_500(system, org):
    rep = org.user("rep")
    paths = ["/api/v1/customers/abc%3Fdef", "/api/v1/customers/%3F",
             "/api/v1/customers/x%3F/history", "/api/v1/opportunities/o%3Fx",
             "/api/v1/tasks/t%3F", "/api/v1/reports/summary%3Fx", "/api/v1/pool%3F",
             "/api/v1/notifications%3Funread=true", "/api/v1/users/u%3F",
             "/api/v1/calendar.ics%3Ftoken=x", "/api/v1/admin/dead-letters%3F",
             "/api/v1/customers/abc%3Fdef?page=1", "/api/v1/%3F", "/%3F", "/healthz%3F"]
    for path in paths:
        for method in ("GET", "PATCH", "POST", "DELETE"):
            reply = rep.request(method, path, json_body={})
            assert reply.status_code < 500, (method, path, reply)
            if path.startswith("/api/"):
                assert reply.headers["Content-Type"] == PROBLEM, (method, path, reply)
    assert_problem(rep.get("/api/v1/customers/abc%3Fdef"), 404)


def test_an_encoded_question_mark_does_not_reach_the_record_before_it(system, org):
    rep = org.user("rep")
    created = rep.post("/api/v1/customers", json=customer_body())
    assert created.status_code == 201, created
    customer_id = created.json["id"]
    assert rep.get(f"/api/v1/customers/{customer_id}").status_code == 200
    assert_problem(rep.get(f"/api/v1/customers/{customer_id}%3F"), 404)
    assert_problem(rep.get(f"/api/v1/customers/{customer_id}%3Fx=1"), 404)
    # nor does an encoded slash turn an id into a sub-resource
    assert rep.get(f"/api/v1/customers/{customer_id}%2Fhistory").status_code != 500


def test_a_too_long_uri_is_a_414_problem(system, org):
    rep = org.user("rep")
    for path in ("/api/v1/customers/" + "a" * 5000, "/api/v1/customers?q=" + "b" * 5000,
                 "/api/v1/users/" + "c" * 5000, "/api/v1/me?x=" + "d" * 5000):
        assert_problem(rep.get(path), 414, "uri_too_long")


def test_a_uri_just_within_the_limit_is_served(system, org):
    rep = org.user("rep")
    assert_problem(rep.get("/api/v1/customers/" + "b" * 3800), 404)   # an unknown id
    assert_problem(org.admin.get("/api/v1/users/" + "b" * 3800), 404)


def test_oversized_or_too_many_headers_are_a_431_problem(system, org):
    rep = org.user("rep")
    assert_problem(rep.get("/api/v1/customers", headers={"X-Big": "x" * 9000}), 431,
                   "header_too_large")
    many = {f"X-Many-{n}": "1" for n in range(120)}
    assert_problem(rep.get("/api/v1/customers", headers=many), 431, "header_too_large")
    assert rep.get("/api/v1/customers", headers={"X-Fine": "x" * 4000}).status_code == 200


# ------------------------------------------------------------------ (2) Idempotency-Key

def test_an_idempotency_key_reused_with_another_body_is_422(system, org):
    rep = org.user("rep")
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first_body = customer_body()
    first = rep.post("/api/v1/customers", json=first_body, headers=key)
    assert first.status_code == 201, first
    other = rep.post("/api/v1/customers", json=customer_body(), headers=key)
    assert_problem(other, 422, "idempotency_key_reused")
    assert "Idempotency-Key" in other.json["errors"]
    again = rep.post("/api/v1/customers", json=first_body, headers=key)
    assert again.status_code == 201 and again.json["id"] == first.json["id"]
    assert again.headers["Idempotent-Replayed"] == "true"


def test_an_idempotency_key_reused_for_another_user_body_is_422(system, org):
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = {"username": unique("idem"), "name": "王五", "password": TEMP, "role": "rep",
            "team": "east/shanghai/team-1", "region": "east"}
    assert org.admin.post("/api/v1/users", json=body, headers=key).status_code == 201
    assert org.admin.post("/api/v1/users", json=body, headers=key).status_code == 201
    other = org.admin.post("/api/v1/users", json={**body, "username": unique("idem")},
                           headers=key)
    assert_problem(other, 422, "idempotency_key_reused")
    assert "Idempotency-Key" in other.json["errors"]


def test_a_repeated_upload_with_a_new_multipart_boundary_is_replayed(system, org):
    rep = org.user("rep")
    key = {"Idempotency-Key": uuid.uuid4().hex}
    csv = ("名称,行业,状态,联系人,电话\n"
           f"宁波导入{uuid.uuid4().hex[:8]}有限公司,制造,potential,韩梅梅,13912345678\n")

    def upload():
        boundary = f"----crm{uuid.uuid4().hex}"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"c.csv\"\r\nContent-Type: text/csv\r\n\r\n{csv}\r\n"
                f"--{boundary}--\r\n").encode()
        return rep.request("POST", "/api/v1/customers/import", data=body, headers=key,
                           content_type=f"multipart/form-data; boundary={boundary}")

    first, second = upload(), upload()
    assert first.status_code == 200, first
    assert second.status_code == 200, second
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert second.json == first.json


# ------------------------------------------------------------------ (3) password throttle

def test_wrong_old_passwords_count_against_the_login_throttle(system, org):
    username = unique("guess")
    assert org.admin.post("/api/v1/users", json={
        "username": username, "name": "赵六", "password": TEMP, "role": "rep",
        "team": "east/shanghai/team-1", "region": "east"}).status_code == 201
    session = org.login(username, TEMP)
    statuses = [session.post("/api/v1/auth/password", json={
        "old_password": f"Guess#{n}-2026", "new_password": "Whatever#2026"}).status_code
        for n in range(6)]
    assert statuses == [422] * 5 + [429]
    blocked = session.post("/api/v1/auth/password", json={
        "old_password": TEMP, "new_password": "Whatever#2026"})
    assert_problem(blocked, 429, "too_many_login_attempts")
    assert int(blocked.headers["Retry-After"]) > 0
    login = org.anonymous().post("/api/v1/auth/login",
                                 json={"username": username, "password": TEMP})
    assert_problem(login, 429, "too_many_login_attempts")


# ------------------------------------------------------------------ (4) own password reset

def test_an_admin_cannot_reset_their_own_password_without_the_old_one(system, org):
    admin = org.user("admin", team="hq", region="hq")
    refused = admin.post(f"/api/v1/users/{admin.id}/password",
                         json={"password": "Another#2026"})
    assert_problem(refused, 403, "cannot_reset_own_password")
    assert "/api/v1/auth/password" in refused.json["detail"]
    assert admin.get("/api/v1/me").status_code == 200          # nothing changed
    rep = org.user("rep")
    assert admin.post(f"/api/v1/users/{rep.id}/password",
                      json={"password": "Temporary#2026"}).status_code == 204


# ------------------------------------------------------------------ (5) If-Match: *

def test_if_match_star_matches_any_current_version(system, org):
    rep = org.user("rep")
    patched = org.admin.patch(f"/api/v1/users/{rep.id}", json={"name": "Star Match"},
                              headers={"If-Match": "*"})
    assert patched.status_code == 200, patched
    created = rep.post("/api/v1/customers", json=customer_body())
    assert created.status_code == 201, created
    edited = rep.patch(f"/api/v1/customers/{created.json['id']}", json={"level": "A"},
                       headers={"If-Match": "*"})
    assert edited.status_code == 200, edited
    stale = rep.patch(f"/api/v1/customers/{created.json['id']}", json={"level": "B"},
                      headers={"If-Match": '"0"'})
    assert_problem(stale, 412)


# ------------------------------------------------------------------ (6) /metrics

def test_metrics_need_the_metrics_token_or_an_admin(system, org, client):
    anonymous = client.get("/metrics")
    assert_problem(anonymous, 401)
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert_problem(client.get("/metrics", headers={"Authorization": "Bearer wrong"}), 401)
    assert_problem(org.user("rep").get("/metrics"), 403)
    scraped = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert scraped.status_code == 200
    assert b"crm_http_request_seconds" in scraped.data
    assert org.admin.get("/metrics").status_code == 200



def test_a_service_api_answers_metrics_to_the_metrics_token_only(system):
    service = system.services["customer"].test_client()
    assert_problem(service.get("/metrics"), 401)
    assert_problem(service.get("/metrics", headers={"Authorization": "Bearer wrong"}), 401)
    scraped = service.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert scraped.status_code == 200
    assert b"crm_http_request_seconds" in scraped.data
