"""Print views of customers (打印, seed 004, CONTRACT §10): the list as the caller's list
shows it, and one customer (its record, contacts and follow-ups), as an HTML page made
for paper (print CSS) or as a PDF.

Both render what the API shows the caller — the dumps of the `Out` schemas — so a print
can never show more than the JSON would: a customer in the pool prints its public view
only. Phones in the list print are masked as in the export (138****5678); the print of
one customer shows them as its record does. Opportunities are the opportunity service's:
the API print leaves them out (the console's print view of a customer adds them from
GET /opportunities?customer_id=…).

The PDF embeds a CJK TrueType font from Debian's packages (`fonts-wqy-microhei`, or
`fonts-wqy-zenhei`), found at run time (CRM_PDF_FONT, the packages' paths, fontconfig's
`fc-match`). Without one the PDF is 503 `pdf_font_missing` naming the package; the HTML
print still works. (Noto CJK is CFF-based OpenType, which reportlab cannot embed.)
"""
from __future__ import annotations

import html
import io
import os
import shutil
import subprocess
import threading
from datetime import datetime
from zoneinfo import ZoneInfo

from crmkit.errors import DomainError

from services.customer.validation import mask_phone

FONT_PACKAGE = "fonts-wqy-microhei"
FONT_PATHS = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
              "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
FONT_FAMILIES = ("WenQuanYi Micro Hei", "WenQuanYi Zen Hei")
FONT_NAME = "CRM-CJK"
LIST_MAX = 500          # customers in one print of `all=true`
FOLLOWUPS_MAX = 200     # follow-ups in the print of one customer

STATUS = {"zh": {"potential": "潜在客户", "intent": "意向客户", "deal": "成交客户",
                 "lost": "流失客户"},
          "en": {"potential": "Potential", "intent": "Intent", "deal": "Deal", "lost": "Lost"}}
METHODS = {"zh": {"call": "电话", "visit": "拜访", "email": "邮件", "meeting": "会议",
                  "wechat": "微信", "other": "其他"}}
TEXT = {
    "zh": {"list_title": "客户列表", "customer_title": "客户资料", "printed": "打印时间",
           "count": "共 {total} 个客户,本页 {shown} 个",
           "truncated": "仅打印前 {shown} 个(共 {total} 个),请缩小筛选范围。",
           "public": "该客户在客户池中,仅打印公开信息。", "contacts": "联系人",
           "followups": "跟进记录", "none": "无",
           "opportunities": "商机由商机服务管理,未包含在此打印中。",
           "number": "客户编号", "name": "客户名称", "industry": "行业", "status": "状态",
           "level": "等级", "source": "来源", "source_detail": "来源详情", "tags": "标签",
           "size": "规模", "address": "地址", "needs": "需求", "region": "区域",
           "owner_name": "负责人", "contact": "主联系人", "phone": "电话",
           "budget": "预算", "purchase_time": "采购时间", "first_contact_on": "首次接触",
           "deal_amount": "成交金额", "last_deal_on": "最后成交", "last_followup_at": "最后跟进",
           "created_at": "创建时间", "title": "职位", "department": "部门", "mobile": "手机",
           "email": "邮箱", "role": "角色", "occurred_at": "时间", "method": "方式",
           "subject": "主题", "content": "内容", "feedback": "反馈", "next_action": "下一步",
           "claimed": "已领用", "unclaimed": "未领用(客户池)", "contact_name": "姓名"},
    "en": {"list_title": "Customers", "customer_title": "Customer", "printed": "Printed",
           "count": "{total} customers, {shown} on this page",
           "truncated": "Only the first {shown} of {total} are printed: narrow the filters.",
           "public": "This customer is in the pool: only its public view is printed.",
           "contacts": "Contacts", "followups": "Follow-ups", "none": "None",
           "opportunities": "Opportunities belong to the opportunity service and are not "
                            "part of this print.",
           "number": "Number", "name": "Name", "industry": "Industry", "status": "Status",
           "level": "Level", "source": "Source", "source_detail": "Source detail",
           "tags": "Tags", "size": "Size", "address": "Address", "needs": "Needs",
           "region": "Region", "owner_name": "Owner", "contact": "Primary contact",
           "phone": "Phone", "budget": "Budget", "purchase_time": "Purchase time",
           "first_contact_on": "First contact", "deal_amount": "Deal amount",
           "last_deal_on": "Last deal", "last_followup_at": "Last follow-up",
           "created_at": "Created", "title": "Title", "department": "Department",
           "mobile": "Mobile", "email": "Email", "role": "Role", "occurred_at": "When",
           "method": "Method", "subject": "Subject", "content": "Content",
           "feedback": "Feedback", "next_action": "Next action", "claimed": "Claimed",
           "unclaimed": "Unclaimed (pool)", "contact_name": "Name"},
}
LIST_COLUMNS = ("number", "name", "industry", "status", "level", "owner_name", "contact",
                "phone", "last_followup_at")
