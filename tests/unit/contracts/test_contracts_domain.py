"""Contracts domain rules without servers: quote totals and discounts, status machines,
the payment plan's sum, payments, receivables, overdue installments and ageing."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from crmkit.errors import Conflict, Invalid
from services.contracts.contract import Contract
from services.contracts.ownership import CustomerCopy, OpportunityCopy, Owned
from services.contracts.quote import Quote, line_amount
from services.contracts.receivables import (amount_vs_collected, bucket_of,
                                            collections_by_month, standing)

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)
OWNED = Owned(customer_id="c1", owner_id="u1", owner_team="east/sh", owner_region="east",
              region="east")
D = Decimal


def quote(lines=None) -> Quote:
    return Quote.make(id="q1", number="QT202611230001", opportunity_id="o1", owned=OWNED,
                      lines=lines or [{"product": "A", "quantity": D(1),
                                       "unit_price": D("100.00")}],
                      actor_id="u1", now=NOW)


def contract(amount="30000.00", status="draft") -> Contract:
    c = Contract.make(id="k1", number="HT1", owned=OWNED, amount=D(amount),
                      signed_on=date(2026, 1, 1), actor_id="u1", now=NOW)
    c.status = status
    c.events.clear()
    return c


def plan(*pairs):
    return [{"due_on": date.fromisoformat(d), "amount": D(a)} for d, a in pairs]


# ---------------------------------------------------------------- quotes

@pytest.mark.parametrize("quantity, price, discount, expected", [
    ("3", "1000.10", "10", "2700.27"),
    ("0.5", "99.99", "0", "50.00"),        # 49.995 rounds half up
    ("1", "0.01", "50", "0.01"),           # 0.005 rounds half up
    ("2", "100.00", "100", "0.00"),
    ("7", "19.99", "12.5", "122.44"),      # 139.93 x 0.875 = 122.43875
])
def test_line_amounts_are_exact_and_rounded_half_up(quantity, price, discount, expected):
    assert line_amount(D(quantity), D(price), D(discount)) == D(expected)


def test_a_quote_total_is_the_sum_of_its_lines_and_it_records_created():
    q = quote([{"product": "A", "quantity": D(3), "unit_price": D("1000.10"),
                "discount": D(10)},
               {"product": "B", "quantity": D("0.5"), "unit_price": D("99.99")}])
    assert q.total == D("2750.27") and q.version == 1 and q.status == "draft"
    [event] = q.events
    assert event.type == "quote.created" and event.data["total"] == "2750.27"
    assert event.data["line_count"] == 2 and event.data["owner_id"] == "u1"


def test_a_quote_needs_lines_and_a_discount_within_0_to_100():
    with pytest.raises(Invalid) as error:
        Quote.make(id="q", number="n", opportunity_id="o", owned=OWNED, lines=[],
                   actor_id=None, now=NOW)
    assert "lines" in error.value.errors
    with pytest.raises(Invalid) as error:
        quote([{"product": "A", "quantity": D(1), "unit_price": D(1), "discount": D(101)}])
    assert "lines.0.discount" in error.value.errors


def test_editing_a_draft_raises_the_version_once_and_records_the_change():
    q = quote()
    q.events.clear()
    diff = q.update({"lines": [{"product": "A", "quantity": D(2), "unit_price": D(100)}],
                     "notes": "含税"}, now=NOW)
    assert q.version == 2 and diff["total"] == ["100.00", "200.00"]
    assert [e.type for e in q.events] == ["quote.updated"]
    assert q.update({"notes": "含税"}, now=NOW) == {} and q.version == 2


@pytest.mark.parametrize("path, ok", [
    (["sent"], True), (["sent", "accepted"], True), (["sent", "rejected"], True),
    (["sent", "draft"], True), (["sent", "rejected", "draft", "sent"], True),
    (["accepted"], False), (["rejected"], False), (["sent", "accepted", "draft"], False),
    (["sent", "accepted", "rejected"], False), (["sent", "sent"], False),
])
def test_quote_status_machine(path, ok):
    q = quote()
    try:
        for status in path:
            q.move_to(status, now=NOW)
    except Conflict as error:
        assert not ok and error.code == "invalid_transition"
    else:
        assert ok and q.status == path[-1]
        assert q.events[-1].type == "quote.status_changed"


def test_only_a_draft_quote_can_be_edited():
    q = quote()
    q.move_to("sent", now=NOW)
    with pytest.raises(Conflict) as error:
        q.update({"notes": "x"}, now=NOW)
    assert error.value.code == "quote_not_editable"


# ---------------------------------------------------------------- contracts

@pytest.mark.parametrize("path, ok", [
    (["active"], True), (["active", "completed"], True), (["active", "terminated"], True),
    (["terminated"], True), (["completed"], False), (["active", "completed", "active"], False),
    (["terminated", "active"], False), (["active", "draft"], False),
])
def test_contract_status_machine(path, ok):
    c = contract()
    try:
        for status in path:
            c.move_to(status, now=NOW)
    except Conflict as error:
        assert not ok and error.code == "invalid_transition"
    else:
        assert ok and c.status == path[-1]


def test_the_plan_must_add_up_to_the_amount():
    c = contract("30000.00")
    with pytest.raises(Invalid) as error:
        c.set_plan(plan(("2026-02-01", "10000"), ("2026-03-01", "10000.01")), now=NOW)
    assert error.value.code == "plan_mismatch" and "installments" in error.value.errors
    c.set_plan(plan(("2026-03-01", "20000"), ("2026-02-01", "10000")), now=NOW)
    assert [i["due_on"].month for i in c.plan] == [2, 3] and c.version == 2
    with pytest.raises(Invalid) as error:
        c.update({"amount": D("40000")}, now=NOW)   # re-plan first
    assert error.value.code == "plan_mismatch"


def test_payments_need_an_active_contract_and_may_not_exceed_the_amount():
    c = contract("1000.00")
    pay = {"received_on": date(2026, 2, 1), "amount": D("400.00"), "method": "cash"}
    with pytest.raises(Conflict) as error:
        c.receive(pay, actor_id="u1", now=NOW)
    assert error.value.code == "contract_not_active"
    c.move_to("active", now=NOW)
    c.receive(pay, actor_id="u1", now=NOW)
    assert c.received == D("400.00") and c.receivable == D("600.00")
    assert c.events[-1].type == "payment.received"
    assert c.events[-1].data["receivable"] == "600.00"
    with pytest.raises(Invalid) as error:
        c.receive({**pay, "amount": D("600.01")}, actor_id="u1", now=NOW)
    assert "amount" in error.value.errors
    with pytest.raises(Invalid):
        c.update({"amount": D("300")}, now=NOW)   # below what was received


def test_costs_are_recorded_in_any_status():
    c = contract(status="terminated")
    c.record_cost({"incurred_on": date(2026, 1, 5), "amount": D("12.30"),
                   "category": "差旅"}, actor_id="u1", now=NOW)
    assert c.costs_total == D("12.30") and c.events[-1].type == "cost.recorded"


def test_the_period_must_not_end_before_it_starts():
    with pytest.raises(Invalid) as error:
        Contract.make(id="k", number="n", owned=OWNED, amount=D(1), signed_on=date(2026, 1, 1),
                      starts_on=date(2026, 2, 1), ends_on=date(2026, 1, 31), actor_id=None,
                      now=NOW)
    assert "ends_on" in error.value.errors


# ---------------------------------------------------------------- receivables

@pytest.mark.parametrize("days, bucket", [(0, "0-30"), (1, "0-30"), (30, "0-30"),
                                          (31, "31-60"), (60, "31-60"), (61, "61-90"),
                                          (90, "61-90"), (91, "90+"), (400, "90+")])
def test_ageing_buckets(days, bucket):
    assert bucket_of(days) == bucket


def test_payments_cover_the_oldest_installments_first_and_the_rest_ages():
    installments = plan(("2026-01-01", "100"), ("2026-02-01", "100"), ("2026-03-01", "100"),
                        ("2026-06-01", "100"))
    payments = [{"received_on": date(2026, 1, 10), "amount": D("150")},
                {"received_on": date(2026, 9, 1), "amount": D("100")}]   # after as_of
    money = standing(D("400"), installments, payments, date(2026, 4, 5))
    assert money.received == D("150") and money.receivable == D("250")
    assert [i["outstanding"] for i in money.installments] == [D(0), D(50), D(100), D(100)]
    assert [i["days_overdue"] for i in money.overdue] == [63, 35]
    assert money.ageing == {"0-30": D(0), "31-60": D(100), "61-90": D(50), "90+": D(0)}
    assert money.overdue_amount == D(150) and money.not_due == D(100)


def test_nothing_is_overdue_on_its_due_date_or_without_a_plan():
    assert standing(D(100), plan(("2026-01-01", "100")), [], date(2026, 1, 1)).overdue == []
    money = standing(D(100), [], [], date(2030, 1, 1))
    assert money.receivable == D(100) and money.overdue_amount == 0


def test_collections_per_month_and_amount_vs_collected():
    payments = [{"received_on": date(2026, 1, 5), "amount": D("10.10")},
                {"received_on": date(2026, 1, 31), "amount": D("0.90")},
                {"received_on": date(2026, 3, 1), "amount": D("5")}]
    assert collections_by_month(payments, end=date(2026, 2, 28)) == [
        {"month": "2026-01", "count": 2, "amount": D("11.00")}]
    a, b = contract("100.00"), contract("300.00")
    b.owner_id = "u2"
    a.status = "active"
    a.receive({"received_on": date(2026, 1, 1), "amount": D("25"), "method": "cash"},
              actor_id=None, now=NOW)
    rows = amount_vs_collected([a, b], key=lambda c: c.owner_id)
    assert [(r["key"], r["contract_amount"], r["collected"], r["collection_rate"])
            for r in rows] == [("u2", D(300), D(0), 0.0), ("u1", D(100), D(25), 0.25)]


# ---------------------------------------------------------------- copies

def _customer_event(kind, version, owner="u1", at="2026-11-23T02:00:00+00:00", id_="e"):
    return {"type": f"customer.{kind}", "id": f"{id_}{version}", "occurred_at": at,
            "data": {"customer_id": "c1", "name": "甲公司", "region": "east",
                     "owner_id": owner, "owner_team": "east/sh", "owner_region": "east",
                     "shared_with": ["u9"], "version": version}}


def test_the_customer_copy_takes_only_newer_snapshots():
    copy = CustomerCopy(customer_id="c1")
    assert copy.apply(_customer_event("assigned", 3, owner="u2"))
    assert not copy.apply(_customer_event("created", 1))          # older, late
    assert copy.owner_id == "u2" and copy.exists and copy.shared_with == ["u9"]
    assert copy.apply(_customer_event("deleted", 4)) and not copy.exists


def test_the_opportunity_copy_knows_its_customer():
    copy = OpportunityCopy(id="o1")
    event = {"type": "opportunity.created", "id": "e1", "occurred_at": None,
             "data": {"opportunity_id": "o1", "customer_id": "c1", "name": "项目",
                      "status": "open", "version": 1}}
    assert copy.apply(event) and copy.customer_id == "c1"
    assert not copy.apply(event)


# ---------------------------------------------------------------- access

def _viewer(user_id, role="rep", team="east/sh/t1", region="east"):
    from crmkit.identity import Identity
    return Identity(user_id=user_id, username=user_id, name=user_id, role=role, team=team,
                    region=region)


@pytest.mark.parametrize("viewer, read, edit", [
    (_viewer("u1"), True, True),                                   # owner
    (_viewer("u9", team="north/x"), True, False),                  # sharee
    (_viewer("u5", team="east/hz/t1"), True, False),               # team share east/hz
    (_viewer("u2"), False, False),                                 # team member (rep)
    (_viewer("s", "supervisor", "east/sh"), True, True),
    (_viewer("s2", "supervisor", "east/hz"), True, False),        # in the shared team
    (_viewer("s3", "supervisor", "east/gz"), False, False),
    (_viewer("m", "manager", "east"), True, True),
    (_viewer("m2", "manager", "north", "north"), False, False),
    (_viewer("a", "admin", None, None), True, True),
])
def test_who_reads_and_changes_follows_the_customer(viewer, read, edit):
    from services.contracts.access import can_edit, can_read
    record = Owned(customer_id="c1", owner_id="u1", owner_team="east/sh/t1",
                   owner_region="east", region="east", shared_with=["u9"],
                   shared_teams=["east/hz"])
    assert (can_read(viewer, record), can_edit(viewer, record)) == (read, edit)
