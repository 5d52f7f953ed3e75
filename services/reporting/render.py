"""Reports as tables, and tables as CSV or XLSX files with Chinese/English headers.

`table(report, payload)` flattens a report's JSON into (columns, rows); `to_csv` and
`to_xlsx` turn that into bytes. CSV carries a UTF-8 byte-order mark so that Excel opens
the Chinese headers correctly. Money stays text with two decimals in CSV and becomes an
exact-looking number (format 0.00) in XLSX so that sums work in a spreadsheet. Every
cell goes through `crmkit.spreadsheets.export_cell`, as in every other export: text a
spreadsheet would run as a formula is quoted and control characters are dropped.
"""
from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from typing import Iterator

from openpyxl import Workbook

from crmkit.spreadsheets import export_cell
from events.customer import METHODS

Column = tuple[str, str, str]  # (field, 中文, English)

_MONEY_FIELDS = {"amount", "weighted_amount", "won_amount", "target", "monetary",
                 "pipeline_amount", "lost_amount", "open_amount", "expected_amount", "gap"}

TITLES = {
    "summary": ("概览", "Summary"),
    "funnel": ("销售漏斗", "Sales funnel"),
    "performance": ("销售业绩", "Performance"),
    "activity": ("客户活跃度", "Activity"),
    "forecast": ("销售预测", "Forecast"),
    "forecast-vs-target": ("预测与目标对比", "Forecast vs target"),
    "customer-value": ("客户价值", "Customer value"),
    "win-loss": ("赢单/输单分析", "Win / loss"),
}


def header(column: Column) -> str:
    return f"{column[1]} {column[2]}"


def table(report: str, payload: dict) -> tuple[list[Column], list[dict]]:
    return _TABLES[report](payload)


def _summary(p):
    cols = [("customers", "客户数", "Customers"),
            ("customers_in_pool", "公海客户数", "Customers in pool"),
            ("opportunities_open", "进行中商机", "Open opportunities"),
            ("pipeline_amount", "商机金额", "Pipeline amount"),
            ("won_amount", "赢单金额", "Won amount"),
            ("tasks_open", "未完成任务", "Open tasks")]
    return cols, [p]


def _funnel(p):
    cols = [("stage", "阶段", "Stage"), ("stage_label", "阶段名称", "Stage name"),
            ("count", "数量", "Count"), ("amount", "金额", "Amount"),
            ("weighted_amount", "加权金额", "Weighted amount"),
            ("conversion_rate", "转化率", "Conversion rate")]
    rows = [{**s, "stage_label": s["label"]["zh"]} for s in p["stages"]]
    rows.append({"stage": "won", "stage_label": "赢单", **p["won"]})
    rows.append({"stage": "lost", "stage_label": "输单", **p["lost"]})
    rows.append({"stage": "win_rate", "stage_label": "赢率 Win rate",
                 "conversion_rate": p["win_rate"]})
    return cols, rows


def _performance(p):
    cols = [("key", "键", "Key"), ("label", "名称", "Name"), ("period", "期间", "Period"),
            ("won_count", "成交数", "Won count"), ("won_amount", "成交额", "Won amount"),
            ("target", "目标", "Target"), ("attainment", "完成率", "Attainment"),
            ("new_customers", "新客户数", "New customers"),
            ("interactions", "跟进次数", "Interactions")]
    return cols, p["rows"]


_METHOD_NAMES = {"call": "电话", "visit": "拜访", "email": "邮件", "meeting": "会议",
                 "wechat": "微信", "other": "其他"}


def _activity(p):
    cols = [("key", "键", "Key"), ("label", "名称", "Name"), ("period", "期间", "Period"),
            ("interactions", "跟进次数", "Interactions")]
    cols += [(f"method_{m}", _METHOD_NAMES[m], m.capitalize()) for m in METHODS]
    cols += [("tasks_completed", "完成任务", "Tasks completed"),
             ("customers_touched", "跟进客户数", "Customers touched"),
             ("customers_converted", "成交客户数", "Customers converted"),
             ("conversion_rate", "成交转化率", "Conversion to deal")]
    rows = [{**r, **{f"method_{m}": r["by_method"].get(m, 0) for m in METHODS}}
            for r in p["rows"]]
    return cols, rows


def _forecast(p):
    cols = [("period", "预计成交期间", "Expected close period"), ("count", "数量", "Count"),
            ("amount", "金额", "Amount"), ("weighted_amount", "加权金额", "Weighted amount")]
    return cols, p["rows"] + [{"period": "合计 Total", **p["total"]}]