RECORD_FIELDS = ("number", "name", "industry", "status", "level", "source", "source_detail",
                 "tags", "size", "address", "region", "owner_name", "contact", "phone",
                 "needs", "budget", "purchase_time", "first_contact_on", "deal_amount",
                 "last_deal_on", "last_followup_at", "created_at")
CONTACT_COLUMNS = ("name", "title", "department", "phone", "mobile", "email")
FOLLOWUP_COLUMNS = ("occurred_at", "method", "subject", "content", "feedback", "next_action")
# PDF column widths in mm (A4: 186 mm between the margins; the list is landscape: 273 mm)
WIDTHS = {LIST_COLUMNS: (34, 60, 25, 22, 12, 28, 28, 30, 34),
          CONTACT_COLUMNS: (28, 28, 28, 30, 30, 42),
          FOLLOWUP_COLUMNS: (26, 14, 30, 66, 25, 25)}


class FontMissing(DomainError):
    status = 503
    default_code = "pdf_font_missing"
    title = "Service unavailable"


# --------------------------------------------------------------------------- values

def _moment(value, tz: ZoneInfo) -> str:
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def cell(customer: dict, name: str, lang: str, tz: ZoneInfo, *, masked: bool = False) -> str:
    """One field of a dumped customer as printed text."""
    contact = customer.get("primary_contact") or {}
    if name == "contact":
        value = contact.get("name")
    elif name == "phone":
        value = contact.get("phone")
        value = mask_phone(value) if masked and value else value
    elif name == "status":
        value = STATUS[lang].get(customer.get("status"), customer.get("status"))
    elif name == "tags":
        value = ("、" if lang == "zh" else ", ").join(customer.get("tags") or [])
    elif name == "owner_name" and customer.get("owner_id") is None and "owner_id" in customer:
        value = TEXT[lang]["unclaimed"]
    elif name in ("deal_amount", "budget") and customer.get(name) is not None:
        value = f"{customer[name]} {customer.get('currency') or 'CNY'}"
    elif name in ("last_followup_at", "created_at"):
        value = _moment(customer.get(name), tz)
    else:
        value = customer.get(name)
    return "" if value is None else str(value)


def _headers(columns: tuple[str, ...], lang: str) -> list[str]:
    text = TEXT[lang]
    if columns is CONTACT_COLUMNS:   # a contact's name is a person's, not the company's
        return [text.get(f"contact_{n}", text[n]) for n in columns]
    return [text[n] for n in columns]


def _row(item: dict, name: str, lang: str, tz: ZoneInfo) -> str:
    if name == "occurred_at":
        return _moment(item.get(name), tz)
    if name == "method":
        return METHODS.get(lang, {}).get(item.get(name), item.get(name) or "")
    value = item.get(name)
    return "" if value is None else str(value)


def list_rows(customers: list[dict], lang: str, tz: ZoneInfo) -> list[list[str]]:
    return [[cell(c, n, lang, tz, masked=True) for n in LIST_COLUMNS] for c in customers]


def record_rows(customer: dict, lang: str, tz: ZoneInfo) -> list[tuple[str, str]]:
    """(label, value) of each field the dump holds (a public view holds fewer)."""
    present = set(customer) | {"contact", "phone"} if customer.get("primary_contact") \
        else set(customer)
    return [(TEXT[lang][name], cell(customer, name, lang, tz)) for name in RECORD_FIELDS
            if name in present]


# --------------------------------------------------------------------------- HTML

CSS = """
@page { size: A4; margin: 15mm 12mm; }
* { box-sizing: border-box; }
body { font-family: "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei",
       "Noto Sans CJK SC", sans-serif; font-size: 10.5pt; color: #111; margin: 0 auto;
       max-width: 190mm; padding: 8mm 0; }
h1 { font-size: 16pt; margin: 0 0 2mm; }
h2 { font-size: 12.5pt; margin: 6mm 0 2mm; border-bottom: 1px solid #999; }
.meta, .note { color: #555; font-size: 9pt; margin: 0 0 3mm; }
table { width: 100%; border-collapse: collapse; }
th, td { border: 1px solid #bbb; padding: 1.5mm 2mm; text-align: left; vertical-align: top;
         word-break: break-word; }
th { background: #f0f0f0; }
thead { display: table-header-group; }
tr { page-break-inside: avoid; break-inside: avoid; }
table.record th { width: 28%; }
@media print { body { padding: 0; } .meta { color: #333; } }
"""


