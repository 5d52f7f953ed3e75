"""Export (xlsx / csv, masked phones, zh or en headers) and import (xlsx / csv: good rows
kept, duplicates and bad rows reported by row, nothing half-written)."""
from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from crm_testing import eventually

from customer_helpers import (CUSTOMERS, EventSpy, create, unique_name, upload, url,
                              xlsx_bytes)


def read_csv(reply) -> list[list[str]]:
    return list(csv.reader(io.StringIO(reply.data.decode("utf-8-sig"))))


def read_xlsx(reply) -> list[list]:
    sheet = load_workbook(io.BytesIO(reply.data), read_only=True).worksheets[0]
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def test_export_csv_masks_phones_with_english_headers(corg):
    rep = corg.user("rep")
    customer = create(rep, tags=["A", "B"], primary_contact={"name": "王", "phone": "13812345678"})
    reply = rep.get(f"{CUSTOMERS}/export?format=csv", headers={"Accept-Language": "en-US"})
    assert reply.status_code == 200
    assert reply.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in reply.headers["Content-Disposition"]
    rows = read_csv(reply)
    assert rows[0][:4] == ["Number", "Name", "Industry", "Status"]
    row = next(r for r in rows if r[0] == customer["number"])
    assert "138****5678" in row and "13812345678" not in reply.data.decode("utf-8-sig")
    assert row[rows[0].index("Status")] == "potential"


def test_export_xlsx_with_chinese_headers_and_filters(corg):
    rep = corg.user("rep")
    wanted = create(rep, status="intent")
    other = create(rep, status="lost")
    reply = rep.get(f"{CUSTOMERS}/export?format=xlsx&status=intent",
                    headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert reply.status_code == 200
    assert "spreadsheetml" in reply.headers["Content-Type"]
    rows = read_xlsx(reply)
    assert rows[0][:4] == ["客户编号", "客户名称", "行业", "状态"]
    numbers = [r[0] for r in rows[1:]]
    assert wanted["number"] in numbers and other["number"] not in numbers
    row = next(r for r in rows if r[0] == wanted["number"])
    assert row[3] == "意向客户" and row[rows[0].index("联系电话")] == "138****5678"


def test_import_xlsx_keeps_good_rows_and_reports_the_rest(corg, customer_settings):
    rep = corg.user("rep")
    existing = create(rep)
    good_a, good_b = unique_name(), unique_name()
    # 成交金额 left empty: a rep's import may not set deal fields
    # (test_customer_private_fields covers that).
    rows = [["客户名称", "行业", "状态", "等级", "标签", "联系人", "联系电话", "成交金额"],
            [good_a, "软件", "潜在客户", "a", "重点、华东", "张三", 13812345678, None],
            [f"上海{existing['name']}", "软件", "意向客户", "B", None, "李四", "13900001111", None],
            [unique_name(), None, "potential", "C", None, "王五", "12345", None],
            [good_b, "制造", "intent", None, None, "赵六", "+8613700001111", None],
            [None, None, None, None, None, None, None, None],
            [good_b.replace("有限公司", "股份有限公司"), "制造", "intent", None, None,
             "钱七", "13700002222", None],
            [unique_name(), "软件", "potential", None, None, "孙八", "13700003333",
             None]]
    rows[7][1] = "卡号4111111111111111"
    with EventSpy(customer_settings.amqp_url, "customer.created") as spy:
        reply = upload(rep, xlsx_bytes(rows), "customers.xlsx")
        assert reply.status_code == 200, reply
        result = reply.json
        assert result["created"] == 2
        assert [d["row"] for d in result["duplicates"]] == [3, 7]
        assert result["duplicates"][0]["matches"][0]["id"] == existing["id"]
        assert result["duplicates"][1]["matches"] == [{"row": 5, "name": good_b}]
        errors = {(e["row"], e["field"]) for e in result["errors"]}
        assert errors == {(4, "industry"), (4, "primary_contact.phone"), (8, "industry")}
        # The relay may publish `existing`'s (or an earlier test's) customer.created
        # after the spy is bound: wait for, and judge, this upload's events only.
        def imported():
            return [e for e in spy.of("customer.created")
                    if e["actor_id"] == rep.id and e["aggregate_id"] != existing["id"]]
        created = eventually(lambda: len(imported()) >= 2 and imported(), timeout=5,
                             message="events of imported customers")
        assert {e["data"]["name"] for e in created} == {good_a, good_b}
    mine = {c["name"]: c for c in rep.get(f"{CUSTOMERS}?scope=mine&per_page=100").json["items"]}
    assert set(mine) == {existing["name"], good_a, good_b}
    first = mine[good_a]
    assert first["level"] == "A" and first["tags"] == ["重点", "华东"]
    assert first["primary_contact"] == {"name": "张三", "phone": "13812345678"}
    assert first["deal_amount"] == "0.00" and first["owner_id"] == rep.id
    assert rep.get(url(first, "/history")).json[0]["action"] == "created"


def test_import_csv_into_the_pool(corg):
    supervisor = corg.user("supervisor", "east/shanghai")
    name = unique_name()
    text = ("name,industry,status,contact_name,contact_phone\n"
            f"{name},IT,potential,Zhang,13812340000\n")
    reply = upload(supervisor, text.encode("utf-8-sig"), "list.csv", in_pool=True)
    assert reply.status_code == 200 and reply.json["created"] == 1, reply
    pool = corg.user("rep").get(f"/api/v1/pool?q={name[:6]}").json["items"]
    assert [(c["name"], c["claimed"]) for c in pool] == [(name, False)]


def test_import_refuses_unreadable_files(corg):
    rep = corg.user("rep")
    no_name = upload(rep, b"industry,status\nIT,potential\n", "x.csv")
    assert no_name.status_code == 422 and "file" in no_name.json["errors"]
    broken = upload(rep, b"PK\x03\x04garbage", "x.xlsx")
    assert broken.status_code == 422
    missing = rep.request("POST", f"{CUSTOMERS}/import", data=b"", content_type="text/plain")
    assert missing.status_code == 422


def test_export_then_import_round_trips_names(corg):
    rep = corg.user("rep")
    create(rep)
    exported = rep.get(f"{CUSTOMERS}/export?format=xlsx", headers={"Accept-Language": "zh"})
    other = corg.user("rep")
    result = upload(other, exported.data, "back.xlsx").json
    # Masked phones are refused, and the names exist: nothing is created twice.
    assert result["created"] == 0 and len(result["duplicates"]) + len(result["errors"]) >= 1
