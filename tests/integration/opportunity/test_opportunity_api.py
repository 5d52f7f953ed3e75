"""CONTRACT §5 through the gateway: create, read, edit, stages, closing, history, lists."""
from __future__ import annotations

from decimal import Decimal

import pytest

from opp_helpers import OPPS, future, new_customer, open_when_known, opportunity_body


@pytest.fixture
def opp(people):
    customer = new_customer(people["rep1"])
    return open_when_known(people["rep1"], customer["id"])


def url(opp, suffix=""):
    return f"{OPPS}/{opp['id']}{suffix}"


# ---- creating

def test_new_opportunity_starts_at_the_first_stage_owned_like_its_customer(people, opp):
    assert (opp["stage"], opp["probability"], opp["status"]) == ("lead", 10, "open")
    assert opp["owner_id"] == people["rep1"].id and opp["region"] == "east"
    assert opp["amount"] == "120000.50" and opp["currency"] == "CNY"
    assert opp["expected_close_date"] == "2026-12-31"
    assert opp["won"] is None and opp["lost"] is None and opp["version"] == 1
    assert opp["customer_name"].startswith("测试客户")


def test_unknown_customer_is_422_unknown_customer(people):
    reply = people["rep1"].post(OPPS, json=opportunity_body("no-such-customer"))
    assert reply.status_code == 422
    assert reply.json["code"] == "unknown_customer" and "customer_id" in reply.json["errors"]


def test_customer_the_caller_cannot_see_is_422_unknown_customer(people):
    theirs = new_customer(people["rep3"])
    open_when_known(people["rep3"], theirs["id"])  # the event has arrived by now
    reply = people["rep1"].post(OPPS, json=opportunity_body(theirs["id"]))
    assert reply.status_code == 422 and reply.json["code"] == "unknown_customer"


def test_required_fields_and_unknown_or_server_fields(people, opp):
    reply = people["rep1"].post(OPPS, json={"customer_id": opp["customer_id"]})
    assert reply.status_code == 422
    assert {"name", "amount", "expected_close_date"} <= set(reply.json["errors"])
    for extra in ({"owner_id": people["rep2"].id}, {"stage": "proposal"}, {"version": 3},
                  {"colour": "red"}):
        reply = people["rep1"].post(OPPS, json=opportunity_body(opp["customer_id"], **extra))
        assert reply.status_code == 422, extra
        assert reply.json["code"] == "unknown_field"


@pytest.mark.parametrize("amount", ["-5", "1.005", "lots", None, True])
def test_bad_amounts_are_422_on_amount(people, opp, amount):
    reply = people["rep1"].post(OPPS, json=opportunity_body(opp["customer_id"],
                                                            amount=amount))
    assert reply.status_code == 422 and "amount" in reply.json["errors"]


def test_amount_may_be_a_number(people, opp):
    reply = people["rep1"].post(OPPS, json=opportunity_body(opp["customer_id"], amount=99.9))
    assert reply.status_code == 201 and reply.json["amount"] == "99.90"