def _e(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _page(title: str, lang: str, body: list[str]) -> str:
    return ("<!doctype html>\n"
            f'<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">'
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
            + "".join(body) + "</body></html>\n")


def _table(headers: list[str], rows: list[list[str]], lang: str) -> str:
    if not rows:
        return f'<p class="note">{_e(TEXT[lang]["none"])}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def list_html(customers: list[dict], total: int, *, truncated: bool, lang: str,
              tz: ZoneInfo, now: datetime) -> str:
    text = TEXT[lang]
    body = [f"<h1>{_e(text['list_title'])}</h1>",
            f'<p class="meta">{_e(text["printed"])}: {_e(_moment(now.isoformat(), tz))} · '
            f'{_e(text["count"].format(total=total, shown=len(customers)))}</p>']
    if truncated:
        cut = text["truncated"].format(total=total, shown=len(customers))
        body.append(f'<p class="note">{_e(cut)}</p>')
    body.append(_table([text[n] for n in LIST_COLUMNS], list_rows(customers, lang, tz), lang))
    return _page(text["list_title"], lang, body)


def customer_html(customer: dict, contacts: list[dict] | None, followups: list[dict] | None,
                  *, lang: str, tz: ZoneInfo, now: datetime) -> str:
    text = TEXT[lang]
    title = f"{text['customer_title']} · {customer.get('name') or ''}"
    body = [f"<h1>{_e(customer.get('name'))}</h1>",
            f'<p class="meta">{_e(customer.get("number"))} · {_e(text["printed"])}: '
            f'{_e(_moment(now.isoformat(), tz))}</p>']
    if contacts is None:
        body.append(f'<p class="note">{_e(text["public"])}</p>')
    rows = "".join(f"<tr><th>{_e(label)}</th><td>{_e(value)}</td></tr>"
                   for label, value in record_rows(customer, lang, tz))
    body.append(f'<table class="record"><tbody>{rows}</tbody></table>')
    if contacts is not None:
        body.append(f"<h2>{_e(text['contacts'])}</h2>")
        body.append(_table(_headers(CONTACT_COLUMNS, lang),
                           [[_row(c, n, lang, tz) for n in CONTACT_COLUMNS] for c in contacts],
                           lang))
        body.append(f"<h2>{_e(text['followups'])}</h2>")
        body.append(_table([text[n] for n in FOLLOWUP_COLUMNS],
                           [[_row(i, n, lang, tz) for n in FOLLOWUP_COLUMNS]
                            for i in followups or []], lang))
        body.append(f'<p class="note">{_e(text["opportunities"])}</p>')
    return _page(title, lang, body)


# --------------------------------------------------------------------------- PDF

_font_lock = threading.Lock()
_font_state: dict = {}


def cjk_font_path() -> str | None:
    """A TrueType (.ttf/.ttc) font with Chinese glyphs that reportlab can embed."""
    candidates = [os.environ.get("CRM_PDF_FONT") or "", *FONT_PATHS]
    if shutil.which("fc-match"):
        for family in FONT_FAMILIES:
            try:
                found = subprocess.run(["fc-match", "-f", "%{file}", family],
                                       capture_output=True, text=True, timeout=5).stdout
            except (OSError, subprocess.SubprocessError):
                continue
            candidates.append(found.strip())
    for path in candidates:
        if path and path.lower().endswith((".ttf", ".ttc")) and os.path.isfile(path) \
                and _embeddable(path):
            return path
    return None


def _embeddable(path: str) -> bool:
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    try:
        font = TTFont(FONT_NAME, path, subfontIndex=0)
    except (TTFError, OSError, ValueError):
        return False
    return ord("中") in font.face.charToGlyph


