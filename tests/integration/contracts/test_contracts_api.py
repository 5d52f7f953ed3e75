"""The contracts service through the gateway (CONTRACT §9): quotes, contracts, payment
plans, payments, costs, receivables and their reports, who may see and change them
(CONTRACT §3: they follow the customer's owner), and a won opportunity's draft contract.
"""
from __future__ import annotations

import itertools
import uuid
from datetime import date
from decimal import Decimal

import pytest

from crm_testing import eventually
from sample_files import HTML, PDF, attach

API = "/api/v1"
_names = itertools.count(1)


@pytest.fixture(scope="module")
def cast(org):
    return {
        "owner": org.user("rep", "east/shanghai/team-1"),
        "team_member": org.user("rep", "east/shanghai/team-1"),
        "sharee": org.user("rep", "east/hangzhou/team-1"),
        "supervisor": org.user("supervisor", "east/shanghai"),
        "manager": org.user("manager", "east"),
        "stranger": org.user("manager", "west", region="west"),
        "admin": org.admin,
    }


def _customer(session, shared_with=()) -> dict:
    reply = session.post(f"{API}/customers", json={
        "name": f"合同测试客户{next(_names)}号{uuid.uuid4().hex[:6]}有限公司",
        "industry": "制造业", "status": "potential",
        "primary_contact": {"name": "王经理", "phone": "13812345678"}})
    assert reply.status_code == 201, reply
    if shared_with:
        shared = session.post(f"{API}/customers/{reply.json['id']}/shares",
                              json={"user_ids": list(shared_with)})
        assert shared.status_code == 200, shared
    return reply.json


def _when_known(send, code: str):
    """Send until the contracts service knows what it refers to (its copies are built
    from events), then the reply."""
    def attempt():
        reply = send()
        return None if reply.json and reply.json.get("code") == code else reply
    return eventually(attempt, message=f"contracts service past {code}")


@pytest.fixture(scope="module")
def deal(cast):
    """A customer of `owner` shared with `sharee`, an opportunity, a quote, a contract."""
    owner = cast["owner"]
    customer = _customer(owner, shared_with=[cast["sharee"].id])
    opp = _when_known(lambda: owner.post(f"{API}/opportunities", json={
        "name": "设备采购", "customer_id": customer["id"], "amount": "100000.00",
        "expected_close_date": "2026-12-31"}), "unknown_customer")
    assert opp.status_code == 201, opp
    quote = _when_known(lambda: owner.post(f"{API}/quotes", json={
        "opportunity_id": opp.json["id"],
        "lines": [{"product": "数控机床", "quantity": 3, "unit_price": "1000.10",
                   "discount": 10},
                  {"product": "保养服务", "quantity": "0.5", "unit_price": "99.99"}]}),
        "unknown_opportunity")
    assert quote.status_code == 201, quote
    contract = owner.post(f"{API}/contracts", json={
        "customer_id": customer["id"], "opportunity_id": opp.json["id"],
        "quote_id": quote.json["id"], "amount": "90000.00", "signed_on": "2026-01-10",
        "starts_on": "2026-01-15", "ends_on": "2026-12-31"})
    assert contract.status_code == 201, contract
    path = f"{API}/contracts/{contract.json['id']}"
    assert owner.put(f"{path}/plan", json={"installments": [
        {"due_on": "2026-03-01", "amount": "90000.00"}]}).status_code == 200
    assert owner.post(f"{path}/status", json={"status": "active"}).status_code == 200
    assert owner.post(f"{path}/payments", json={
        "received_on": "2026-02-10", "amount": "1000.00", "method": "cash"}).status_code == 201
    # the sharee's share reaches the contracts service's copy (customer.shared)
    eventually(lambda: cast["sharee"].get(f"{API}/contracts/{contract.json['id']}")
               .status_code == 200, message="share known to contracts")
    return {"customer": customer, "opportunity": opp.json, "quote": quote.json,
            "contract": contract.json}


