"""`crm up --demo`: sample opportunities in every stage, through the public API only.

Runs after the customer demo: each rep's opportunities go on customers they own (or,
if the customer demo made none for them, on a customer created here). Every stage of
the pipeline gets opportunities, moved there step by step with notes, plus won and lost
ones, follow-up plans and reminders.
"""
from __future__ import annotations

import logging
import time
from datetime import date, datetime, timedelta, timezone

log = logging.getLogger(__name__)

OPPS = "/api/v1/opportunities"
KNOWN_TIMEOUT = 15.0

PROJECTS = [
    ("{c} 2026年数控设备采购项目", "数控机床", "480000.00", ["华中数控"]),
    ("{c} ERP系统升级", "ERP 企业版", "356000.50", ["用友", "金蝶"]),
    ("{c} 仓储自动化方案", "AGV 仓储机器人", "1280000.00", ["海康机器人"]),
    ("{c} 年度运维服务", "运维服务包", "96000.00", []),
    ("{c} 生产线视觉检测", "视觉检测系统", "215800.00", ["康耐视"]),
    ("{c} 办公网络改造", "网络设备", "64500.00", ["华为"]),
    ("{c} 数据中台建设", "数据平台", "760000.00", ["阿里云"]),
]
NOTES = {
    "needs_analysis": "客户需求明确:希望三季度前完成上线。",
    "proposal": "方案已提交,客户对方案细节提出3点修改意见,已同步产品部门。",
    "negotiation": "进入商务谈判,客户希望价格下调5%。",
    "contract": "合同条款已确认,等待盖章。",
}
LOSS_REASONS = ["价格过高", "客户选择竞品", "项目预算取消"]
FALLBACK_CUSTOMERS = ["苏州恒达精密机械有限公司", "杭州云帆信息技术有限公司",
                      "北京华远科技有限公司", "上海申联物流有限公司", "南京金陵制药有限公司"]


def load(org, people) -> dict:
    reps = list(people.get("rep") or [])
    if not reps:
        return {"opportunities": 0}
    admin = people["admin"][0] if people.get("admin") else org.admin
    stages = [s["key"] for s in admin.get("/api/v1/pipeline").json["stages"]]
    made, plan_index = 0, 0
    for number, rep in enumerate(reps):
        customers = _customers_of(rep)
        if not customers:
            continue
        # Every rep gets one opportunity per stage, then a won and a lost one.
        targets = stages + ["won", "lost"]
        for i, target in enumerate(targets):
            customer = customers[i % len(customers)]
            name, product, amount, competitors = PROJECTS[(number + i) % len(PROJECTS)]
            opp = _open(rep, customer, name.format(c=customer["name"][:8]), product, amount,
                        competitors, close_in_days=20 + 11 * i)
            if opp is None:
                continue
            made += 1
            _advance(rep, opp, stages, target, amount, number, i)
            if target not in ("won", "lost") and plan_index < 12:
                plan_index += 1
                _plan(rep, opp, days=2 + plan_index % 5)
    log.info("demo: %d opportunities", made)
    return {"opportunities": made}


def _customers_of(rep) -> list[dict]:
    reply = rep.get("/api/v1/customers?scope=mine&per_page=20")
    if reply.status_code == 200 and (reply.json or {}).get("items"):
        return reply.json["items"][:4]
    # The customer demo made none for this rep: one of our own, so the pipeline shows.
    index = sum(map(ord, rep.user.get("username", ""))) % len(FALLBACK_CUSTOMERS)
    created = rep.post("/api/v1/customers", json={
        "name": f"{FALLBACK_CUSTOMERS[index]}({rep.user.get('name') or '演示'})",
        "industry": "制造业",
        "status": "intent",
        "primary_contact": {"name": "王经理", "phone": "13800138000"}})
    return [created.json] if created.status_code == 201 else []


def _open(rep, customer, name, product, amount, competitors, close_in_days) -> dict | None:
    body = {"name": name, "customer_id": customer["id"], "amount": amount,
            "expected_close_date": (date.today() + timedelta(days=close_in_days)).isoformat(),
            "product": product, "competitors": competitors,
            "next_action": "约客户技术负责人沟通方案细节",
            "next_action_due": (date.today() + timedelta(days=7)).isoformat()}
    deadline = time.monotonic() + KNOWN_TIMEOUT
    while True:  # the customer's event may still be on its way
        reply = rep.post(OPPS, json=body)
        if reply.status_code == 201:
            return reply.json
        if reply.json and reply.json.get("code") == "unknown_customer" \
                and time.monotonic() < deadline:
            time.sleep(0.2)
            continue
        log.warning("demo opportunity not created: %r", reply)
        return None


def _advance(rep, opp, stages, target, amount, number, i) -> None:
    url = f"{OPPS}/{opp['id']}"
    path = stages if target in ("won", "lost") else stages[:stages.index(target) + 1]
    for stage in path[1:]:
        rep.post(f"{url}/stage", json={"stage": stage,
                                       "note": NOTES.get(stage, f"推进到{stage}阶段。")})
    if target == "won":
        rep.post(f"{url}/win", json={
            "amount": amount, "contract_number": f"HT-{date.today():%Y%m}-{number:02d}{i:02d}",
            "signed_on": (date.today() - timedelta(days=i)).isoformat()})
    elif target == "lost":
        rep.post(f"{url}/lose", json={"reason": LOSS_REASONS[number % len(LOSS_REASONS)]})


def _plan(rep, opp, days: int) -> None:
    start = (datetime.now(timezone.utc) + timedelta(days=days)).replace(
        minute=0, second=0, microsecond=0)
    url = f"{OPPS}/{opp['id']}"
    rep.post(f"{url}/followup-plans", json={
        "start_at": start.isoformat(), "end_at": (start + timedelta(hours=1)).isoformat(),
        "method": ("visit", "call", "online_meeting")[days % 3],
        "content": "了解客户对系统模块的具体需求,确认报价范围。"})
    rep.post(f"{url}/reminders", json={
        "remind_at": (start - timedelta(hours=3)).isoformat(), "note": "准备报价单"})
