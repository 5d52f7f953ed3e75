"""The customer pool as users meet it: `crm up` (gateway and services as separate
processes, the real broker), driven over HTTP."""
from __future__ import annotations

import csv
import io
import sys
import threading
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from crm_testing import Session, eventually, http_transport

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "customer"))
from customer_helpers import customer_body, upload, xlsx_bytes  # noqa: E402

API = "/api/v1/customers"


def test_pool_life_cycle_and_a_race_for_one_customer(crm, org):
    supervisor = org.user("supervisor", "east/nanjing")
    rep = org.user("rep", "east/nanjing/team-1")
    stranger = org.user("rep", "north/beijing/team-9", "north")
    pooled = supervisor.post(API, json=customer_body(in_pool=True, needs="秘密"))
    assert pooled.status_code == 201, pooled
    customer_id = pooled.json["id"]
    public = stranger.get(f"{API}/{customer_id}")
    assert public.status_code == 200 and public.json["view"] == "public"
    assert "needs" not in public.json

    racers = [org.user("rep", "east/nanjing/team-1") for _ in range(20)]
    replies: list = [None] * len(racers)
    barrier = threading.Barrier(len(racers))

    def race(slot: int) -> None:
        session = Session(http_transport(crm.base_url), racers[slot].token, racers[slot].user)
        barrier.wait()
        replies[slot] = session.post(f"{API}/{customer_id}/claim")

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(racers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in replies) == [200] + [409] * 19
    assert {r.json["code"] for r in replies if r.status_code == 409} == {"already_claimed"}
    winner = racers[next(i for i, r in enumerate(replies) if r.status_code == 200)]

    assert stranger.get(f"{API}/{customer_id}").status_code == 404
    assert supervisor.get(f"{API}/{customer_id}").json["needs"] == "秘密"
    assert winner.post(f"{API}/{customer_id}/assign", json={"user_id": rep.id}).status_code == 200
    assert winner.get(f"{API}/{customer_id}").status_code == 404
    assert supervisor.post(f"{API}/{customer_id}/recover", json={}).status_code == 200
    deleted = supervisor.delete(f"{API}/{customer_id}")
    assert deleted.status_code == 200 and deleted.json["deleted"] is True
    assert org.admin.get(f"{API}/{customer_id}").status_code == 404  # gone for everyone


def test_a_win_and_a_done_task_reach_the_customer(crm, org):
    rep = org.user("rep", "east/nanjing/team-2")
    customer = rep.post(API, json=customer_body()).json
    opportunity = eventually(lambda: (lambda r: r if r.status_code == 201 else None)(
        rep.post("/api/v1/opportunities", json={
            "name": "设备采购", "customer_id": customer["id"], "amount": "50000.00",
            "expected_close_date": "2027-01-31"})), timeout=10,
        message="the customer known to the pipeline").json
    won = rep.post(f"/api/v1/opportunities/{opportunity['id']}/win", json={
        "amount": "48000.00", "contract_number": f"HT-{uuid.uuid4().hex[:6]}",
        "signed_on": "2026-11-20"})
    assert won.status_code == 200, won
    record = eventually(lambda: (lambda r: r if r["status"] == "deal" else None)(
        rep.get(f"{API}/{customer['id']}").json), timeout=10, message="deal on the customer")
    assert record["deal_amount"] == "48000.00" and record["last_deal_on"] == "2026-11-20"

    due = (datetime.now(timezone.utc) + timedelta(days=2)).isoformat()
    task = rep.post("/api/v1/tasks", json={"type": "call", "title": "电话回访", "due_at": due,
                                           "customer_ids": [customer["id"]]})
    assert task.status_code == 201, task
    status_url = f"/api/v1/tasks/{task.json['id']}/status"
    started = rep.post(status_url, json={"status": "in_progress"})
    assert started.status_code == 200, started
    done = rep.post(status_url, json={"status": "done", "result": "客户满意"})
    assert done.status_code == 200, done
    eventually(lambda: rep.get(f"{API}/{customer['id']}").json["last_followup_at"],
               timeout=10, message="the done task counts as a follow-up")


def test_export_and_import_over_http(crm, org):
    rep = org.user("rep", "east/nanjing/team-3")
    created = rep.post(API, json=customer_body()).json
    exported = rep.get(f"{API}/export?format=csv", headers={"Accept-Language": "zh-CN"})
    assert exported.status_code == 200
    rows = list(csv.reader(io.StringIO(exported.data.decode("utf-8-sig"))))
    assert rows[0][0] == "客户编号"
    assert [r for r in rows if r[0] == created["number"]][0][13] == "138****5678"
    names = [customer_body()["name"] for _ in range(3)]
    sheet = xlsx_bytes([["客户名称", "行业", "状态", "联系人", "联系电话"],
                        [names[0], "软件", "潜在客户", "甲", "13812340001"],
                        [names[1], "软件", "意向客户", "乙", "bad"],
                        [names[2], "软件", "potential", "丙", "13812340003"],
                        [created["name"], "软件", "potential", "丁", "13812340004"]])
    result = upload(rep, sheet, "e2e.xlsx")
    assert result.status_code == 200, result
    assert result.json["created"] == 2
    assert [e["row"] for e in result.json["errors"]] == [3]
    assert [d["row"] for d in result.json["duplicates"]] == [5]
    mine = {c["name"] for c in rep.get(f"{API}?scope=mine&per_page=50").json["items"]}
    assert {names[0], names[2]} <= mine and names[1] not in mine


def test_a_background_import_through_the_gateway_of_crm_up(crm, org):
    """Prefer: respond-async through the gateway to a gunicorn worker of the customer
    service: 202, then the run followed at its Location to its report."""
    rep = org.user("rep", "east/nanjing/team-3")
    names = [customer_body()["name"] for _ in range(2)]
    sheet = xlsx_bytes([["客户名称", "行业", "状态", "联系人", "联系电话"],
                        [names[0], "软件", "潜在客户", "甲", "13812340001"],
                        [names[1], "软件", "意向客户", "乙", "bad"]])
    accepted = upload(rep, sheet, "async.xlsx", headers={"Prefer": "respond-async"})
    assert accepted.status_code == 202, accepted
    assert accepted.headers["Preference-Applied"] == "respond-async"
    location = accepted.headers["Location"]
    run = eventually(lambda: (lambda r: r if r["state"] in ("done", "failed") else None)(
        rep.get(location).json), message="the import run finished")
    assert run["state"] == "done", run
    assert run["result"]["created"] == 1 and [e["row"] for e in run["result"]["errors"]] == [3]
    mine = {c["name"] for c in rep.get(f"{API}?scope=mine&per_page=50").json["items"]}
    assert names[0] in mine