def test_a_quote_totals_its_lines_exactly(deal):
    quote = deal["quote"]
    # 3 x 1000.10 less 10 % = 2700.27; 0.5 x 99.99 = 49.995 -> 50.00 (half up)
    assert [line["amount"] for line in quote["lines"]] == ["2700.27", "50.00"]
    assert quote["total"] == "2750.27" and quote["status"] == "draft"
    assert quote["number"].startswith("QT") and quote["version"] == 1
    assert quote["customer_id"] == deal["customer"]["id"]


def test_quote_versions_and_status_machine(cast, deal):
    owner = cast["owner"]
    quote = owner.post(f"{API}/quotes", json={
        "opportunity_id": deal["opportunity"]["id"],
        "lines": [{"product": "A", "quantity": 1, "unit_price": 100}]}).json
    path = f"{API}/quotes/{quote['id']}"
    stale = owner.patch(path, json={"notes": "x"}, headers={"If-Match": "7"})
    assert stale.status_code == 412
    edited = owner.patch(path, json={"lines": [{"product": "A", "quantity": 2,
                                                "unit_price": "100.00", "discount": "12.5"}]},
                         headers={"If-Match": str(quote["version"])})
    assert edited.status_code == 200, edited
    assert edited.json["total"] == "175.00" and edited.json["version"] == 2
    assert edited.headers["ETag"].strip('W/"') == "2"
    for status in ("sent", "accepted"):
        moved = owner.post(f"{path}/status", json={"status": status})
        assert moved.status_code == 200 and moved.json["status"] == status
    back = owner.post(f"{path}/status", json={"status": "draft"})
    assert back.status_code == 409 and back.json["code"] == "invalid_transition"
    frozen = owner.patch(path, json={"notes": "too late"})
    assert frozen.status_code == 409 and frozen.json["code"] == "quote_not_editable"
    listed = owner.get(f"{API}/quotes?opportunity_id={deal['opportunity']['id']}"
                       f"&status=accepted")
    assert [q["id"] for q in listed.json["items"]] == [quote["id"]]
    assert listed.json["total"] == 1 and listed.json["page"] == 1


def test_contract_plan_payments_costs_and_receivable(cast, deal):
    owner = cast["owner"]
    contract = owner.post(f"{API}/contracts", json={
        "customer_id": deal["customer"]["id"], "amount": 30000, "signed_on": "2026-01-01"})
    assert contract.status_code == 201, contract
    c = contract.json
    assert c["number"].startswith("HT") and c["status"] == "draft"
    path = f"{API}/contracts/{c['id']}"
    mismatch = owner.put(f"{path}/plan", json={"installments": [
        {"due_on": "2026-02-01", "amount": "10000"}, {"due_on": "2026-03-01", "amount": 1}]})
    assert mismatch.status_code == 422 and mismatch.json["code"] == "plan_mismatch"
    assert "installments" in mismatch.json["errors"]
    early = owner.post(f"{path}/payments", json={"received_on": "2026-01-20",
                                                 "amount": "100", "method": "bank_transfer"})
    assert early.status_code == 409 and early.json["code"] == "contract_not_active"
    planned = owner.put(f"{path}/plan", json={"installments": [
        {"due_on": "2026-02-01", "amount": "10000.00"},
        {"due_on": "2026-03-01", "amount": "10000.00"},
        {"due_on": "2099-01-01", "amount": "10000.00"}]})
    assert planned.status_code == 200, planned
    assert owner.post(f"{path}/status", json={"status": "active"}).status_code == 200
    paid = owner.post(f"{path}/payments", json={"received_on": "2026-02-01",
                                                "amount": "12000.50",
                                                "method": "bank_transfer",
                                                "reference": "回单001"})
    assert paid.status_code == 201, paid
    body = paid.json
    assert body["received"] == "12000.50" and body["receivable"] == "17999.50"
    # the first installment is covered, 1999.50 of the second; it is past due
    assert [i["outstanding"] for i in body["plan"]] == ["0.00", "7999.50", "10000.00"]
    assert [i["due_on"] for i in body["overdue"]] == ["2026-03-01"]
    assert body["overdue_amount"] == "7999.50"
    over = owner.post(f"{path}/payments", json={"received_on": "2026-02-02",
                                                "amount": "20000", "method": "cash"})
    assert over.status_code == 422 and "amount" in over.json["errors"]
    cost = owner.post(f"{path}/costs", json={"incurred_on": "2026-02-03",
                                             "amount": "800.00", "category": "差旅"})
    assert cost.status_code == 201 and cost.json["costs_total"] == "800.00"
    got = owner.get(path)
    assert [p["amount"] for p in got.json["payments"]] == ["12000.50"]
    assert got.json["costs"][0]["category"] == "差旅"

    report = owner.get(f"{API}/receivables?as_of=2026-05-15")
    row = next(r for r in report.json["rows"] if r["contract_id"] == c["id"])
    # 7999.50 due 2026-03-01 is 75 days late on 2026-05-15
    assert row["receivable"] == "17999.50" and row["overdue_amount"] == "7999.50"
    assert row["ageing"] == {"0-30": "0.00", "31-60": "0.00", "61-90": "7999.50",
                             "90+": "0.00"}
    assert row["not_due"] == "10000.00"
    months = owner.get(f"{API}/receivables/collections?from=2026-02-01&to=2026-02-28")
    # with the 1000.00 the deal's contract received on 2026-02-10
    assert months.json["rows"] == [{"month": "2026-02", "count": 2, "amount": "13000.50"}]
    groups = owner.get(f"{API}/receivables/amount-vs-collected?group_by=owner")
    mine = next(r for r in groups.json["rows"] if r["key"] == owner.id)
    assert mine["collected"] == "13000.50" and mine["contracts"] == 2
    for group_by in ("team", "region"):
        assert owner.get(f"{API}/receivables/amount-vs-collected?group_by={group_by}"
                         ).status_code == 200


