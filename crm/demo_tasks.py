"""`crm up --demo`: sample tasks for the demo users, through the public API only.

Runs after the customer and opportunity demos. Each rep gets a handful of tasks on
their own customers (some due within the next hours, so reminders fire while someone
looks), one in progress, one done with its result, one shelved; each supervisor leaves
a few tasks in the pool and hands one to a rep of their team; a bulk call round for
one rep's customers.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone

log = logging.getLogger(__name__)

TASKS = "/api/v1/tasks"
KNOWN_TIMEOUT = 15.0

REP_TASKS = [
    # (type, title, due in, priority, then)
    ("call", "电话回访:确认方案报价反馈", timedelta(hours=2, minutes=20), "high", None),
    ("visit", "拜访客户,对接技术方案细节", timedelta(days=1, hours=3), "high", None),
    ("proposal", "发送定制化方案及报价单", timedelta(days=2), "medium", "in_progress"),
    ("followup", "跟进合同盖章进度", timedelta(days=4), "medium", None),
    ("call", "季度满意度回访", timedelta(days=6), "low", "done"),
    ("internal", "与产品部同步客户需求", timedelta(days=3), "medium", "shelved"),
]
POOL_TASKS = [
    ("call", "新线索首次电话沟通", timedelta(days=1), "high"),
    ("visit", "展会客户上门拜访", timedelta(days=3), "medium"),
    ("other", "整理华东区客户资料", timedelta(days=5), "low"),
]


def _at(delta: timedelta) -> str:
    return (datetime.now(timezone.utc) + delta).isoformat()


def _customers_of(session) -> list[str]:
    reply = session.get("/api/v1/customers?scope=mine&per_page=10")
    if reply.status_code == 200 and (reply.json or {}).get("items"):
        return [c["id"] for c in reply.json["items"]]
    return []


def _known(session, user_id: str) -> bool:
    """Wait until the tasks service has heard of a user (user.created travels by bus)."""
    deadline = time.monotonic() + KNOWN_TIMEOUT
    while time.monotonic() < deadline:
        probe = session.post(f"{TASKS}/bulk-assign", json={"task_ids": ["-"],
                                                           "user_ids": [user_id]})
        if probe.status_code == 200:
            return True
        time.sleep(0.3)
    return False


def _create(session, body: dict):
    """POST /tasks, again while a linked customer's event is still on its way here."""
    deadline = time.monotonic() + KNOWN_TIMEOUT
    while True:
        reply = session.post(TASKS, json=body)
        if reply.status_code == 422 and (reply.json or {}).get("code") == "unknown_customer" \
                and time.monotonic() < deadline:
            time.sleep(0.2)
            continue
        return reply


def load(org, people) -> dict:
    made = 0
    reps = list(people.get("rep") or [])
    for number, rep in enumerate(reps):
        customers = _customers_of(rep)
        for i, (kind, title, due_in, priority, then) in enumerate(REP_TASKS):
            body = {"type": kind, "title": title, "due_at": _at(due_in + timedelta(
                minutes=7 * number)), "priority": priority,
                "description": "演示数据 Demo task"}
            if customers and kind != "internal":
                body["customer_ids"] = [customers[i % len(customers)]]
            if i == 1:  # a visit with a planned slot shows as a block in the calendar
                start = datetime.now(timezone.utc) + due_in - timedelta(hours=1)
                body["start_at"], body["end_at"] = start.isoformat(), (
                    start + timedelta(hours=1)).isoformat()
            created = _create(rep, body)
            if created.status_code != 201:
                log.warning("demo task for %s: %s", rep.user.get("username"), created.json)
                continue
            made += 1
            task = created.json
            if then in ("in_progress", "done"):
                rep.post(f"{TASKS}/{task['id']}/status", json={"status": "in_progress"})
            if then == "done":
                rep.post(f"{TASKS}/{task['id']}/status", json={
                    "status": "done", "result": "客户对方案满意,约定下周商务谈判"})
            if then == "shelved":
                rep.post(f"{TASKS}/{task['id']}/status", json={"status": "shelved"})
        if number == 0 and len(customers) > 1:
            bulk = rep.post(f"{TASKS}/bulk", json={"customer_ids": customers[:3], "task": {
                "type": "call", "title": "节前客户问候电话", "due_at": _at(timedelta(days=2)),
                "priority": "low"}})
            if bulk.status_code == 200:
                made += bulk.json.get("created", 0)

    for supervisor in people.get("supervisor") or []:
        team = supervisor.user.get("team", "")
        own_reps = [r for r in reps if (r.user.get("team") or "").startswith(team + "/")]
        for kind, title, due_in, priority in POOL_TASKS:
            created = supervisor.post(TASKS, json={
                "type": kind, "title": title, "due_at": _at(due_in), "priority": priority,
                "assignee_id": None})
            if created.status_code == 201:
                made += 1
        if own_reps and _known(supervisor, own_reps[0].id):
            created = supervisor.post(TASKS, json={
                "type": "followup", "title": "重点客户本周内完成回访",
                "due_at": _at(timedelta(hours=5)), "priority": "high",
                "assignee_id": own_reps[0].id})
            if created.status_code == 201:
                made += 1
    log.info("demo: %d tasks", made)
    return {"tasks": made}
