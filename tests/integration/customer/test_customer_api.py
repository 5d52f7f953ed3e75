"""Creating, reading and editing customers through the gateway (CONTRACT §2, §4)."""
from __future__ import annotations

import re

from customer_helpers import CUSTOMERS, create, customer_body, unique_name, url


def test_create_returns_the_full_record_owned_by_the_creator(corg):
    rep = corg.user("rep")
    reply = rep.post(CUSTOMERS, json=customer_body(level="A", tags=["重点跟进"],
                                                   needs="采购"))
    assert reply.status_code == 201, reply
    body = reply.json
    assert re.fullmatch(r"CRM\d{8}\d{4,}", body["number"]) and body["id"] == body["number"]
    assert body["owner_id"] == rep.id and body["claimed"] is True and body["view"] == "full"
    assert body["deal_amount"] == "0.00" and body["currency"] == "CNY"
    assert body["primary_contact"] == {"name": "王经理", "phone": "13812345678"}
    assert body["version"] == 1 and reply.headers["ETag"] == '"1"'
    assert body["created_at"].endswith("+00:00")
    again = rep.get(url(body))
    assert again.status_code == 200 and again.json == body


def test_in_pool_creation_and_owner_for_someone_else(corg):
    rep, supervisor = corg.user("rep"), corg.user("supervisor", "east/shanghai")
    pooled = create(rep, in_pool=True)
    assert pooled["owner_id"] is None and pooled["view"] == "public"
    assert "primary_contact" not in pooled
    given = create(supervisor, owner_id=rep.id)
    assert given["owner_id"] == rep.id and given["created_by"] == supervisor.id
    refused = rep.post(CUSTOMERS, json=customer_body(owner_id=supervisor.id))
    assert refused.status_code == 403
    both = supervisor.post(CUSTOMERS, json=customer_body(owner_id=rep.id, in_pool=True))
    assert both.status_code == 422 and "owner_id" in both.json["errors"]


def test_required_fields_are_named(corg):
    rep = corg.user("rep")
    reply = rep.post(CUSTOMERS, json={"name": unique_name(), "primary_contact": {}})
    assert reply.status_code == 422
    assert reply.headers["Content-Type"].startswith("application/problem+json")
    assert {"industry", "status", "primary_contact.name",
            "primary_contact.phone"} <= set(reply.json["errors"])


def test_phone_rules(corg):
    rep = corg.user("rep")
    for phone in ("12812345678", "138-1234-5678", "1381234567", "abc"):
        reply = rep.post(CUSTOMERS, json=customer_body(
            primary_contact={"name": "王", "phone": phone}))
        assert reply.status_code == 422, phone
        assert list(reply.json["errors"]) == ["primary_contact.phone"]
    for phone in ("+8613812345678", "02112345678", "+14155552671"):
        assert rep.post(CUSTOMERS, json=customer_body(
            primary_contact={"name": "王", "phone": phone})).status_code == 201, phone


def test_unknown_and_server_managed_fields_are_refused(corg):
    rep = corg.user("rep")
    for extra in ({"colour": "red"}, {"id": "x"}, {"number": "CRM1"}, {"version": 2},
                  {"created_at": "2026-01-01T00:00:00+00:00"}):
        reply = rep.post(CUSTOMERS, json=customer_body(**extra))
        assert reply.status_code == 422 and reply.json["code"] == "unknown_field", extra
    created = create(rep)
    reply = rep.patch(url(created), json={"owner_id": "someone"})
    assert reply.status_code == 422 and reply.json["code"] == "unknown_field"


def test_sensitive_data_is_refused_in_every_text_field(corg):
    rep = corg.user("rep")
    resident = "11010519491231002X"  # a valid check character
    for field, value in (("needs", "卡号 4111111111111111"), ("address", f"证件{resident}"),
                         ("tags", ["4111-1111-1111-1111"])):
        reply = rep.post(CUSTOMERS, json=customer_body(**{field: value}))
        assert reply.status_code == 422, field
        assert reply.json["code"] == "sensitive_data" and field in reply.json["errors"]
    contact = rep.post(CUSTOMERS, json=customer_body(primary_contact={
        "name": "王 4111111111111111", "phone": "13812345678"}))
    assert contact.json["code"] == "sensitive_data"
    assert "primary_contact.name" in contact.json["errors"]
    created = create(rep)
    patched = rep.patch(url(created), json={"needs": "身份证 11010519491231002X"})
    assert patched.status_code == 422 and patched.json["code"] == "sensitive_data"