def test_contract_numbers_are_unique(cast, deal):
    owner = cast["owner"]
    number = f"HT-T-{uuid.uuid4().hex[:8]}"
    body = {"customer_id": deal["customer"]["id"], "amount": "1.00",
            "signed_on": "2026-01-01", "number": number}
    assert owner.post(f"{API}/contracts", json=body).status_code == 201
    again = owner.post(f"{API}/contracts", json=body)
    assert again.status_code == 409 and again.json["code"] == "number_taken"


@pytest.mark.parametrize("who, read, write", [
    ("owner", 200, 200), ("sharee", 200, 403), ("team_member", 404, 404),
    ("supervisor", 200, 200), ("manager", 200, 200), ("admin", 200, 200),
    ("stranger", 404, 404)])
def test_visibility_follows_the_customers_owner(cast, deal, who, read, write):
    caller = cast[who]
    for kind in ("quote", "contract"):
        path = f"{API}/{kind}s/{deal[kind]['id']}"
        assert caller.get(path).status_code == read, (who, kind)
        assert caller.patch(path, json={"notes": f"by {who}"}).status_code == write, (who, kind)
        listed = caller.get(f"{API}/{kind}s?customer_id={deal['customer']['id']}")
        assert listed.status_code == 200
        assert (deal[kind]["id"] in {i["id"] for i in listed.json["items"]}) == (read == 200)
    assert caller.post(f"{API}/contracts/{deal['contract']['id']}/costs", json={
        "incurred_on": "2026-01-02", "amount": "1.00", "category": "其他"}
    ).status_code == (201 if write == 200 else write)
    rows = caller.get(f"{API}/receivables?customer_id={deal['customer']['id']}").json["rows"]
    assert (deal["contract"]["id"] in {r["contract_id"] for r in rows}) == (read == 200)
    assert rows == [] or read == 200
    for by_owner in (f"owner_id={cast['owner'].id}", "team=east/shanghai/team-1",
                     "region=east"):
        rows = caller.get(f"{API}/receivables?{by_owner}").json["rows"]
        assert (deal["contract"]["id"] in {r["contract_id"] for r in rows}) == (
            read == 200), by_owner
    filtered = caller.get(f"{API}/contracts?owner_id={cast['owner'].id}&status=active")
    assert (deal["contract"]["id"] in {i["id"] for i in filtered.json["items"]}) == (
        read == 200)
    groups = caller.get(f"{API}/receivables/amount-vs-collected?group_by=owner").json["rows"]
    assert (cast["owner"].id in {r["key"] for r in groups}) == (read == 200)
    months = caller.get(f"{API}/receivables/collections?from=2026-02-01&to=2026-02-28")
    # the deal's contract received 1000.00 on 2026-02-10
    if read == 200:
        assert Decimal(months.json["total"]) >= Decimal("1000.00")
    else:
        assert months.json["total"] == "0.00"