def _forecast_vs_target(p):
    cols = [("key", "键", "Key"), ("label", "名称", "Name"), ("period", "期间", "Period"),
            ("won_amount", "已成交", "Won"), ("open_count", "在途商机数", "Open count"),
            ("open_amount", "在途金额", "Open amount"),
            ("weighted_amount", "加权预测", "Weighted forecast"),
            ("expected_amount", "预计完成", "Expected"), ("target", "目标", "Target"),
            ("gap", "差距", "Gap"), ("attainment", "完成率", "Attainment"),
            ("expected_attainment", "预计完成率", "Expected attainment")]
    return cols, p["rows"]


def _customer_value(p):
    if p["model"] == "rfm":
        cols = [("customer_id", "客户ID", "Customer id"), ("name", "客户名称", "Customer"),
                ("owner_name", "负责人", "Owner"),
                ("last_deal_on", "最近成交日期", "Last deal on"),
                ("recency_days", "距今天数", "Recency (days)"),
                ("frequency", "成交次数", "Frequency"), ("monetary", "成交金额", "Monetary"),
                ("r", "R", "R"), ("f", "F", "F"), ("m", "M", "M"),
                ("score", "RFM", "RFM")]
        return cols, p["items"]
    cols = [("customer_id", "客户ID", "Customer id"), ("name", "客户名称", "Customer"),
            ("owner_name", "负责人", "Owner"), ("deals", "成交次数", "Deals"),
            ("amount", "成交金额", "Deal amount"), ("share", "占比", "Share"),
            ("cumulative_share", "累计占比", "Cumulative share"), ("class", "类别", "Class")]
    return cols, p["items"]


def _win_loss(p):
    cols = [("outcome", "结果", "Outcome"), ("reason", "原因", "Reason"),
            ("count", "数量", "Count"), ("amount", "金额", "Amount"),
            ("share", "占比", "Share"),
            ("average_cycle_days", "平均周期(天)", "Average cycle (days)")]
    rows = [{"outcome": "赢单 won", **p["won"]}, {"outcome": "输单 lost", **p["lost"]}]
    rows += [{"outcome": "输单原因 loss reason", **r} for r in p["loss_reasons"]]
    rows.append({"outcome": "赢率 win rate", "share": p["win_rate"],
                 "average_cycle_days": p["average_cycle_days"]})
    return cols, rows


_TABLES = {
    "summary": _summary, "funnel": _funnel, "performance": _performance,
    "activity": _activity, "forecast": _forecast, "forecast-vs-target": _forecast_vs_target,
    "customer-value": _customer_value,
    "win-loss": _win_loss,
}


def _cell(value):
    if value is None:
        return ""
    return export_cell(value)


CSV_CHUNK = 500  # rows per streamed piece


def csv_chunks(columns: list[Column], rows) -> Iterator[bytes]:
    """The CSV a few hundred rows at a time: `rows` may be an iterator that reads its
    rows as it goes (customer value's export), so the file streams out."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow([header(c) for c in columns])
    for number, row in enumerate(rows, 1):
        writer.writerow([_cell(row.get(c[0])) for c in columns])
        if number % CSV_CHUNK == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def to_csv(columns: list[Column], rows) -> bytes:
    return b"".join(csv_chunks(columns, rows))


def to_xlsx(title: str, columns: list[Column], rows: list[dict]) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = re.sub(r"[\\/*?:\[\]]", " ", title)[:31] or "Report"
    sheet.append([header(c) for c in columns])
    for row in rows:
        cells = []
        for field, _, _ in columns:
            value = row.get(field)
            if field in _MONEY_FIELDS and isinstance(value, str):
                value = Decimal(value)
            cells.append(export_cell(value))
        sheet.append(cells)
    for index, (field, _, _) in enumerate(columns, start=1):
        if field in _MONEY_FIELDS:
            for cell in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell[0].number_format = "0.00"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def render(report: str, payload: dict, fmt: str, *, stream: bool = False
           ) -> tuple[bytes | Iterator[bytes], str, str]:
    """(body, content type, file name) for format csv or xlsx; `stream`: a CSV body as
    an iterator of pieces."""
    columns, rows = table(report, payload)
    if fmt == "csv":
        body = csv_chunks(columns, rows) if stream else to_csv(columns, rows)
        return body, "text/csv; charset=utf-8", f"{report}.csv"
    zh, en = TITLES[report]
    return (to_xlsx(en, columns, rows),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            f"{report}.xlsx")
