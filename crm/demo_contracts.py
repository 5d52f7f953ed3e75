"""`crm up --demo`: quotes, contracts, payment plans, payments and costs, through the
public API only.

Runs after the opportunity demo. Each won opportunity becomes a draft contract by
itself (the contracts service drafts one from `opportunity.won`); here each rep's drafts
get a payment plan of two installments, go active, and receive the first installment,
and one of the rep's open opportunities gets a quote.
"""
from __future__ import annotations

import logging
import time
from datetime import date, timedelta
from decimal import Decimal

log = logging.getLogger(__name__)

API = "/api/v1"
DRAFTS_WAIT_S = 30.0    # the drafts follow the won events through the broker
QUOTE_LINES = [
    {"product": "CRM 企业版授权 (年)", "quantity": "50", "unit_price": "1200.00", "discount": "10"},
    {"product": "实施与培训服务", "quantity": "1", "unit_price": "38000.00"},
]


def load(org, people) -> dict:
    made = {"contracts": 0, "quotes": 0}
    today = date.today()
    for rep in people.get("rep") or []:
        for contract in _drafts(rep):
            if _activate(rep, contract, today):
                made["contracts"] += 1
        if _quote(rep):
            made["quotes"] += 1
    return made


def _drafts(rep) -> list[dict]:
    """The rep's draft contracts, once their won opportunities have been drafted."""
    won = rep.get(f"{API}/opportunities?scope=mine&status=won&per_page=100")
    expected = won.json.get("total", 0) if won.status_code == 200 else 0
    deadline = time.monotonic() + DRAFTS_WAIT_S
    while True:
        found = rep.get(f"{API}/contracts?owner_id={rep.id}&status=draft&per_page=100")
        items = found.json.get("items", []) if found.status_code == 200 else []
        if len(items) >= expected or time.monotonic() > deadline:
            return items
        time.sleep(0.5)


def _activate(rep, contract: dict, today: date) -> bool:
    path = f"{API}/contracts/{contract['id']}"
    amount = Decimal(contract["amount"])
    first = (amount / 2).quantize(Decimal("0.01"))
    plan = rep.put(f"{path}/plan", json={"installments": [
        {"due_on": (today - timedelta(days=10)).isoformat(), "amount": str(first)},
        {"due_on": (today + timedelta(days=50)).isoformat(), "amount": str(amount - first)}]})
    active = rep.post(f"{path}/status", json={"status": "active"})
    paid = rep.post(f"{path}/payments", json={
        "received_on": (today - timedelta(days=3)).isoformat(), "amount": str(first),
        "method": "银行转账", "reference": f"首付款 {contract['number']}"})
    rep.post(f"{path}/costs", json={"incurred_on": today.isoformat(), "amount": "1800.00",
                                    "category": "差旅费", "notes": "签约差旅"})
    ok = all(reply.status_code in (200, 201) for reply in (plan, active, paid))
    if not ok:
        log.warning("demo contract %s: plan %s, status %s, payment %s", contract["number"],
                    plan.status_code, active.status_code, paid.status_code)
    return ok


def _quote(rep) -> bool:
    open_ = rep.get(f"{API}/opportunities?scope=mine&status=open&per_page=1")
    items = open_.json.get("items", []) if open_.status_code == 200 else []
    if not items:
        return False
    reply = rep.post(f"{API}/quotes", json={
        "opportunity_id": items[0]["id"], "lines": QUOTE_LINES,
        "valid_until": (date.today() + timedelta(days=30)).isoformat(),
        "notes": "含首年运维;报价有效期 30 天。"})
    return reply.status_code == 201