def test_strangers_cannot_build_on_a_customer(cast, deal):
    made = cast["stranger"].post(f"{API}/contracts", json={
        "customer_id": deal["customer"]["id"], "amount": "1", "signed_on": "2026-01-01"})
    assert made.status_code == 422 and made.json["code"] == "unknown_customer"
    assert "customer_id" in made.json["errors"]
    quoted = cast["stranger"].post(f"{API}/quotes", json={
        "opportunity_id": deal["opportunity"]["id"],
        "lines": [{"product": "A", "quantity": 1, "unit_price": 1}]})
    assert quoted.status_code == 422 and "opportunity_id" in quoted.json["errors"]
    by_sharee = cast["sharee"].post(f"{API}/contracts", json={
        "customer_id": deal["customer"]["id"], "amount": "1", "signed_on": "2026-01-01"})
    assert by_sharee.status_code == 403


@pytest.mark.parametrize("path, body, field", [
    ("/quotes", {"opportunity_id": "x", "lines": [{"product": "A", "quantity": "-1",
                                                   "unit_price": 1}]}, "lines.0.quantity"),
    ("/quotes", {"opportunity_id": "x", "lines": [{"product": "A", "quantity": 1,
                                                   "unit_price": 1, "discount": 101}]},
     "lines.0.discount"),
    ("/quotes", {"opportunity_id": "x", "lines": []}, "lines"),
    ("/contracts", {"customer_id": "x", "amount": "abc", "signed_on": "2026-01-01"},
     "amount"),
    ("/contracts", {"customer_id": "x", "amount": "1", "signed_on": "tomorrow"},
     "signed_on"),
    ("/contracts", {"customer_id": "x", "amount": "1", "signed_on": "2026-01-01",
                    "status": "active"}, "status"),
])
def test_bad_input_names_the_field(cast, path, body, field):
    reply = cast["owner"].post(f"{API}{path}", json=body)
    assert reply.status_code == 422, reply
    assert field in reply.json["errors"], reply.json
    assert reply.headers["Content-Type"].startswith("application/problem+json")


# (method, the deal's quote or contract, path after it, body, the field named)
BAD_ON_A_RECORD = [
    ("PUT", "contract", "/plan", {"installments": [{"due_on": "x", "amount": 1}]},
     "installments.0.due_on"),
    ("PUT", "contract", "/plan", {"installments": [{"due_on": "2026-03-01"}]},
     "installments.0.amount"),
    ("PUT", "contract", "/plan", {"installments": "monthly"}, "installments"),
    ("PATCH", "contract", "", {"ends_on": "2025-01-01"}, "ends_on"),
    ("PATCH", "contract", "", {"received": "1.00"}, "received"),
    ("POST", "contract", "/status", {"status": "signed"}, "status"),
    ("POST", "contract", "/payments", {"received_on": "2026-02-11", "amount": "-1",
                                       "method": "cash"}, "amount"),
    ("POST", "contract", "/payments", {"received_on": "2026-02-11", "amount": "1"},
     "method"),
    ("POST", "contract", "/payments", {"received_on": "2026-02-30", "amount": "1",
                                       "method": "cash"}, "received_on"),
    ("POST", "contract", "/costs", {"incurred_on": "someday", "amount": "1",
                                    "category": "差旅"}, "incurred_on"),
    ("POST", "contract", "/costs", {"incurred_on": "2026-02-11", "amount": "1.001",
                                    "category": "差旅"}, "amount"),
    ("POST", "contract", "/costs", {"incurred_on": "2026-02-11", "amount": "1",
                                    "category": ""}, "category"),
    ("POST", "contract", "/costs", {"incurred_on": "2026-02-11", "amount": "1",
                                    "category": "x", "colour": "red"}, "colour"),
    ("PATCH", "quote", "", {"lines": [{"product": "", "quantity": 1, "unit_price": 1}]},
     "lines.0.product"),
    ("PATCH", "quote", "", {"valid_until": "soon"}, "valid_until"),
    ("POST", "quote", "/status", {"status": "won"}, "status"),
    ("POST", "quote", "/status", {}, "status"),
]


