"""GET /customers/reclaim-due: my customers close to auto-reclaim (the console's workbench)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from customer_helpers import create

DUE = "/api/v1/customers/reclaim-due"


@pytest.fixture
def rules(corg):
    def put(**body):
        reply = corg.admin.put("/api/v1/pool/rules", json=body)
        assert reply.status_code == 200, reply
    yield put
    corg.admin.put("/api/v1/pool/rules", json={})


def test_lists_only_my_customers_within_the_window(corg, rules, handlers):
    rep, other = corg.user("rep"), corg.user("rep")
    mine = create(rep, level="B")
    create(other)
    rules(auto_reclaim=True, days_without_followup=5)
    reply = rep.get(f"{DUE}?within_days=7")
    assert reply.status_code == 200, reply
    body = reply.json
    assert body["auto_reclaim"] is True and body["within_days"] == 7
    assert [item["id"] for item in body["items"]] == [mine["id"]]
    item = body["items"][0]
    assert item["days_left"] == 5 and item["reason"] == "no_followup"
    assert item["due_on"] == (handlers.today() + timedelta(days=5)).isoformat()
    assert item["name"] == mine["name"] and item["number"] == mine["number"]
    # outside a shorter window
    assert rep.get(f"{DUE}?within_days=2").json["items"] == []


def test_nothing_without_auto_reclaim_and_bad_window(corg, rules):
    rep = corg.user("rep")
    create(rep)
    rules(auto_reclaim=False, days_without_followup=1)
    assert rep.get(DUE).json["items"] == []
    assert rep.get(f"{DUE}?within_days=-1").status_code == 422


def test_documented_in_openapi(corg):
    spec = corg.admin.get("/api/v1/openapi.json").json
    assert "get" in spec["paths"]["/api/v1/customers/reclaim-due"]
