"""`crm up --demo` loads sample customers across regions and teams (through the API)."""
from __future__ import annotations

from crm import demo_customer as demo
from crm.demo import build_people


def test_demo_customers_span_regions_teams_and_the_pool(corg):
    people = build_people(corg)
    loaded = demo.load(corg, people)["customers"]
    assert len(loaded) == sum(map(len, demo.OWNED.values())) + sum(map(len, demo.POOL.values()))
    admin_view = corg.admin.get("/api/v1/customers?per_page=100").json["items"]
    assert {c["region"] for c in admin_view} >= {"east", "north"}
    pool = corg.admin.get("/api/v1/pool?claimed=false&per_page=100").json
    assert pool["total"] >= 3
    li = people["by_username"]["li.rep"]
    shared = li.get("/api/v1/customers?scope=shared").json["items"]
    assert [c["name"] for c in shared] == ["上海商策科技有限公司"]
    zhou = people["by_username"]["zhou.rep"]
    assert "上海金桥电子有限公司" in {c["name"] for c in zhou.get(
        "/api/v1/customers?scope=mine").json["items"]}
    sun = people["by_username"]["sun.rep"]
    key = next(c for c in sun.get("/api/v1/customers?scope=mine").json["items"]
               if c["name"] == "上海商策科技有限公司")
    assert sun.get(f"/api/v1/customers/{key['id']}/interactions").json["total"] == 2
    again = demo.load(corg, people)["customers"]  # a second run adds nothing
    assert again == []