@pytest.mark.parametrize("method, kind, suffix, body, field", BAD_ON_A_RECORD,
                         ids=[f"{m} {k}{s} {f}" for m, k, s, _, f in BAD_ON_A_RECORD])
def test_bad_input_on_a_quote_or_contract_names_the_field(cast, deal, method, kind, suffix,
                                                          body, field):
    owner = cast["owner"]
    path = f"{API}/{kind}s/{deal[kind]['id']}"
    before = owner.get(path).json
    reply = owner.request(method, f"{path}{suffix}", json_body=body)
    assert reply.status_code == 422, reply
    assert field in reply.json["errors"], reply.json
    assert reply.headers["Content-Type"].startswith("application/problem+json")
    assert owner.get(path).json["version"] == before["version"]


@pytest.mark.parametrize("query, field", [
    ("/receivables?as_of=nope", "as_of"),
    ("/receivables?owner_id=", "owner_id"),
    ("/receivables/collections?from=2026-13-01", "from"),
    ("/receivables/collections?colour=red", "colour"),
    ("/receivables/amount-vs-collected?group_by=colour", "group_by"),
    ("/receivables/amount-vs-collected?signed_to=later", "signed_to"),
    ("/contracts?status=signed", "status"),
    ("/contracts?signed_from=yesterday", "signed_from"),
    ("/quotes?status=won", "status"),
    ("/quotes?per_page=1000", "per_page"),
])
def test_bad_list_and_report_queries_name_the_field(cast, query, field):
    reply = cast["owner"].get(f"{API}{query}")
    assert reply.status_code == 422, reply
    assert field in reply.json["errors"], reply.json


def test_a_won_opportunity_becomes_a_draft_contract(cast, deal):
    owner = cast["owner"]
    customer = _customer(owner)
    opp = _when_known(lambda: owner.post(f"{API}/opportunities", json={
        "name": "赢单项目", "customer_id": customer["id"], "amount": "50000.00",
        "expected_close_date": "2026-12-31"}), "unknown_customer")
    assert opp.status_code == 201, opp
    number = f"WIN-{uuid.uuid4().hex[:8]}"
    won = owner.post(f"{API}/opportunities/{opp.json['id']}/win", json={
        "amount": "48000.00", "contract_number": number,
        "signed_on": date.today().isoformat()})
    assert won.status_code == 200, won

    def drafted():
        items = owner.get(f"{API}/contracts?opportunity_id={opp.json['id']}").json["items"]
        return items or None
    [contract] = eventually(drafted, message="a draft contract for the win")
    assert contract["number"] == number and contract["status"] == "draft"
    assert contract["amount"] == "48000.00" and contract["customer_id"] == customer["id"]
    assert contract["source"] == "opportunity.won"
    assert cast["stranger"].get(f"{API}/contracts/{contract['id']}").status_code == 404


