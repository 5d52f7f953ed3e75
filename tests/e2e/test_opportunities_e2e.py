"""The sales pipeline as users meet it: `crm up` (separate processes, the real broker),
driven over HTTP. A rep opens an opportunity on a customer created a moment ago, works
it through the stages with notes, plans a follow-up that lands in the calendar, wins
it; the supervisor sees it all, a rep of another team sees nothing."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from crm_testing import eventually

OPPS = "/api/v1/opportunities"
CUSTOMER = {"name": "苏州恒达精密机械有限公司", "industry": "制造业", "status": "intent",
            "primary_contact": {"name": "周经理", "phone": "13912345678"}}


def test_a_rep_works_an_opportunity_from_lead_to_won(crm, org):
    rep = org.user("rep", "east/suzhou/team-1")
    supervisor = org.user("supervisor", "east/suzhou")
    stranger = org.user("rep", "east/suzhou/team-2")
    customer = rep.post("/api/v1/customers", json=CUSTOMER)
    assert customer.status_code == 201, customer
    body = {"name": "恒达2026年数控设备采购项目", "customer_id": customer.json["id"],
            "amount": "480000.00", "expected_close_date": "2027-03-31", "product": "数控机床"}

    def opened():
        reply = rep.post(OPPS, json=body)
        return reply if reply.status_code == 201 else None

    opp = eventually(opened, timeout=10, message="customer known to the pipeline").json
    url = f"{OPPS}/{opp['id']}"
    assert (opp["stage"], opp["probability"], opp["owner_id"]) == ("lead", 10, rep.id)

    assert rep.post(f"{url}/stage", json={"stage": "proposal"}).status_code == 422
    for stage, note in (("needs_analysis", "需求明确"), ("proposal", "方案已提交"),
                        ("negotiation", "客户希望价格下调5%")):
        reply = rep.post(f"{url}/stage", json={"stage": stage, "note": note})
        assert reply.status_code == 200, reply
    assert reply.json["probability"] == 75

    start = (datetime.now(timezone.utc) + timedelta(days=4)).replace(microsecond=0)
    plan = rep.post(f"{url}/followup-plans", json={
        "start_at": start.isoformat(), "end_at": (start + timedelta(hours=1)).isoformat(),
        "method": "visit", "content": "上门确认合同条款"})
    assert plan.status_code == 201, plan
    eventually(lambda: rep.get(f"/api/v1/tasks?opportunity_id={opp['id']}").json["total"]
               >= 1, timeout=5, message="the plan in the rep's tasks")

    assert supervisor.get(url).status_code == 200
    assert stranger.get(url).status_code == 404
    assert stranger.get(f"{OPPS}?customer_id={customer.json['id']}").json["total"] == 0

    won = rep.post(f"{url}/win", json={"amount": "470000.00", "contract_number": "HT-E2E-1",
                                       "signed_on": "2026-11-20"})
    assert won.status_code == 200 and won.json["status"] == "won"
    closed = rep.post(f"{url}/stage", json={"stage": "contract", "note": "late"})
    assert closed.status_code == 409 and closed.json["code"] == "opportunity_closed"
    history = rep.get(f"{url}/history").json
    assert [h["to"] for h in history] == ["needs_analysis", "proposal", "negotiation", "won"]


def test_pipeline_and_catalog_are_public_to_users(crm, org):
    rep = org.user("rep")
    pipeline = rep.get("/api/v1/pipeline")
    assert pipeline.status_code == 200
    assert pipeline.json["stages"][0]["key"] == "lead"
    catalog = rep.get("/api/v1/events/catalog").json
    names = {m["name"] for m in catalog["components"]["messages"].values()}
    assert {"opportunity.won", "opportunity.assigned", "opportunity.followup_planned"} <= names
