"""The demo data (`crm up --demo` runs crm.demo.load_demo against the started system)
shows opportunities in every stage of the pipeline, won and lost ones, and follow-up
plans. Loaded here into the package's running `crm up` over HTTP, exactly as `--demo`
does after start-up (a second system on the same broker would share its queues)."""
from __future__ import annotations

from types import SimpleNamespace

from crm_testing import ADMIN_PASSWORD, eventually, reports_caught_up


def test_demo_has_opportunities_in_every_stage(crm, org):
    from crm.demo import load_demo

    people = load_demo(crm.base_url, SimpleNamespace(admin_username="admin",
                                                     admin_password=ADMIN_PASSWORD))
    sun = people["by_username"]["sun.rep"]
    admin = org.admin
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
    reports_caught_up(crm.base_url)   # the shared system settles before the next module