def test_the_paths_and_events_are_documented(cast):
    paths = cast["admin"].get(f"{API}/openapi.json").json["paths"]
    for path in ("/quotes", "/quotes/{quote_id}", "/quotes/{quote_id}/status", "/contracts",
                 "/contracts/{contract_id}", "/contracts/{contract_id}/status",
                 "/contracts/{contract_id}/plan", "/contracts/{contract_id}/payments",
                 "/contracts/{contract_id}/costs", "/receivables",
                 "/receivables/collections", "/receivables/amount-vs-collected"):
        assert f"{API}{path}" in paths, path
    catalog = str(cast["admin"].get(f"{API}/events/catalog").json)
    for event_type in ("quote.created", "quote.status_changed", "contract.created",
                       "contract.status_changed", "payment.received", "cost.recorded"):
        assert event_type in catalog, event_type


def test_a_win_drafts_one_contract_whatever_the_redeliveries(cast, system):
    """opportunity.won delivered twice (and re-sent under a new id) before the customer
    is known: one draft contract, owned as the opportunity was; the customer's later
    events move it to the customer's owner."""
    from crm_testing import caught_up
    from crmkit.bus.publisher import Publisher
    from event_data import envelope

    owner, member = cast["owner"], cast["team_member"]
    customer_id, opportunity_id = uuid.uuid4().hex, uuid.uuid4().hex
    number = f"WIN-{uuid.uuid4().hex[:8]}"
    won = {"opportunity_id": opportunity_id, "customer_id": customer_id,
           "owner_id": owner.id, "owner_team": "east/shanghai/team-1",
           "owner_region": "east", "region": "east", "status": "won", "stage": "won",
           "amount": "500.00", "won": {"amount": "500.00", "contract_number": number,
                                       "signed_on": "2026-11-20"}}
    first = envelope("opportunity.won", won, aggregate_id=opportunity_id)
    again = envelope("opportunity.won", won, aggregate_id=opportunity_id)
    publisher = Publisher(system.settings.amqp_url)
    try:
        for sent in (first, first, again):
            publisher.publish(sent)

        def drafted():
            return owner.get(f"{API}/contracts?opportunity_id={opportunity_id}").json[
                "items"] or None
        eventually(drafted, message="the won opportunity's draft contract")
        caught_up(system, "contracts")
        [contract] = drafted()
        assert contract["number"] == number and contract["amount"] == "500.00"
        assert contract["owner_id"] == owner.id and contract["status"] == "draft"

        publisher.publish(envelope("customer.assigned", {
            "customer_id": customer_id, "owner_id": member.id,
            "owner_team": "east/shanghai/team-1", "owner_region": "east"},
            aggregate_id=customer_id))
        path = f"{API}/contracts/{contract['id']}"
        eventually(lambda: member.get(path).status_code == 200,
                   message="the contract follows the customer's owner")
        assert owner.get(path).status_code == 404
    finally:
        publisher.close()


@pytest.mark.parametrize("who, read, write", [
    ("owner", 200, 201), ("sharee", 200, 403), ("team_member", 404, 404),
    ("supervisor", 200, 201), ("manager", 200, 201), ("admin", 200, 201),
    ("stranger", 404, 404)])
def test_a_contracts_attachments_follow_the_contract(cast, deal, who, read, write):
    """The signed scan: whoever may edit the contract attaches and deletes, whoever may
    see it reads (CONTRACT §10)."""
    parent = f"{API}/contracts/{deal['contract']['id']}"
    scan = attach(cast["owner"], parent, PDF, filename="签字扫描件.pdf")
    assert scan.status_code == 201, scan.json
    caller = cast[who]
    listed = caller.get(f"{parent}/attachments")
    assert listed.status_code == read
    if read == 200:
        assert scan.json["id"] in {a["id"] for a in listed.json["items"]}
    one = caller.get(f"{parent}/attachments/{scan.json['id']}")
    assert one.status_code == read and (read != 200 or one.data == PDF)
    assert attach(caller, parent, PDF).status_code == write
    deleted = caller.delete(f"{parent}/attachments/{scan.json['id']}")
    assert deleted.status_code == (204 if write == 201 else write)