def test_idempotency_key_creates_once(people, opp):
    body = opportunity_body(opp["customer_id"], name="幂等商机")
    headers = {"Idempotency-Key": "opp-key-1"}
    first = people["rep1"].post(OPPS, json=body, headers=headers)
    again = people["rep1"].post(OPPS, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json["id"] == again.json["id"]
    listed = people["rep1"].get(f"{OPPS}?customer_id={opp['customer_id']}&q=幂等商机")
    assert listed.json["total"] == 1


def test_malformed_json_is_400(people):
    reply = people["rep1"].request("POST", OPPS, data=b"{not json",
                                   content_type="application/json")
    assert reply.status_code == 400


# ---- editing

def test_patch_with_if_match_and_etag(people, opp):
    rep = people["rep1"]
    reply = rep.patch(url(opp), json={"product": "数控机床", "amount": "130000"},
                      headers={"If-Match": '"1"'})
    assert reply.status_code == 200, reply
    assert reply.json["product"] == "数控机床" and reply.json["amount"] == "130000.00"
    assert reply.json["version"] == 2 and reply.headers["ETag"] == '"2"'
    stale = rep.patch(url(opp), json={"product": "x"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412


def test_patch_refuses_server_fields_and_stage(people, opp):
    for body in ({"owner_id": people["rep2"].id}, {"stage": "proposal"},
                 {"customer_id": "c"}, {"status": "won"}, {"version": 9}):
        reply = people["rep1"].patch(url(opp), json=body)
        assert reply.status_code == 422, body


def test_probability_follows_stage_unless_set_by_hand(people, opp):
    rep = people["rep1"]
    moved = rep.post(url(opp, "/stage"), json={"stage": "proposal", "note": "方案已提交"})
    assert moved.json["probability"] == 50 and moved.json["probability_source"] == "stage"
    rep.patch(url(opp), json={"probability": 35})
    moved = rep.post(url(opp, "/stage"), json={"stage": "negotiation", "note": "进入谈判"})
    assert moved.json["probability"] == 35 and moved.json["probability_source"] == "manual"
    reset = rep.patch(url(opp), json={"probability": None})
    assert reset.json["probability"] == 75


# ---- stages, history, closing

def test_stage_change_needs_a_note_and_a_real_stage(people, opp):
    rep = people["rep1"]
    missing = rep.post(url(opp, "/stage"), json={"stage": "proposal"})
    assert missing.status_code == 422 and "note" in missing.json["errors"]
    blank = rep.post(url(opp, "/stage"), json={"stage": "proposal", "note": "   "})
    assert blank.status_code == 422 and "note" in blank.json["errors"]
    unknown = rep.post(url(opp, "/stage"), json={"stage": "dreaming", "note": "n"})
    assert unknown.status_code == 422 and "stage" in unknown.json["errors"]
    closing = rep.post(url(opp, "/stage"), json={"stage": "won", "note": "n"})
    assert closing.status_code == 422 and "stage" in closing.json["errors"]


def test_history_lists_stage_changes_with_time_actor_from_to_note(people, opp):
    rep = people["rep1"]
    rep.post(url(opp, "/stage"), json={"stage": "needs_analysis", "note": "需求明确"})
    rep.post(url(opp, "/stage"), json={"stage": "proposal",
                                       "note": "客户对方案细节提出3点修改意见"})
    history = rep.get(url(opp, "/history"))
    assert history.status_code == 200
    assert [(h["from"], h["to"], h["note"]) for h in history.json] == [
        ("lead", "needs_analysis", "需求明确"),
        ("needs_analysis", "proposal", "客户对方案细节提出3点修改意见")]
    assert all(h["actor_id"] == rep.id and h["at"].endswith("+00:00")
               for h in history.json)
    assert all(h["action"] == "stage_changed" for h in history.json)


def test_win_needs_its_fields_and_closes(people, opp):
    rep = people["rep1"]
    missing = rep.post(url(opp, "/win"), json={"amount": "1000"})
    assert missing.status_code == 422
    assert {"contract_number", "signed_on"} <= set(missing.json["errors"])
    won = rep.post(url(opp, "/win"), json={"amount": "118000.00",
                                           "contract_number": "HT-2026-001",
                                           "signed_on": "2026-11-20"})
    assert won.status_code == 200, won
    assert (won.json["status"], won.json["stage"], won.json["probability"]) == (
        "won", "won", 100)
    assert won.json["won"] == {"amount": "118000.00", "contract_number": "HT-2026-001",
                               "signed_on": "2026-11-20"}
    assert rep.get(url(opp, "/history")).json[-1]["to"] == "won"


def test_lose_needs_a_reason_and_closes(people, opp):
    rep = people["rep1"]
    assert rep.post(url(opp, "/lose"), json={}).status_code == 422
    lost = rep.post(url(opp, "/lose"), json={"reason": "价格过高"})
    assert lost.status_code == 200
    assert (lost.json["status"], lost.json["probability"]) == ("lost", 0)
    assert lost.json["lost"] == {"reason": "价格过高"}


def test_closed_opportunity_refuses_changes_with_409(people, opp):
    rep = people["rep1"]
    rep.post(url(opp, "/lose"), json={"reason": "客户选择竞品"})
    attempts = [
        rep.post(url(opp, "/stage"), json={"stage": "proposal", "note": "n"}),
        rep.patch(url(opp), json={"product": "x"}),
        rep.post(url(opp, "/win"), json={"amount": "1", "contract_number": "A",
                                         "signed_on": "2026-01-01"}),
        rep.post(url(opp, "/lose"), json={"reason": "again"}),
        rep.post(url(opp, "/followup-plans"), json={
            "start_at": future(3), "end_at": future(3, 1), "method": "call",
            "content": "电话回访"}),
        rep.post(url(opp, "/reminders"), json={"remind_at": future(1)}),
    ]
    for reply in attempts:
        assert reply.status_code == 409, reply
        assert reply.json["code"] == "opportunity_closed"


# ---- follow-up plans and reminders (the tasks side is tested in the events module)

def test_followup_plan_validation_and_reminder_one_day_before(people, opp):
    rep = people["rep1"]
    bad = rep.post(url(opp, "/followup-plans"), json={
        "start_at": future(3), "end_at": future(2), "method": "email", "content": ""})
    assert bad.status_code == 422 and "method" in bad.json["errors"]
    backwards = rep.post(url(opp, "/followup-plans"), json={
        "start_at": future(3), "end_at": future(2), "method": "visit", "content": "拜访"})
    assert backwards.status_code == 422 and "end_at" in backwards.json["errors"]
    plan = rep.post(url(opp, "/followup-plans"), json={
        "start_at": "2030-03-20T14:00:00+08:00", "end_at": "2030-03-20T15:00:00+08:00",
        "method": "online_meeting", "content": "了解客户对系统模块的具体需求"})
    assert plan.status_code == 201, plan
    assert plan.json["reminders"] == [{"remind_at": "2030-03-19T06:00:00.000+00:00"}]
    assert plan.json["assignee_id"] == rep.id
    assert rep.get(url(opp, "/followup-plans")).json["total"] == 1


def test_reminder_must_be_in_the_future(people, opp):
    rep = people["rep1"]
    past = rep.post(url(opp, "/reminders"), json={"remind_at": "2020-01-01T00:00:00+00:00"})
    assert past.status_code == 422 and "remind_at" in past.json["errors"]
    naive = rep.post(url(opp, "/reminders"), json={"remind_at": "2030-01-01T00:00:00"})
    assert naive.status_code == 422
    made = rep.post(url(opp, "/reminders"), json={"remind_at": future(2), "note": "报价截止"})
    assert made.status_code == 201 and made.json["user_id"] == rep.id


# ---- who may see and change what (CONTRACT §3)

@pytest.mark.parametrize("who, reads, edits", [
    ("rep1", 200, 200), ("rep2", 404, 404), ("rep3", 404, 404), ("sup1", 200, 200),
    ("sup2", 404, 404), ("mgr", 200, 200), ("mgr_w", 404, 404), ("sup_w", 404, 404),
    ("admin", 200, 200),
])
def test_visibility_and_edit_rights_per_role(people, opp, who, reads, edits):
    session = people[who]
    assert session.get(url(opp)).status_code == reads
    assert session.get(url(opp, "/history")).status_code == reads
    reply = session.post(url(opp, "/stage"), json={"stage": "proposal", "note": who})
    assert reply.status_code == edits, reply
    listed = session.get(f"{OPPS}?customer_id={opp['customer_id']}").json
    assert listed["total"] == (1 if reads == 200 else 0)


def test_supervisor_may_open_an_opportunity_for_a_reps_customer(people):
    customer = new_customer(people["rep1"])
    opp = open_when_known(people["sup1"], customer["id"])
    assert opp["owner_id"] == people["rep1"].id


# ---- lists

@pytest.fixture
def three(people):
    rep = people["rep1"]
    customer = new_customer(rep)
    made = [open_when_known(rep, customer["id"], name="甲项目", amount="0.10",
                            expected_close_date="2026-12-01"),
            open_when_known(rep, customer["id"], name="乙项目", amount="0.20",
                            expected_close_date="2027-01-15", product="ERP"),
            open_when_known(rep, customer["id"], name="丙项目", amount="1000000.35",
                            expected_close_date="2027-03-01")]
    rep.post(url(made[1], "/stage"), json={"stage": "proposal", "note": "n"})
    rep.post(url(made[2], "/lose"), json={"reason": "价格"})
    return customer, made


def test_list_filters(people, three):
    customer, made = three
    rep = people["rep1"]
    base = f"{OPPS}?customer_id={customer['id']}"

    def names(query):
        reply = rep.get(base + query)
        assert reply.status_code == 200, reply
        return sorted(i["name"] for i in reply.json["items"])

    assert names("") == ["丙项目", "乙项目", "甲项目"]
    assert names("&stage=proposal") == ["乙项目"]
    assert names("&status=lost") == ["丙项目"]
    assert names("&status=open") == ["乙项目", "甲项目"]
    assert names("&close_from=2027-01-01") == ["丙项目", "乙项目"]
    assert names("&close_to=2027-01-15") == ["乙项目", "甲项目"]
    assert names(f"&owner_id={rep.id}&scope=mine") == ["丙项目", "乙项目", "甲项目"]
    assert names("&q=ERP") == ["乙项目"]
    assert names("&q=甲") == ["甲项目"]
    assert names("&scope=shared") == []


def test_list_sort_pagination_and_exact_sums(people, three):
    customer, _ = three
    rep = people["rep1"]
    base = f"{OPPS}?customer_id={customer['id']}"
    page = rep.get(base + "&sort=-amount&per_page=2&page=1").json
    assert [i["amount"] for i in page["items"]] == ["1000000.35", "0.20"]
    assert (page["total"], page["page"], page["per_page"]) == (3, 1, 2)
    rest = rep.get(base + "&sort=-amount&per_page=2&page=2").json
    assert [i["amount"] for i in rest["items"]] == ["0.10"]
    assert page["amount_totals"] == {"CNY": "1000000.65"}
    assert Decimal(page["amount_totals"]["CNY"]) == (Decimal("0.10") + Decimal("0.20")
                                                     + Decimal("1000000.35"))
    by_close = rep.get(base + "&sort=expected_close_date").json["items"]
    assert [i["name"] for i in by_close] == ["甲项目", "乙项目", "丙项目"]


@pytest.mark.parametrize("query", ["sort=colour", "per_page=101", "page=0", "status=maybe",
                                   "close_from=yesterday", "scope=everything"])
def test_bad_list_queries_are_422(people, query):
    assert people["rep1"].get(f"{OPPS}?{query}").status_code == 422


def test_opportunity_paths_are_documented_in_openapi(opp_system):
    doc = opp_system.services["opportunity"].test_client().get("/openapi.json").json
    for path in ("/api/v1/opportunities", "/api/v1/opportunities/{opportunity_id}/stage",
                 "/api/v1/opportunities/{opportunity_id}/history", "/api/v1/pipeline",
                 "/api/v1/opportunities/{opportunity_id}/followup-plans",
                 "/api/v1/opportunities/{opportunity_id}/reminders"):
        assert path in doc["paths"], path
