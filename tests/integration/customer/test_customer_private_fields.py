"""Private fields stay private: the pool (every customer's public view) searches, sorts and
filters on public fields only, lists never match outside the caller's visibility, and
the fields kept by deals or decided by managers are not a rep's to set."""
from __future__ import annotations

import random
import uuid
from urllib.parse import quote

import pytest

from crm_testing import fresh_database
from services.customer.api import PUBLIC_OUT
from customer_helpers import (CUSTOMERS, create, customer_body, identity, service_handlers,
                              unique_name, upload, url, xlsx_bytes)

POOL = "/api/v1/pool"


def random_mobile() -> str:
    return "139" + "".join(random.choice("0123456789") for _ in range(8))


@pytest.fixture(scope="module")
def secret(corg):
    """A customer of an east team with contacts nobody outside that team may see, a
    pool customer with its own contact, and an outsider from another region."""
    owner = corg.user("rep", "east/shanghai/team-1", "east")
    outsider = corg.user("rep", "north/beijing/team-2", "north")
    marker = uuid.uuid4().hex[:6]
    phone, mobile, pool_phone = random_mobile(), random_mobile(), random_mobile()
    contact = f"司马{marker}"
    claimed = create(owner, primary_contact={"name": contact, "phone": phone})
    extra = owner.post(url(claimed, "/contacts"), json={"name": f"诸葛{marker}",
                                                        "mobile": mobile})
    assert extra.status_code == 201, extra
    pooled = create(corg.admin, in_pool=True,
                    primary_contact={"name": f"欧阳{marker}", "phone": pool_phone})
    return {"owner": owner, "outsider": outsider, "claimed": claimed, "pooled": pooled,
            "phone": phone, "mobile": mobile, "pool_phone": pool_phone,
            "contact": contact, "extra_contact": f"诸葛{marker}",
            "pool_contact": f"欧阳{marker}"}


def pool_search(session, q: str) -> tuple[set[str], int]:
    reply = session.get(f"{POOL}?per_page=100&q={quote(q)}")
    assert reply.status_code == 200, reply
    return {c["id"] for c in reply.json["items"]}, reply.json["total"]


# --- the pool matches public search terms only --------------------------------------

@pytest.mark.parametrize("probe", [
    "{phone}", "{phone_prefix}", "{phone_tail}", "+86{phone}", "{mobile}", "{mobile_prefix}",
    "{contact}", "{contact_surname_free}", "{extra_contact}",
])
def test_pool_q_never_matches_another_teams_contacts_or_phones(secret, probe):
    text = probe.format(phone=secret["phone"], phone_prefix=secret["phone"][:7],
                        phone_tail=secret["phone"][-6:], mobile=secret["mobile"],
                        mobile_prefix=secret["mobile"][:8], contact=secret["contact"],
                        contact_surname_free=secret["contact"][2:],
                        extra_contact=secret["extra_contact"])
    ids, total = pool_search(secret["outsider"], text)
    assert secret["claimed"]["id"] not in ids
    if len(text) >= 8:
        assert total == 0, f"{text!r} matched {ids}"


@pytest.mark.parametrize("probe", ["{pool_phone}", "{pool_phone_prefix}", "{pool_contact}"])
def test_pool_q_never_matches_the_private_contacts_of_unclaimed_customers(secret, probe):
    text = probe.format(pool_phone=secret["pool_phone"],
                        pool_phone_prefix=secret["pool_phone"][:7],
                        pool_contact=secret["pool_contact"])
    ids, _ = pool_search(secret["outsider"], text)
    assert secret["pooled"]["id"] not in ids


def test_pool_q_still_finds_by_name_number_and_pinyin(secret):
    claimed = secret["claimed"]
    stem = claimed["name"].removeprefix("测试").removesuffix("科技有限公司")  # the uuid part
    for text in (claimed["name"], stem, claimed["number"], claimed["number"][:11],
                 f"cs{stem}", f"ceshi{stem}"):
        ids, _ = pool_search(secret["outsider"], text)
        assert claimed["id"] in ids, text


# --- the pool sorts and filters on public fields only ---------------------------------

@pytest.mark.parametrize("sort", ["deal_amount", "-deal_amount", "last_deal_on",
                                  "-last_deal_on", "last_followup_at", "-last_followup_at"])