def test_a_contracts_attachment_is_judged_by_its_content(cast, deal):
    parent = f"{API}/contracts/{deal['contract']['id']}"
    disguised = attach(cast["owner"], parent, HTML, filename="伪装.pdf")
    assert disguised.status_code == 422 and disguised.json["code"] == "unsupported_file"
    assert list(disguised.json["errors"]) == ["file"]
    as_json = cast["owner"].post(f"{parent}/attachments", json={"file": "x"})
    assert as_json.status_code == 422 and list(as_json.json["errors"]) == ["file"]
    assert "伪装.pdf" not in {a["filename"] for a in cast["owner"].get(
        f"{parent}/attachments").json["items"]}


# Each write of CONTRACT §9 by each role: the customer's owner, the owner's superiors and
# admins make and change quotes and contracts, a sharee reads only (403), anyone else
# finds nothing (a create naming the customer or the opportunity: 422 naming it; a path:
# 404). EDIT / READ / HIDDEN as in test_visibility_follows_the_customers_owner.
EDIT, READ, HIDDEN = "edit", "read", "hidden"
WRITERS = {"owner": EDIT, "sharee": READ, "team_member": HIDDEN, "supervisor": EDIT,
           "manager": EDIT, "admin": EDIT, "stranger": HIDDEN}


@pytest.mark.parametrize("who, may", sorted(WRITERS.items()))
def test_every_write_follows_the_customers_owner(cast, deal, who, may):
    owner, caller = cast["owner"], cast[who]
    lines = [{"product": "调试服务", "quantity": 1, "unit_price": "100.00"}]
    quote = owner.post(f"{API}/quotes", json={
        "opportunity_id": deal["opportunity"]["id"], "lines": lines}).json
    contract = owner.post(f"{API}/contracts", json={
        "customer_id": deal["customer"]["id"], "amount": "100.00",
        "signed_on": "2026-04-01"}).json
    quote_path, contract_path = f"{API}/quotes/{quote['id']}", f"{API}/contracts/{contract['id']}"
    # name -> (reply, status when allowed, the field a hidden caller's create names)
    calls = {
        "POST /quotes": (caller.post(f"{API}/quotes", json={
            "opportunity_id": deal["opportunity"]["id"], "lines": lines}), 201,
            "opportunity_id"),
        "POST /contracts": (caller.post(f"{API}/contracts", json={
            "customer_id": deal["customer"]["id"], "amount": "1.00",
            "signed_on": "2026-04-01"}), 201, "customer_id"),
        "POST /quotes/{id}/status": (caller.post(f"{quote_path}/status",
                                                 json={"status": "sent"}), 200, None),
        "PUT /contracts/{id}/plan": (caller.put(f"{contract_path}/plan", json={
            "installments": [{"due_on": "2026-05-01", "amount": "100.00"}]}), 200, None),
        "POST /contracts/{id}/status": (caller.post(f"{contract_path}/status",
                                                    json={"status": "active"}), 200, None),
        "POST /contracts/{id}/payments": (caller.post(f"{contract_path}/payments", json={
            "received_on": "2026-04-02", "amount": "10.00", "method": "cash"}), 201, None),
    }
    wrong = []
    for name, (reply, allowed, field) in calls.items():
        expected = {EDIT: allowed, READ: 403, HIDDEN: 422 if field else 404}[may]
        if reply.status_code != expected:
            wrong.append(f"{name}: {reply.status_code}, expected {expected}")
        elif may == HIDDEN and field and field not in reply.json["errors"]:
            wrong.append(f"{name}: names {list(reply.json['errors'])}, not {field}")
        elif may == HIDDEN and not field and contract["number"] in reply.data.decode():
            wrong.append(f"{name}: shows the contract")
    assert not wrong, "\n".join(wrong)
    done = may == EDIT
    assert owner.get(quote_path).json["status"] == ("sent" if done else "draft")
    got = owner.get(contract_path).json
    assert (got["status"], got["received"], len(got["plan"])) == (
        ("active", "10.00", 1) if done else ("draft", "0.00", 0))