def test_normalised_duplicate_names_conflict_with_matches(corg):
    rep, other = corg.user("rep"), corg.user("rep", "north/beijing/team-1", "north")
    stem = unique_name("商策").removesuffix("科技有限公司")
    first = create(rep, name=f"上海{stem}科技有限公司")
    for name in (f"{stem}科技(上海)有限公司", f"{stem}科技股份有限公司", f"{stem}科技"):
        reply = other.post(CUSTOMERS, json=customer_body(name=name))
        assert reply.status_code == 409, name
        assert reply.json["code"] == "duplicate_customer"
        assert [m["id"] for m in reply.json["matches"]] == [first["id"]]
    second = create(rep)
    renamed = rep.patch(url(second), json={"name": f"北京{stem}科技有限公司"})
    assert renamed.status_code == 409 and renamed.json["code"] == "duplicate_customer"


def test_a_deleted_customer_frees_its_name(corg):
    supervisor = corg.user("supervisor", "east/shanghai")
    name = unique_name()
    pooled = create(supervisor, name=name, in_pool=True)
    assert supervisor.delete(url(pooled)).status_code == 200
    assert supervisor.post(CUSTOMERS, json=customer_body(name=name)).status_code == 201


def test_renaming_frees_the_old_name(corg):
    rep = corg.user("rep")
    old = unique_name()
    created = create(rep, name=old)
    assert rep.patch(url(created), json={"name": unique_name()}).status_code == 200
    assert rep.post(CUSTOMERS, json=customer_body(name=old)).status_code == 201


def test_duplicates_endpoint_finds_likely_matches(corg):
    rep = corg.user("rep")
    stem = unique_name("商策").removesuffix("科技有限公司")
    first = create(rep, name=f"上海{stem}科技有限公司")
    for query in (stem, f"{stem}科技有限公司", f"深圳市{stem}科技"):
        reply = rep.get(f"{CUSTOMERS}/duplicates?name={query}")
        assert reply.status_code == 200
        assert first["id"] in [m["id"] for m in reply.json["items"]], query
    assert rep.get(f"{CUSTOMERS}/duplicates").status_code == 422


def test_idempotency_key_returns_the_first_response(corg):
    rep = corg.user("rep")
    body = customer_body()
    headers = {"Idempotency-Key": "create-once-1"}
    first = rep.post(CUSTOMERS, json=body, headers=headers)
    second = rep.post(CUSTOMERS, json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json["id"] == second.json["id"]
    assert rep.get(f"{CUSTOMERS}?scope=mine").json["total"] == 1


def test_patch_with_if_match(corg):
    rep = corg.user("rep")
    created = create(rep)
    fresh = rep.patch(url(created), json={"status": "intent", "level": "A"},
                      headers={"If-Match": '"1"'})
    assert fresh.status_code == 200 and fresh.json["version"] == 2
    assert fresh.headers["ETag"] == '"2"'
    stale = rep.patch(url(created), json={"level": "B"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412 and stale.json["code"] == "stale_version"
    history = rep.get(url(created, "/history")).json
    assert [h["action"] for h in history] == ["created", "updated"]
    assert history[1]["changes"] == {"status": ["potential", "intent"], "level": [None, "A"]}
    assert history[1]["actor_id"] == rep.id and history[1]["at"].endswith("+00:00")


def test_malformed_json_is_400(corg):
    rep = corg.user("rep")
    reply = rep.request("POST", CUSTOMERS, data=b"{not json",
                        content_type="application/json")
    assert reply.status_code == 400


def test_unknown_customer_is_404(corg):
    assert corg.user("rep").get(url("CRM209901010001")).status_code == 404