def test_pool_refuses_sorting_by_private_fields(secret, sort):
    reply = secret["outsider"].get(f"{POOL}?sort={sort}")
    assert reply.status_code == 422, reply
    assert list(reply.json["errors"]) == ["sort"]
    assert reply.headers["Content-Type"].startswith("application/problem+json")


@pytest.mark.parametrize("sort", ["name", "-created_at", "number", "-updated_at", "level",
                                  "status", "industry", "region", "source"])
def test_pool_sorts_by_public_fields(secret, sort):
    reply = secret["outsider"].get(f"{POOL}?sort={sort}&per_page=100")
    assert reply.status_code == 200, reply
    assert secret["claimed"]["id"] in {c["id"] for c in reply.json["items"]}


def test_a_private_filter_in_the_pool_finds_only_what_the_caller_sees_in_full(secret):
    # CONTRACT §4 keeps the filter in the pool; it must not tell a hidden customer's
    # last follow-up apart, so it finds no customer the caller may not see in full
    for when in ("2000-01-01", "2099-01-01"):
        reply = secret["outsider"].get(f"{POOL}?no_followup_since={when}&per_page=100")
        assert reply.status_code == 200, reply
        assert secret["claimed"]["id"] not in {c["id"] for c in reply.json["items"]}
    mine = secret["owner"].get(f"{POOL}?no_followup_since=2099-01-01&per_page=100")
    assert secret["claimed"]["id"] in {c["id"] for c in mine.json["items"]}


def test_the_customer_list_keeps_private_filters_and_sorts(secret):
    owner = secret["owner"]
    for query in ("no_followup_since=2026-01-01", "sort=-deal_amount",
                  "sort=last_followup_at"):
        reply = owner.get(f"{CUSTOMERS}?scope=mine&{query}")
        assert reply.status_code == 200, (query, reply)


# --- other lists match within the caller's visibility only ----------------------------

@pytest.mark.parametrize("scope", ["mine", "shared", "team", "all"])
def test_customer_list_q_never_reaches_customers_outside_visibility(secret, scope):
    outsider, owner = secret["outsider"], secret["owner"]
    for text in (secret["phone"], secret["phone"][:7], secret["contact"],
                 secret["pool_phone"], secret["pool_contact"]):
        reply = outsider.get(f"{CUSTOMERS}?scope={scope}&per_page=100&q={quote(text)}")
        assert reply.status_code == 200, reply
        ids = {c["id"] for c in reply.json["items"]}
        assert secret["claimed"]["id"] not in ids and secret["pooled"]["id"] not in ids
    mine = owner.get(f"{CUSTOMERS}?scope=all&q={secret['phone']}").json["items"]
    assert [c["id"] for c in mine] == [secret["claimed"]["id"]]


def test_export_q_never_reaches_customers_outside_visibility(secret):
    reply = secret["outsider"].get(
        f"{CUSTOMERS}/export?format=csv&q={secret['phone'][:7]}")
    assert reply.status_code == 200
    assert secret["claimed"]["number"] not in reply.data.decode("utf-8-sig")


# --- deal and region fields: managers and admins only ---------------------------------

MANAGED = [("deal_amount", "1000.00"), ("last_deal_on", "2026-11-01"), ("region", "north")]


@pytest.mark.parametrize("field, value", MANAGED)
@pytest.mark.parametrize("role", ["rep", "supervisor"])
def test_a_rep_or_supervisor_may_not_create_with_deal_or_region_fields(corg, role, field,
                                                                       value):
    session = corg.user(role, "east/shanghai/team-1" if role == "rep" else "east/shanghai")
    body = customer_body(**{field: value})
    reply = session.post(CUSTOMERS, json=body)
    assert reply.status_code == 403, reply
    assert reply.json["code"] == "field_not_allowed"
    assert list(reply.json["errors"]) == [field]
    assert corg.admin.get(f"/api/v1/customers/duplicates?name={quote(body['name'])}"
                          ).json["items"] == []