def pdf_font() -> str:
    """The registered CJK font's name; 503 naming the Debian package when there is none.
    Looked for once per process (and again after a miss, so installing it needs no
    restart)."""
    with _font_lock:
        if "name" in _font_state:
            return _font_state["name"]
        path = cjk_font_path()
        if path is None:
            raise FontMissing(
                f"PDF printing needs a Chinese TrueType font: install the Debian package "
                f"{FONT_PACKAGE} (apt-get install {FONT_PACKAGE}); the HTML print works "
                f"without it. / 生成 PDF 需要中文 TrueType 字体,请安装 Debian 软件包 "
                f"{FONT_PACKAGE};HTML 打印不受影响。", package=FONT_PACKAGE)
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont

        pdfmetrics.registerFont(TTFont(FONT_NAME, path, subfontIndex=0))
        _font_state["name"] = FONT_NAME
        return FONT_NAME


def _styles(font: str):
    from reportlab.lib.styles import ParagraphStyle

    base = ParagraphStyle("crm", fontName=font, fontSize=9, leading=12, wordWrap="CJK")
    return {"body": base,
            "h1": ParagraphStyle("crm-h1", parent=base, fontSize=15, leading=20,
                                 spaceAfter=4),
            "h2": ParagraphStyle("crm-h2", parent=base, fontSize=11.5, leading=16,
                                 spaceBefore=8, spaceAfter=3),
            "meta": ParagraphStyle("crm-meta", parent=base, fontSize=8, leading=11,
                                   textColor="#555555", spaceAfter=4)}


def _p(text: str, style):
    from reportlab.platypus import Paragraph

    return Paragraph(html.escape(text or "").replace("\n", "<br/>"), style)


def _pdf_table(headers: list[str] | None, rows: list[list[str]], styles, widths=None):
    from reportlab.lib import colors
    from reportlab.lib.units import mm
    from reportlab.platypus import Table, TableStyle

    widths = [w * mm for w in widths] if widths else None
    data = ([[_p(h, styles["body"]) for h in headers]] if headers else []) + [
        [_p(v, styles["body"]) for v in row] for row in rows]
    table = Table(data, colWidths=widths, repeatRows=1 if headers else 0)
    commands = [("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#bbbbbb")),
                ("VALIGN", (0, 0), (-1, -1), "TOP")]
    if headers:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f0f0f0")))
    table.setStyle(TableStyle(commands))
    return table


def _document(title: str, story) -> bytes:
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate

    out = io.BytesIO()
    size = landscape(A4) if title == "list" else A4
    SimpleDocTemplate(out, pagesize=size, leftMargin=12 * mm, rightMargin=12 * mm,
                      topMargin=14 * mm, bottomMargin=14 * mm, title=title,
                      author="CRM").build(story)
    return out.getvalue()


def list_pdf(customers: list[dict], total: int, *, truncated: bool, lang: str,
             tz: ZoneInfo, now: datetime) -> bytes:
    styles, text = _styles(pdf_font()), TEXT[lang]
    story = [_p(text["list_title"], styles["h1"]),
             _p(f"{text['printed']}: {_moment(now.isoformat(), tz)} · "
                f"{text['count'].format(total=total, shown=len(customers))}", styles["meta"])]
    if truncated:
        story.append(_p(text["truncated"].format(total=total, shown=len(customers)),
                        styles["meta"]))
    rows = list_rows(customers, lang, tz)
    story.append(_pdf_table([text[n] for n in LIST_COLUMNS], rows, styles,
                            WIDTHS[LIST_COLUMNS]) if rows else _p(text["none"], styles["body"]))
    return _document("list", story)


def customer_pdf(customer: dict, contacts: list[dict] | None, followups: list[dict] | None,
                 *, lang: str, tz: ZoneInfo, now: datetime) -> bytes:
    styles, text = _styles(pdf_font()), TEXT[lang]
    story = [_p(customer.get("name") or "", styles["h1"]),
             _p(f"{customer.get('number') or ''} · {text['printed']}: "
                f"{_moment(now.isoformat(), tz)}", styles["meta"])]
    if contacts is None:
        story.append(_p(text["public"], styles["meta"]))
    story.append(_pdf_table(None, [list(r) for r in record_rows(customer, lang, tz)],
                            styles, widths=(45, 141)))
    if contacts is not None:
        for heading, items, columns in ((text["contacts"], contacts, CONTACT_COLUMNS),
                                        (text["followups"], followups or [],
                                         FOLLOWUP_COLUMNS)):
            story.append(_p(heading, styles["h2"]))
            rows = [[_row(i, n, lang, tz) for n in columns] for i in items]
            story.append(_pdf_table(_headers(columns, lang), rows, styles, WIDTHS[columns])
                         if rows else _p(text["none"], styles["body"]))
        story.append(_p(text["opportunities"], styles["meta"]))
    return _document(customer.get("name") or "customer", story)
