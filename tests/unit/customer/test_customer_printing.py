"""The print views (services.customer.printing) without servers: what they render of
a dumped customer, escaping, masking, the public view, and the CJK font rule."""
from __future__ import annotations

import io
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from services.customer import printing

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)
FULL = {"id": "CRM202611230001", "number": "CRM202611230001", "name": "上海华东精密机电有限公司",
        "industry": "制造业", "status": "intent", "level": "A", "tags": ["重点", "华东"],
        "owner_id": "u1", "owner_name": "张三", "needs": "<b>产线改造</b>",
        "primary_contact": {"name": "王建国", "phone": "13812345678"},
        "deal_amount": "12000.50", "currency": "CNY",
        "created_at": "2026-11-20T02:00:00+00:00", "last_followup_at": None}
PUBLIC = {k: FULL[k] for k in ("id", "number", "name", "industry", "status", "level",
                               "tags", "owner_name")} | {"owner_id": None}
CONTACTS = [{"name": "李采购", "title": "采购经理", "phone": "13900001111"}]
FOLLOWUPS = [{"occurred_at": "2026-11-20T02:00:00+00:00", "method": "visit",
              "subject": "上门拜访", "content": "介绍方案", "next_action": "发送报价"}]


def test_one_customer_html_escapes_and_shows_local_times():
    page = printing.customer_html(FULL, CONTACTS, FOLLOWUPS, lang="zh", tz=TZ, now=NOW)
    assert "&lt;b&gt;产线改造&lt;/b&gt;" in page and "<b>" not in page
    assert "2026-11-20 10:00" in page and "意向客户" in page and "重点、华东" in page
    assert "13812345678" in page and "李采购" in page and "拜访" in page
    assert "12000.50 CNY" in page and "@media print" in page


def test_the_public_view_prints_what_it_holds_only():
    page = printing.customer_html(PUBLIC, None, None, lang="en", tz=TZ, now=NOW)
    assert "only its public view is printed" in page and "Unclaimed (pool)" in page
    assert "Contacts" not in page and "Phone" not in page and "Needs" not in page


def test_the_list_masks_phones_and_says_when_it_was_cut():
    page = printing.list_html([FULL], 900, truncated=True, lang="zh", tz=TZ, now=NOW)
    assert "138****5678" in page and "13812345678" not in page
    assert "共 900 个" in page or "900" in page
    assert "仅打印前 1 个" in page


@pytest.mark.skipif(printing.cjk_font_path() is None, reason="needs fonts-wqy-microhei")
def test_the_pdf_embeds_a_font_whose_chinese_reads_back():
    from pypdf import PdfReader

    data = printing.customer_pdf(FULL, CONTACTS, FOLLOWUPS, lang="zh", tz=TZ, now=NOW)
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    assert "上海华东精密机电有限公司" in text and "李采购" in text
    listed = printing.list_pdf([FULL], 1, truncated=False, lang="zh", tz=TZ, now=NOW)
    assert "上海华东精密机电有限公司" in "".join(
        p.extract_text() for p in PdfReader(io.BytesIO(listed)).pages)


def test_without_a_font_the_pdf_is_503_naming_the_package(monkeypatch):
    monkeypatch.setattr(printing, "_font_state", {})
    monkeypatch.setattr(printing, "cjk_font_path", lambda: None)
    with pytest.raises(printing.FontMissing) as caught:
        printing.customer_pdf(FULL, None, None, lang="zh", tz=TZ, now=NOW)
    assert caught.value.status == 503 and caught.value.code == "pdf_font_missing"
    assert "fonts-wqy-microhei" in caught.value.detail


def test_only_embeddable_truetype_fonts_with_chinese_count(tmp_path, monkeypatch):
    monkeypatch.setattr(printing, "FONT_PATHS", ())
    monkeypatch.setattr(printing, "FONT_FAMILIES", ())
    cff = tmp_path / "cff.otf"
    cff.write_bytes(b"OTTO" + b"\0" * 100)
    monkeypatch.setenv("CRM_PDF_FONT", str(cff))
    assert printing.cjk_font_path() is None
    latin = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    monkeypatch.setenv("CRM_PDF_FONT", latin)
    assert printing.cjk_font_path() is None