@pytest.mark.parametrize("field, value", MANAGED)
def test_a_rep_may_not_set_deal_or_region_fields_on_update(corg, field, value):
    rep = corg.user("rep")
    customer = create(rep)
    reply = rep.patch(url(customer), json={field: value, "level": "A"})
    assert reply.status_code == 403, reply
    assert reply.json["code"] == "field_not_allowed" and list(reply.json["errors"]) == [field]
    after = rep.get(url(customer)).json
    assert after["version"] == customer["version"] and after["level"] is None
    assert after[field] == customer[field]


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_managers_and_admins_still_set_deal_and_region_fields(corg, role):
    session = corg.user(role, "east", "east")
    created = session.post(CUSTOMERS, json=customer_body(
        deal_amount="1200.5", last_deal_on="2026-11-01", region="north"))
    assert created.status_code == 201, created
    body = created.json
    assert (body["deal_amount"], body["last_deal_on"], body["region"]) == (
        "1200.50", "2026-11-01", "north")
    rep = corg.user("rep")
    customer = create(rep)
    patched = session.patch(url(customer), json={"deal_amount": 99, "last_deal_on":
                                                 "2026-10-01", "region": "south"})
    assert patched.status_code == 200, patched
    assert (patched.json["deal_amount"], patched.json["last_deal_on"],
            patched.json["region"]) == ("99.00", "2026-10-01", "south")


def test_a_reps_import_reports_deal_and_region_columns_by_row(corg):
    rep, manager = corg.user("rep"), corg.user("manager", "east", "east")
    header = ["客户名称", "行业", "状态", "联系人", "联系电话", "区域", "成交金额"]
    plain, with_deal = unique_name(), unique_name()
    rows = [header, [plain, "软件", "potential", "张三", "13812345678", None, None],
            [with_deal, "软件", "potential", "李四", "13812345679", "north", 1000]]
    result = upload(rep, xlsx_bytes(rows), "customers.xlsx").json
    assert result["created"] == 1
    assert {(e["row"], e["field"], e["code"]) for e in result["errors"]} == {
        (3, "region", "field_not_allowed"), (3, "deal_amount", "field_not_allowed")}
    rows[1][0], rows[2][0] = unique_name(), unique_name()
    kept = upload(manager, xlsx_bytes(rows), "customers.xlsx").json
    assert kept["created"] == 2 and kept["errors"] == []
    mine = {c["name"]: c for c in manager.get(f"{CUSTOMERS}?scope=mine").json["items"]}
    assert mine[rows[2][0]]["deal_amount"] == "1000.00"
    assert mine[rows[2][0]]["region"] == "north"


# --- documents written before the public search terms existed -------------------------

def test_customers_stored_before_public_terms_are_filled_and_found_in_the_pool():
    db = fresh_database("terms")
    handlers = service_handlers(db=db)
    rep = identity("rep1")
    customer = handlers.create_customer(customer_body(), rep)
    stem = customer.name.removeprefix("测试").removesuffix("科技有限公司")
    # As an older version stored it: no public terms, and no note of having filled them.
    db["customers"].update_many({}, {"$unset": {"public_terms": ""}})
    db["scheduled_runs"].delete_many({})
    query = {"page": 1, "per_page": 20, "sort": None, "q": stem}
    loaded, seen = handlers.get_customer(customer.id, rep)  # reads tolerate the gap
    assert loaded.name == customer.name and seen == "full"
    handlers.repository.ensure_indexes()                      # what start-up runs
    customers, total = handlers.pool(query, identity("rep2", team="north/a", region="north"))
    assert total == 1 and customers[0].id == customer.id
    # internal, never listed: the page holds customers, read without the search terms
    assert not hasattr(customers[0], "public_terms")
    assert "public_terms" not in PUBLIC_OUT.dump(customers[0])
    # Filling the terms is storage upkeep, not a change of the customer: same version.
    assert handlers.get_customer(customer.id, rep)[0].version == customer.version


def test_the_pool_still_finds_the_callers_own_customer_by_its_contacts_phone(secret):
    # CONTRACT §4: the pool's q matches contact names and phones as the list's does,
    # for the customers the caller sees in full
    reply = secret["owner"].get(f"{POOL}?q={secret['phone']}&per_page=100")
    assert reply.status_code == 200, reply
    assert secret["claimed"]["id"] in {c["id"] for c in reply.json["items"]}
