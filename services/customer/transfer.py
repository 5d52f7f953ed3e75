"""Export (xlsx / csv, phones masked, cells made safe to open by crmkit.spreadsheets)
and import (xlsx / csv) of customers.

Export headers are Chinese or English (the caller's Accept-Language); import reads
either, plus the usual synonyms of a hand-made sheet (客户名称 / 公司名称 / name ...).
Rows are numbered as the spreadsheet shows them: the header is row 1.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

from crmkit.clock import as_utc, day_text
from crmkit.errors import Invalid
from crmkit.money import format_money
from crmkit.spreadsheets import export_row
from crmkit.xlsx_stream import stream_workbook

from services.customer.domain import Customer
from services.customer.validation import mask_phone
from services.customer.xlsx_rows import read_xlsx_rows

MAX_IMPORT_ROWS = 50_000

# (key, 中文, English) in export order.
COLUMNS = (
    ("number", "客户编号", "Number"),
    ("name", "客户名称", "Name"),
    ("industry", "行业", "Industry"),
    ("status", "状态", "Status"),
    ("level", "等级", "Level"),
    ("source", "来源", "Source"),
    ("source_detail", "来源详情", "Source detail"),
    ("tags", "标签", "Tags"),
    ("size", "规模", "Size"),
    ("address", "地址", "Address"),
    ("needs", "需求", "Needs"),
    ("region", "区域", "Region"),
    ("contact_name", "联系人", "Contact"),
    ("contact_phone", "联系电话", "Phone"),
    ("contact_email", "邮箱", "Email"),
    ("contact_title", "职位", "Title"),
    ("owner_name", "负责人", "Owner"),
    ("deal_amount", "成交金额", "Deal amount"),
    ("last_deal_on", "最后成交日期", "Last deal on"),
    ("last_followup_at", "最后跟进时间", "Last follow-up"),
    ("created_at", "创建时间", "Created at"),
    # added later, so at the end: spreadsheets read by column position keep working
    ("budget", "预算", "Budget"),
    ("purchase_time", "采购时间", "Purchase time"),
    ("first_contact_on", "首次接触日期", "First contact on"),
)
STATUS_LABELS = {"potential": "潜在客户", "intent": "意向客户", "deal": "成交客户",
                 "lost": "流失客户"}
STATUS_FROM_TEXT = {**{v: k for k, v in STATUS_LABELS.items()},
                    **{v[:2]: k for k, v in STATUS_LABELS.items()},
                    **{k: k for k in STATUS_LABELS}}

# Importable columns: field -> header names (compared folded: lower case, no blanks).
IMPORT_HEADERS = {
    "name": ("客户名称", "名称", "公司名称", "客户", "name", "customer", "company"),
    "industry": ("行业", "所属行业", "行业分类", "industry"),
    "status": ("状态", "客户状态", "客户类型", "status"),
    "level": ("等级", "客户等级", "level"),
    "source": ("来源", "客户来源", "来源渠道", "source"),
    "source_detail": ("来源详情", "sourcedetail", "source_detail"),
    "tags": ("标签", "tags", "tag"),
    "size": ("规模", "企业规模", "size"),
    "address": ("地址", "客户地址", "address"),
    "needs": ("需求", "主要需求", "needs"),
    "region": ("区域", "region"),
    "budget": ("预算", "预算范围", "预算金额", "budget"),
    "purchase_time": ("采购时间", "计划采购时间", "purchasetime", "purchase_time"),
    "first_contact_on": ("首次接触日期", "首次接触", "firstcontacton", "firstcontact",
                         "first_contact_on"),
    "contact_name": ("联系人", "联系人姓名", "主联系人", "contact", "contactname",
                     "contact_name"),
    "contact_phone": ("联系电话", "电话", "手机", "手机号", "联系方式", "phone", "mobile",
                      "contactphone", "contact_phone"),
    "contact_email": ("邮箱", "电子邮箱", "email", "contactemail", "contact_email"),
    "contact_title": ("职位", "title", "contacttitle", "contact_title"),
    "deal_amount": ("成交金额", "历史交易金额", "dealamount", "deal_amount"),
    "last_deal_on": ("最后成交日期", "最后交易日期", "lastdealon", "last_deal_on"),
}
_HEADER_LOOKUP = {re.sub(r"[\s_\-]", "", h.lower()): field
                  for field, names in IMPORT_HEADERS.items() for h in names}
_TAG_SPLIT = re.compile(r"[,，、;；|]")


def language(accept_language) -> str:
    """'zh' or 'en' from a werkzeug LanguageAccept (English unless Chinese is preferred)."""
    best = accept_language.best_match(["zh", "zh-CN", "en"], default="en") \
        if accept_language else "en"
    return "zh" if best and best.lower().startswith("zh") else "en"


# --------------------------------------------------------------------------- export

def _local(moment, tz: ZoneInfo) -> str:
    if not moment:
        return ""
    return as_utc(moment).astimezone(tz).strftime("%Y-%m-%d %H:%M")


def export_headers(lang: str) -> list[str]:
    return [zh if lang == "zh" else en for _, zh, en in COLUMNS]


def export_lines(customers: Iterable[Customer], lang: str, tz: ZoneInfo) -> Iterator[list]:
    """The rows, made as they are asked for (an export streams)."""
    return (_export_row(customer, lang, tz) for customer in customers)


def export_table(customers: Iterable[Customer], lang: str, tz: ZoneInfo
                 ) -> tuple[list[str], list[list]]:
    return export_headers(lang), list(export_lines(customers, lang, tz))


def _export_row(customer: Customer, lang: str, tz: ZoneInfo) -> list:
    contact = customer.primary_contact or {}
    status = customer.status or ""
    values = {
        "number": customer.number, "name": customer.name, "industry": customer.industry,
        "status": STATUS_LABELS.get(status, status) if lang == "zh" else status,
        "level": customer.level, "source": customer.source,
        "source_detail": customer.source_detail,
        "tags": ("、" if lang == "zh" else ", ").join(customer.tags or []),
        "size": customer.size, "address": customer.address, "needs": customer.needs,
        "budget": None if customer.budget is None else format_money(customer.budget),
        "purchase_time": day_text(customer.purchase_time),
        "first_contact_on": day_text(customer.first_contact_on),
        "region": customer.region, "contact_name": contact.get("name"),
        "contact_phone": mask_phone(contact.get("phone")),
        "contact_email": contact.get("email"), "contact_title": contact.get("title"),
        "owner_name": customer.owner_name,
        "deal_amount": format_money(customer.deal_amount),
        "last_deal_on": day_text(customer.last_deal_on),
        "last_followup_at": _local(customer.last_followup_at, tz),
        "created_at": _local(customer.created_at, tz),
    }
    return ["" if values[key] is None else values[key] for key, _, _ in COLUMNS]


def stream_csv(headers: list[str], rows: Iterable[list], batch: int = 500
               ) -> Iterator[bytes]:
    """The csv file in pieces of `batch` rows, the header and the BOM (which lets Excel
    read UTF-8) in the first."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow(headers)
    for count, row in enumerate(rows, 1):
        writer.writerow(export_row(row))   # no formulas, no control bytes
        if count % batch == 0:
            yield _drain(buffer)
    yield _drain(buffer)


