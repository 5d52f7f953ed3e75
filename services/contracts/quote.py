"""The quote aggregate (报价): lines, exact totals, a status machine, in plain Python.

A line is `quantity` x `unit_price` less `discount` percent (0-100, e.g. 10 = 10 % off),
rounded half-up to the cent; the quote's `total` is the sum of its lines, so totals are
exact decimals. A quote is edited only while it is a draft; its status moves
draft -> sent -> accepted | rejected, a sent or rejected quote may go back to draft for a
revision; accepted is final. Every changing command raises `version` once and records
a DomainEvent (the command runner writes both in one write).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar
from datetime import date, datetime
from decimal import Decimal, ROUND_HALF_UP

from crmkit.clock import day_text, isoformat
from crmkit.errors import Conflict, Invalid
from crmkit.money import CENT, format_money

from events.contracts import QUOTE_STATUSES
from services.contracts.lifecycle import Lifecycle
from services.contracts.ownership import Owned

HUNDRED = Decimal(100)
MAX_LINES = 200

# draft -> sent -> accepted | rejected; sent/rejected -> draft (revise); accepted is final
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"sent"}),
    "sent": frozenset({"accepted", "rejected", "draft"}),
    "rejected": frozenset({"draft"}),
    "accepted": frozenset(),
}
assert set(TRANSITIONS) == set(QUOTE_STATUSES)


def line_amount(quantity: Decimal, unit_price: Decimal, discount: Decimal) -> Decimal:
    """quantity x unit_price less discount percent, rounded half-up to the cent."""
    gross = Decimal(quantity) * Decimal(unit_price)
    net = gross * (HUNDRED - Decimal(discount)) / HUNDRED
    return net.quantize(CENT, rounding=ROUND_HALF_UP)


def priced_lines(lines: list[dict]) -> list[dict]:
    """Lines as stored: product, quantity, unit_price, discount (default 0), amount."""
    if not lines:
        raise Invalid("lines", "A quote needs at least one line. / 报价至少需要一行。")
    priced = []
    for index, line in enumerate(lines):
        discount = Decimal(line.get("discount") or 0)
        if not Decimal(0) <= discount <= HUNDRED:
            raise Invalid(f"lines.{index}.discount",
                          "A discount is a percentage from 0 to 100. / 折扣为 0 到 100 的百分比。")
        priced.append({"product": line["product"], "quantity": Decimal(line["quantity"]),
                       "unit_price": Decimal(line["unit_price"]), "discount": discount,
                       "amount": line_amount(line["quantity"], line["unit_price"], discount)})
    return priced


def total_of(lines: list[dict]) -> Decimal:
    return sum((line["amount"] for line in lines), Decimal("0.00")).quantize(CENT)


@dataclass
class Quote(Owned, Lifecycle):
    KIND, NOUN_ZH = "quote", "报价"
    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = TRANSITIONS
    id: str = ""
    number: str = ""
    opportunity_id: str = ""
    lines: list[dict] = field(default_factory=list)
    currency: str = "CNY"
    valid_until: date | None = None
    notes: str | None = None
    status: str = "draft"
    created_by: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 0
    events: list = field(default_factory=list, repr=False, compare=False)

    @property
    def total(self) -> Decimal:
        return total_of(self.lines)

    @classmethod
    def make(cls, *, id: str, number: str, opportunity_id: str, owned: Owned, lines: list,
             currency: str = "CNY", valid_until: date | None = None, notes: str | None = None,
             actor_id: str | None, now: datetime) -> "Quote":
        quote = cls(id=id, number=number, opportunity_id=opportunity_id,
                    lines=priced_lines(lines), currency=currency, valid_until=valid_until,
                    notes=notes, created_by=actor_id, created_at=now, updated_at=now,
                    version=1, **owned.owned_fields())
        quote._record("quote.created", {})
        return quote

    def update(self, changes: dict, *, now: datetime) -> dict:
        """Edit a draft: lines, valid_until, notes, currency."""
        if self.status != "draft":
            raise Conflict("Only a draft quote can be edited; move it back to draft first. "
                           "/ 只有草稿报价可修改,请先退回草稿。", code="quote_not_editable")
        diff = {}
        if "lines" in changes:
            lines = priced_lines(changes["lines"])
            if lines != self.lines:
                diff["total"] = [format_money(self.total), format_money(total_of(lines))]
                self.lines = lines
        for name in ("valid_until", "notes", "currency"):
            if name in changes and changes[name] != getattr(self, name):
                old, new = getattr(self, name), changes[name]
                diff[name] = [day_text(old) if isinstance(old, date) else old,
                              day_text(new) if isinstance(new, date) else new]
                setattr(self, name, new)
        if diff:
            self._touch(now)
            self._record("quote.updated", {"changes": diff})
        return diff


    # ------------------------------------------------------------------ internals

    def snapshot(self) -> dict:
        return {"quote_id": self.id, "number": self.number,
                "opportunity_id": self.opportunity_id, "status": self.status,
                "total": format_money(self.total), "currency": self.currency,
                "valid_until": day_text(self.valid_until), "line_count": len(self.lines),
                "created_at": isoformat(self.created_at), "version": self.version,
                **self.owned_snapshot()}
