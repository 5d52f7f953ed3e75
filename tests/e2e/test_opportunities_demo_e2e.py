"""The demo data of `crm up --demo` (the session's demo system, shared with the browser
tests) shows opportunities in every stage of the pipeline, won and lost ones, and
follow-up plans."""
from __future__ import annotations

from types import SimpleNamespace

from crm_testing import ADMIN_PASSWORD, Org, eventually, http_transport


def test_demo_has_opportunities_in_every_stage(demo_crm):
    from crm.demo import load_demo

    # on a system that has the demo, load_demo only signs its users in
    people = load_demo(demo_crm.base_url, SimpleNamespace(admin_username="admin",
                                                          admin_password=ADMIN_PASSWORD))
    sun = people["by_username"]["sun.rep"]
    admin = Org(http_transport(demo_crm.base_url)).admin
    keys = [s["key"] for s in admin.get("/api/v1/pipeline").json["stages"]] + ["won", "lost"]

    def every_stage_filled():
        counts = {k: admin.get(f"/api/v1/opportunities?stage={k}&owner_id={sun.id}")
                  .json["total"] for k in keys}
        return counts if all(counts.values()) else None

    eventually(every_stage_filled, timeout=30, interval=0.5,
               message="demo opportunities of sun.rep in every stage")
    some = sun.get("/api/v1/opportunities?status=open&per_page=50").json["items"]
    plans = sum(sun.get(f"/api/v1/opportunities/{o['id']}/followup-plans").json["total"]
                for o in some)
    assert plans >= 1


def test_demo_has_contracts_with_plans_and_payments_and_quotes(demo_crm):
    from crm.demo import load_demo

    people = load_demo(demo_crm.base_url, SimpleNamespace(admin_username="admin",
                                                          admin_password=ADMIN_PASSWORD))
    sun = people["by_username"]["sun.rep"]

    def active_contracts():
        items = sun.get(f"/api/v1/contracts?owner_id={sun.id}&status=active").json["items"]
        return items or None

    contract = eventually(active_contracts, timeout=30, interval=0.5,
                          message="demo contracts of sun.rep, active")[0]
    detail = sun.get(f"/api/v1/contracts/{contract['id']}").json
    assert len(detail["plan"]) == 2 and detail["payments"]
    assert detail["received"] != "0.00" and detail["receivable"] != "0.00"
    assert sun.get("/api/v1/quotes?status=draft").json["total"] >= 1
