"""Recover and auto-reclaim through the customer service: the customer's open
opportunities become unowned with it (supervisors and up still see them) and go to
whoever claims it next. Own module: the pool rules are global."""
from __future__ import annotations

from datetime import date, timedelta

from crm_testing import eventually
from opp_helpers import OPPS, new_customer, open_when_known


def owner(session, opp):
    reply = session.get(f"{OPPS}/{opp['id']}")
    return reply.json["owner_id"] if reply.status_code == 200 else reply.status_code


def test_recover_leaves_the_opportunity_to_supervisors(people):
    rep1, sup1 = people["rep1"], people["sup1"]
    customer = new_customer(rep1)
    opp = open_when_known(rep1, customer["id"])
    reply = sup1.post(f"/api/v1/customers/{customer['id']}/recover", json={})
    assert reply.status_code == 200, reply
    eventually(lambda: owner(sup1, opp) is None, timeout=5, message="unowned")
    assert rep1.get(f"{OPPS}/{opp['id']}").status_code == 404
    assert people["mgr"].get(f"{OPPS}/{opp['id']}").status_code == 200
    history = sup1.get(f"{OPPS}/{opp['id']}/history").json
    assert history[-1]["note"] == "customer.recovered"


def test_auto_reclaim_then_claim(people):
    rep1, rep2, admin = people["rep1"], people["rep2"], people["admin"]
    customer = new_customer(rep1)
    opp = open_when_known(rep1, customer["id"])
    rules = admin.put("/api/v1/pool/rules", json={"auto_reclaim": True,
                                                  "days_without_followup": 30})
    assert rules.status_code == 200, rules
    try:
        as_of = (date.today() + timedelta(days=90)).isoformat()
        ran = admin.post(f"/api/v1/pool/reclaim?as_of={as_of}", json={})
        assert ran.status_code == 200, ran
    finally:
        admin.put("/api/v1/pool/rules", json={"auto_reclaim": False})
    eventually(lambda: owner(admin, opp) is None, timeout=5,
               message="unowned after auto-reclaim")
    claimed = rep2.post(f"/api/v1/customers/{customer['id']}/claim", json={})
    assert claimed.status_code == 200, claimed
    eventually(lambda: owner(rep2, opp) == rep2.id, timeout=5, message="claimed by rep2")