def _drain(buffer: io.StringIO) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text.encode("utf-8")


def to_csv(headers: list[str], rows: Iterable[list]) -> bytes:
    return b"".join(stream_csv(headers, rows))


def stream_xlsx(headers: list[str], rows: Iterable[list], title: str = "customers",
                batch: int = 500) -> Iterator[bytes]:
    """The xlsx file as it is written (`crmkit.xlsx_stream`): every cell
    is text, as the export's values are."""
    return stream_workbook(title, [headers], (export_row(row) for row in rows), batch=batch)


def to_xlsx(headers: list[str], rows: Iterable[list], title: str = "customers") -> bytes:
    return b"".join(stream_xlsx(headers, rows, title))


# --------------------------------------------------------------------------- import

def _cell(value):
    """A spreadsheet cell as text (numbers as typed: phones stay digits)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    return text or None


def read_rows(content: bytes, filename: str | None) -> Iterator[tuple[int, list]]:
    """(row number, cells) of the first sheet, read as they are asked for (an import
    stops at its row limit); row 1 is the header."""
    name = (filename or "").lower()
    if name.endswith(".csv"):
        return _read_csv(content)
    if name.endswith((".xlsx", ".xlsm")) or content[:2] == b"PK":
        return _read_xlsx(content)
    return _read_csv(content)


def _read_csv(content: bytes) -> Iterator[tuple[int, list]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise Invalid("file", "The CSV file is neither UTF-8 nor GBK text. / 无法识别文件编码。")
    return enumerate(csv.reader(io.StringIO(text)), 1)


def _read_xlsx(content: bytes) -> Iterator[tuple[int, list]]:
    try:
        rows = enumerate(read_xlsx_rows(content), 1)
        first = next(rows, None)
    except Exception:
        raise Invalid("file", "Not a readable xlsx file. / 无法读取该 xlsx 文件。") from None
    if first is not None:
        yield first
        yield from rows


def header_fields(header: list) -> list[str | None]:
    fields = []
    for cell in header:
        key = re.sub(r"[\s_\-]", "", str(cell or "").lower())
        fields.append(_HEADER_LOOKUP.get(key))
    if "name" not in fields:
        raise Invalid("file", "The first row must name the columns, with at least "
                              "客户名称 / name. / 第一行必须是列名,且包含“客户名称”。")
    return fields


def row_command(fields: list[str | None], cells: list) -> dict | None:
    """The create command a data row stands for (None for an empty row)."""
    values = {}
    for field, cell in zip(fields, cells):
        if field is None:
            continue
        text = _cell(cell)
        if text is not None:
            values[field] = text
    if not values:
        return None
    command: dict = {}
    for key in ("name", "industry", "level", "source", "source_detail", "size", "address",
                "needs", "region", "deal_amount", "last_deal_on", "budget", "purchase_time",
                "first_contact_on"):
        if key in values:
            command[key] = values[key]
    if "level" in command:
        command["level"] = command["level"].upper()
    if "status" in values:
        command["status"] = STATUS_FROM_TEXT.get(values["status"].strip().lower(),
                                                 values["status"])
    if "tags" in values:
        command["tags"] = [t.strip() for t in _TAG_SPLIT.split(values["tags"]) if t.strip()]
    contact = {k.removeprefix("contact_"): values[k]
               for k in ("contact_name", "contact_phone", "contact_email", "contact_title")
               if k in values}
    if contact:
        command["primary_contact"] = contact
    return command


def import_header(content: bytes, filename: str | None):
    """The file's rows after its header, and the fields its header names; 422 `file` for
    a file that is no spreadsheet, is empty or names no customer column (what an
    import started in the background is checked for before it is accepted)."""
    rows = read_rows(content, filename)
    header = next(rows, None)
    if header is None:
        raise Invalid("file", "The file is empty. / 文件为空。")
    return rows, header_fields(header[1])


def parse_import(content: bytes, filename: str | None) -> list[tuple[int, dict]]:
    rows, fields = import_header(content, filename)
    commands = []
    for number, cells in rows:
        command = row_command(fields, cells)
        if command is None:
            continue
        if len(commands) == MAX_IMPORT_ROWS:   # refused at once, not after reading it all
            raise Invalid("file", f"At most {MAX_IMPORT_ROWS} rows per file. "
                                  f"/ 每个文件最多 {MAX_IMPORT_ROWS} 行。")
        commands.append((number, command))
    return commands
