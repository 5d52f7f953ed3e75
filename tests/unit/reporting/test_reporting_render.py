"""CSV and XLSX renderings of the reports: bilingual headers, exact money."""
from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from reporting_world import TODAY
from services.reporting import render, reports


@pytest.fixture
def filled(ev, org):
    for e in [ev.customer("c1", "rep1"), ev.opportunity("o1", "rep1", "1234.56"),
              ev.opportunity("o2", "rep1", "10.00"), ev.won("o2", "10.00"),
              ev.opportunity("o3", "rep1", "5.00"), ev.lost("o3", "价格过高"),
              ev.interaction("i1", "c1", "rep1", "visit")]:
        org.handle(e)
    return org.store


def every_report(store, viewer):
    return {
        "summary": reports.summary(store, viewer),
        "funnel": reports.funnel(store, viewer),
        "performance": reports.performance(store, viewer, today=TODAY),
        "activity": reports.activity(store, viewer, today=TODAY),
        "forecast": reports.forecast(store, viewer),
        "customer-value": reports.customer_value(store, viewer, as_of=TODAY),
        "win-loss": reports.win_loss(store, viewer),
    }


def test_csv_has_a_bom_and_chinese_english_headers(filled, who):
    body, content_type, name = render.render("funnel", reports.funnel(filled, who("rep1")),
                                             "csv")
    assert body.startswith("\ufeff".encode())
    assert content_type.startswith("text/csv") and name == "funnel.csv"
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:4] == ["阶段 Stage", "阶段名称 Stage name", "数量 Count", "金额 Amount"]
    assert rows[1][:5] == ["lead", "初步接触", "1", "1234.56", "123.46"]
    assert ["won", "赢单", "1", "10.00", "", ""] in rows


def test_xlsx_opens_with_headers_and_exact_money(filled, who):
    body, content_type, name = render.render(
        "funnel", reports.funnel(filled, who("rep1")), "xlsx")
    assert content_type.endswith("spreadsheetml.sheet") and name == "funnel.xlsx"
    sheet = load_workbook(io.BytesIO(body)).active
    assert sheet.cell(1, 1).value == "阶段 Stage"
    assert Decimal(str(sheet.cell(2, 4).value)) == Decimal("1234.56")
    assert sheet.cell(2, 4).number_format == "0.00"


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_every_report_renders(filled, who, fmt):
    for name, payload in every_report(filled, who("admin")).items():
        body, _, filename = render.render(name, payload, fmt)
        assert body and filename == f"{name}.{fmt}"


def test_rfm_has_its_own_columns(filled, who):
    payload = reports.customer_value(filled, who("admin"), model="rfm", as_of=TODAY)
    columns, rows = render.table("customer-value", payload)
    assert ("score", "RFM", "RFM") in columns
