"""The demo hook (`crm up --demo` calls crm/demo_opportunity.py: load(org, people))."""
from crm import demo_opportunity as demo


def test_demo_puts_opportunities_in_every_stage(opp_org, people):
    reps = [people["rep1"], people["rep3"]]
    result = demo.load(opp_org, {"rep": reps, "admin": [people["admin"]]})
    assert result["opportunities"] >= 14
    admin = people["admin"]
    stages = [s["key"] for s in admin.get("/api/v1/pipeline").json["stages"]]
    for stage in stages + ["won", "lost"]:
        listed = admin.get(f"/api/v1/opportunities?stage={stage}").json
        assert listed["total"] >= 2, stage
    plans = [admin.get(f"/api/v1/opportunities/{o['id']}/followup-plans").json["total"]
             for o in admin.get("/api/v1/opportunities?per_page=100").json["items"]]
    assert sum(plans) >= 10
