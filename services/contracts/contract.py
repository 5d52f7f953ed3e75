"""The contract aggregate (合同): terms, status, payment plan, payments and costs.

Status: draft -> active -> completed; draft or active -> terminated; completed and
terminated are final. The payment plan (installments with due dates) must add up to the
contract amount exactly (422 plan_mismatch); payments received (已收) may not exceed the
amount (422 on `amount`) and are taken while the contract is active or completed; costs
(成本费用) may be recorded in any status. Totals are exact decimals (receivables.py says
how payments cover installments and what is overdue).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import ClassVar
from datetime import date, datetime
from decimal import Decimal

from crmkit.clock import day_text, isoformat
from crmkit.errors import Conflict, Invalid
from crmkit.money import format_money

from events.contracts import CONTRACT_STATUSES
from services.contracts.lifecycle import Lifecycle
from services.contracts.ownership import Owned
from services.contracts.receivables import ZERO, Standing, standing

MAX_INSTALLMENTS = 120
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"active", "terminated"}),
    "active": frozenset({"completed", "terminated"}),
    "completed": frozenset(),
    "terminated": frozenset(),
}
assert set(TRANSITIONS) == set(CONTRACT_STATUSES)
EDITABLE = ("draft", "active")
TAKES_PAYMENTS = ("active", "completed")
TERMS = ("amount", "signed_on", "starts_on", "ends_on", "currency", "notes")


def new_id() -> str:
    return uuid.uuid4().hex


def check_period(starts_on: date | None, ends_on: date | None) -> None:
    if starts_on and ends_on and ends_on < starts_on:
        raise Invalid("ends_on", "The end is before the start. / 结束日期早于开始日期。")


def check_plan(amount: Decimal, installments: list[dict]) -> None:
    planned = sum((i["amount"] for i in installments), ZERO)
    if installments and planned != amount:
        raise Invalid({"installments": [
            f"The installments add up to {format_money(planned)}, the contract amount is "
            f"{format_money(amount)}. / 分期合计 {format_money(planned)} 与合同金额 "
            f"{format_money(amount)} 不符。"]}, code="plan_mismatch")


def _text(value):
    return day_text(value) if isinstance(value, date) else (
        format_money(value) if isinstance(value, Decimal) else value)


@dataclass
class Contract(Owned, Lifecycle):
    KIND, NOUN_ZH = "contract", "合同"
    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = TRANSITIONS
    id: str = ""
    number: str = ""
    opportunity_id: str | None = None
    quote_id: str | None = None
    amount: Decimal = ZERO
    currency: str = "CNY"
    signed_on: date | None = None
    starts_on: date | None = None
    ends_on: date | None = None
    notes: str | None = None
    status: str = "draft"
    plan: list[dict] = field(default_factory=list)       # {id, due_on, amount}
    payments: list[dict] = field(default_factory=list)   # {id, received_on, amount, ...}
    costs: list[dict] = field(default_factory=list)      # {id, incurred_on, amount, ...}
    source: str = "api"
    created_by: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 0
    events: list = field(default_factory=list, repr=False, compare=False)

    # ------------------------------------------------------------------ money

    @property
    def received(self) -> Decimal:
        return sum((p["amount"] for p in self.payments), ZERO)

    @property
    def receivable(self) -> Decimal:
        return max(self.amount - self.received, ZERO)

    @property
    def costs_total(self) -> Decimal:
        return sum((c["amount"] for c in self.costs), ZERO)

    def standing(self, as_of: date) -> Standing:
        return standing(self.amount, self.plan, self.payments, as_of)

    # ------------------------------------------------------------------ commands

    @classmethod
    def make(cls, *, id: str, number: str, owned: Owned, amount: Decimal, signed_on: date,
             opportunity_id: str | None = None, quote_id: str | None = None,
             starts_on: date | None = None, ends_on: date | None = None,
             currency: str = "CNY", notes: str | None = None, source: str = "api",
             actor_id: str | None, now: datetime) -> "Contract":
        check_period(starts_on, ends_on)
        contract = cls(id=id, number=number, opportunity_id=opportunity_id,
                       quote_id=quote_id, amount=amount, currency=currency,
                       signed_on=signed_on, starts_on=starts_on, ends_on=ends_on,
                       notes=notes, source=source, created_by=actor_id, created_at=now,
                       updated_at=now, version=1, **owned.owned_fields())
        contract._record("contract.created", {"source": source})
        return contract

    def update(self, changes: dict, *, now: datetime) -> dict:
        self._require_status(EDITABLE, "contract_closed",
                             "A completed or terminated contract cannot be changed. "
                             "/ 已完成或已终止的合同不可修改。")
        new = {name: changes.get(name, getattr(self, name)) for name in TERMS}
        check_period(new["starts_on"], new["ends_on"])
        if new["amount"] != self.amount:
            if new["amount"] < self.received:
                raise Invalid("amount", "Less than already received. / 金额低于已收款。")
            if self.plan:
                check_plan(new["amount"], self.plan)   # re-plan first
        diff = {name: [_text(getattr(self, name)), _text(value)]
                for name, value in new.items() if value != getattr(self, name)}
        if diff:
            for name in diff:
                setattr(self, name, new[name])
            self._touch(now)
            self._record("contract.updated", {"changes": diff})
        return diff


    def set_plan(self, installments: list[dict], *, now: datetime) -> None:
        self._require_status(EDITABLE, "contract_closed",
                             "A completed or terminated contract cannot be re-planned. "
                             "/ 已完成或已终止的合同不可修改回款计划。")
        for index, item in enumerate(installments):
            if item["amount"] <= 0:
                raise Invalid(f"installments.{index}.amount",
                              "An installment must be more than zero. / 分期金额须大于零。")
        check_plan(self.amount, installments)
        plan = sorted(({"id": new_id(), "due_on": i["due_on"], "amount": i["amount"]}
                       for i in installments), key=lambda i: i["due_on"])
        old = [(i["due_on"], i["amount"]) for i in self.plan]
        if old == [(i["due_on"], i["amount"]) for i in plan]:
            return
        self.plan = plan
        self._touch(now)
        self._record("contract.updated", {"changes": {"plan": [
            len(old), len(plan)]}})

    def receive(self, payment: dict, *, actor_id: str | None, now: datetime) -> dict:
        self._require_status(TAKES_PAYMENTS, "contract_not_active",
                             "Payments are recorded on active or completed contracts. "
                             "/ 仅生效或已完成的合同可登记回款。")
        if payment["amount"] <= 0:
            raise Invalid("amount", "A payment must be more than zero. / 回款金额须大于零。")
        if self.received + payment["amount"] > self.amount:
            raise Invalid("amount", f"More than the receivable {format_money(self.receivable)}."
                          f" / 超过应收金额 {format_money(self.receivable)}。",
                          code="overpayment")
        entry = {"id": new_id(), "received_on": payment["received_on"],
                 "amount": payment["amount"], "method": payment["method"],
                 "reference": payment.get("reference"), "recorded_by": actor_id,
                 "recorded_at": now}
        self.payments.append(entry)
        self._touch(now)
        self._record("payment.received", {"payment": {
            "id": entry["id"], "received_on": day_text(entry["received_on"]),
            "amount": format_money(entry["amount"]), "method": entry["method"],
            "reference": entry["reference"]}})
        return entry

    def record_cost(self, cost: dict, *, actor_id: str | None, now: datetime) -> dict:
        if cost["amount"] <= 0:
            raise Invalid("amount", "A cost must be more than zero. / 费用金额须大于零。")
        entry = {"id": new_id(), "incurred_on": cost["incurred_on"], "amount": cost["amount"],
                 "category": cost["category"], "notes": cost.get("notes"),
                 "recorded_by": actor_id, "recorded_at": now}
        self.costs.append(entry)
        self._touch(now)
        self._record("cost.recorded", {"cost": {
            "id": entry["id"], "incurred_on": day_text(entry["incurred_on"]),
            "amount": format_money(entry["amount"]), "category": entry["category"],
            "notes": entry["notes"]}})
        return entry

    # ------------------------------------------------------------------ internals

    def _require_status(self, allowed, code: str, message: str) -> None:
        if self.status not in allowed:
            raise Conflict(message, code=code)

    def snapshot(self) -> dict:
        return {"contract_id": self.id, "number": self.number,
                "opportunity_id": self.opportunity_id, "quote_id": self.quote_id,
                "status": self.status, "amount": format_money(self.amount),
                "currency": self.currency, "signed_on": day_text(self.signed_on),
                "starts_on": day_text(self.starts_on), "ends_on": day_text(self.ends_on),
                "received": format_money(self.received),
                "receivable": format_money(self.receivable),
                "costs_total": format_money(self.costs_total),
                "created_at": isoformat(self.created_at), "version": self.version,
                **self.owned_snapshot()}
