"""The one export-cell rule of every csv and xlsx download (crmkit.spreadsheets)."""
from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import Workbook, load_workbook

from crmkit.spreadsheets import export_cell


@pytest.mark.parametrize("text", ["=1+1", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx",
                                  '=HYPERLINK("http://x","y")', "-", "+86138****5678"])
def test_text_a_spreadsheet_would_run_gets_a_leading_quote(text):
    assert export_cell(text) == "'" + text


@pytest.mark.parametrize("value", [-5, -1.5, Decimal("-12.50"), 0, None, True,
                                   date(2026, 11, 23), "", "商策科技", "a=b", " =1",
                                   "-12.50", "+3", "-7"])
def test_numbers_and_harmless_text_are_left_alone(value):
    assert export_cell(value) == value


def test_control_characters_go_then_the_rest_is_judged():
    assert export_cell("浦东\x07新区\x1b") == "浦东新区"
    assert export_cell("\x01=1+2") == "'=1+2"
    assert export_cell("行一\n行二\t列") == "行一\n行二\t列"  # inner tab, newline stay


def test_every_neutralised_cell_is_writable_to_xlsx():
    values = [chr(c) + "x" for c in range(32)] + ["\x00=1", "a\x0bb"]
    book = Workbook()
    book.active.append([export_cell(v) for v in values])
    out = io.BytesIO()
    book.save(out)
    [row] = load_workbook(io.BytesIO(out.getvalue())).active.iter_rows(values_only=True)
    assert all(cell is None or not cell.startswith(("=", "+", "-", "@")) for cell in row)
