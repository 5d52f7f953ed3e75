import csv
import io
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from werkzeug.datastructures import LanguageAccept

from crmkit.errors import Invalid

from services.customer import transfer
from services.customer.documents import customer_from


def test_chinese_headers_and_labels_make_a_command():
    fields = transfer.header_fields(["客户名称", "行业", "客户状态", "等级", "标签", "联系人",
                                     "手机", "邮箱", "备注列"])
    command = transfer.row_command(fields, ["商策科技", "软件", "意向客户", "a", "重点、华东",
                                            "王", 13812345678, "w@x.cn", "ignored"])
    assert command == {"name": "商策科技", "industry": "软件", "status": "intent",
                       "level": "A", "tags": ["重点", "华东"],
                       "primary_contact": {"name": "王", "phone": "13812345678",
                                           "email": "w@x.cn"}}


def test_english_headers_and_codes():
    fields = transfer.header_fields(["Name", "Industry", "Status", "Contact Name",
                                     "Contact_Phone", "Deal Amount", "Last deal on"])
    command = transfer.row_command(fields, ["ACME", "IT", "potential", "Li", "13812345678",
                                            1200.5, datetime(2026, 11, 1)])
    assert command["deal_amount"] == "1200.5" and command["last_deal_on"] == "2026-11-01"
    assert command["status"] == "potential"


def test_a_float_phone_cell_stays_digits():
    fields = transfer.header_fields(["name", "phone"])
    assert transfer.row_command(fields, ["x", 13812345678.0])["primary_contact"] == {
        "phone": "13812345678"}


def test_empty_rows_are_skipped_and_the_name_column_is_required():
    assert transfer.row_command(["name", "industry"], [None, "  "]) is None
    with pytest.raises(Invalid) as err:
        transfer.header_fields(["行业", "状态"])
    assert "file" in err.value.errors


def test_csv_in_gbk_is_read():
    content = "客户名称,行业\n商策科技,软件\n".encode("gbk")
    assert transfer.parse_import(content, "list.csv") == [
        (2, {"name": "商策科技", "industry": "软件"})]


def test_too_many_rows_are_refused(monkeypatch):
    monkeypatch.setattr(transfer, "MAX_IMPORT_ROWS", 2)
    content = "name\na\nb\nc\n".encode()
    with pytest.raises(Invalid):
        transfer.parse_import(content, "x.csv")


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_an_import_stops_reading_at_its_row_limit(monkeypatch, kind):
    # a 2-million-row file was read to its end (139 s, 870 MB) before being refused
    monkeypatch.setattr(transfer, "MAX_IMPORT_ROWS", 3)
    read = []
    original = transfer.row_command
    monkeypatch.setattr(transfer, "row_command",
                        lambda fields, cells: read.append(cells) or original(fields, cells))
    names = [f"客户{i}" for i in range(500)]
    if kind == "csv":
        content = ("name\n" + "\n".join(names) + "\n").encode()
    else:
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.append(["name"])
        for name in names:
            sheet.append([name])
        buffer = io.BytesIO()
        book.save(buffer)
        content = buffer.getvalue()
    with pytest.raises(Invalid):
        transfer.parse_import(content, f"x.{kind}")
    assert len(read) == 4


DOC = customer_from({
    "_id": "CRM202611230001", "number": "CRM202611230001", "name": "商策科技",
    "industry": "软件", "status": "intent", "tags": ["A", "B"], "deal_amount_cents": 120050,
    "contacts": [{"id": "k1", "name": "王", "phone": "13812345678", "is_primary": True}],
    "created_by": "u-1", "created_at": datetime(2026, 11, 22, 16, 30, tzinfo=timezone.utc),
    "updated_at": datetime(2026, 11, 22, 16, 30, tzinfo=timezone.utc)})


def test_export_table_in_chinese_masks_phones():
    headers, rows = transfer.export_table([DOC], "zh", ZoneInfo("Asia/Shanghai"))
    row = dict(zip(headers, rows[0]))
    assert row["客户编号"] == "CRM202611230001" and row["状态"] == "意向客户"
    assert row["联系电话"] == "138****5678" and row["成交金额"] == "1200.50"
    assert row["标签"] == "A、B" and row["创建时间"] == "2026-11-23 00:30"


def test_export_table_in_english():
    headers, rows = transfer.export_table([DOC], "en", ZoneInfo("UTC"))
    row = dict(zip(headers, rows[0]))
    assert row["Status"] == "intent" and row["Tags"] == "A, B"
    assert row["Created at"] == "2026-11-22 16:30"


def test_csv_has_a_bom_and_round_trips():
    data = transfer.to_csv(["a", "b"], [["商策", "1"]])
    assert data.startswith(b"\xef\xbb\xbf")
    assert list(csv.reader(io.StringIO(data.decode("utf-8-sig")))) == [["a", "b"], ["商策", "1"]]


def test_xlsx_round_trips_through_the_importer():
    data = transfer.to_xlsx(["客户名称", "联系电话"], [["商策科技", "13812345678"]])
    assert transfer.parse_import(data, "x.xlsx") == [
        (2, {"name": "商策科技", "primary_contact": {"phone": "13812345678"}})]


@pytest.mark.parametrize("header, expected", [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh"), ("en-US,en;q=0.9", "en"), ("", "en"),
    ("fr-FR", "en"), ("zh", "zh")])
def test_language_from_accept_language(header, expected):
    values = [(part.split(";")[0], 1.0 - i / 10) for i, part in enumerate(header.split(","))
              if part]
    assert transfer.language(LanguageAccept(values)) == expected
