"""What is owed and how late (应收, 逾期, 账龄), in plain Python and exact decimals.

Payments cover a contract's installments in due-date order (the oldest debt is paid
first). An installment is overdue on `as_of` when its due date is before `as_of` and it is
not fully covered; its outstanding part ages by the days since its due date into the
buckets 0-30 | 31-60 | 61-90 | 90+ days overdue. A contract's receivable is its amount
less what was received; the part not yet overdue is `not_due`.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Callable, Iterable

ZERO = Decimal("0.00")
BUCKETS = ("0-30", "31-60", "61-90", "90+")


def bucket_of(days_overdue: int) -> str:
    if days_overdue <= 30:
        return "0-30"
    if days_overdue <= 60:
        return "31-60"
    if days_overdue <= 90:
        return "61-90"
    return "90+"


def covered_installments(plan: list[dict], received: Decimal, as_of: date) -> list[dict]:
    """Each installment with `received` (what payments cover of it), `outstanding`,
    `overdue` (bool) and `days_overdue` (0 when not overdue), in due-date order."""
    left = Decimal(received)
    rows = []
    for item in sorted(plan, key=lambda i: (i["due_on"], i.get("id") or "")):
        covered = min(left, item["amount"])
        left -= covered
        outstanding = item["amount"] - covered
        late = outstanding > 0 and item["due_on"] < as_of
        rows.append({**item, "received": covered, "outstanding": outstanding,
                     "overdue": late,
                     "days_overdue": (as_of - item["due_on"]).days if late else 0})
    return rows


@dataclass(frozen=True)
class Standing:
    """A contract's money on a day."""
    amount: Decimal
    received: Decimal
    receivable: Decimal
    overdue_amount: Decimal
    not_due: Decimal
    ageing: dict[str, Decimal]
    installments: list[dict]

    @property
    def overdue(self) -> list[dict]:
        return [i for i in self.installments if i["overdue"]]


def standing(amount: Decimal, plan: list[dict], payments: list[dict], as_of: date) -> Standing:
    received = sum((p["amount"] for p in payments if p["received_on"] <= as_of), ZERO)
    installments = covered_installments(plan, received, as_of)
    ageing = {bucket: ZERO for bucket in BUCKETS}
    for item in installments:
        if item["overdue"]:
            ageing[bucket_of(item["days_overdue"])] += item["outstanding"]
    overdue_amount = sum(ageing.values(), ZERO)
    receivable = max(Decimal(amount) - received, ZERO)
    return Standing(amount=Decimal(amount), received=received, receivable=receivable,
                    overdue_amount=overdue_amount, not_due=receivable - overdue_amount,
                    ageing=ageing, installments=installments)


def collections_by_month(payments: Iterable[dict], start: date | None = None,
                         end: date | None = None) -> list[dict]:
    """Payments received per calendar month ("2026-11"), oldest first."""
    months: dict[str, dict] = {}
    for payment in payments:
        day = payment["received_on"]
        if (start and day < start) or (end and day > end):
            continue
        row = months.setdefault(day.strftime("%Y-%m"), {"count": 0, "amount": ZERO})
        row["count"] += 1
        row["amount"] += payment["amount"]
    return [{"month": month, **row} for month, row in sorted(months.items())]


def amount_vs_collected(contracts: Iterable, key: Callable[[object], str | None]) -> list[dict]:
    """Per group (`key(contract)`): contracts, contract amount, collected, receivable and
    the collection rate (collected / amount; null for no amount)."""
    groups: dict = defaultdict(lambda: {"contracts": 0, "contract_amount": ZERO,
                                        "collected": ZERO})
    for contract in contracts:
        row = groups[key(contract)]
        row["contracts"] += 1
        row["contract_amount"] += contract.amount
        row["collected"] += contract.received
    rows = []
    for group, row in groups.items():
        amount = row["contract_amount"]
        rows.append({"key": group, **row,
                     "receivable": max(amount - row["collected"], ZERO),
                     "collection_rate": (float(round(row["collected"] / amount, 4))
                                         if amount else None)})
    return sorted(rows, key=lambda r: (-r["contract_amount"], r["key"] or ""))
