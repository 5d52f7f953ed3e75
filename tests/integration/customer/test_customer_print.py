"""Printing customers through the gateway (seed 004, CONTRACT §10): the list as the
caller's list shows it (page or all), one customer with its contacts and follow-ups, as
print-CSS HTML and as a PDF whose Chinese text reads back; who may print what."""
from __future__ import annotations

import io
import uuid

import pytest

from customer_helpers import CUSTOMERS, cast, create, url

HIDDEN = 404


@pytest.fixture(scope="module")
def people(corg):
    return cast(corg)


MARK = uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def owned(people):
    owner = people["owner"]
    customer = create(owner, name=f"华东精密机电{MARK}有限公司", needs=f"保密需求{MARK}",
                      primary_contact={"name": "王建国", "phone": "13812345678"})
    assert owner.post(url(customer, "/shares"),
                      json={"user_ids": [people["sharee"].id]}).status_code == 200
    assert owner.post(url(customer, "/contacts"), json={
        "name": "李采购", "title": "采购经理", "phone": "13900001111"}).status_code == 201
    assert owner.post(url(customer, "/interactions"), json={
        "occurred_at": "2026-11-20T10:00:00+08:00", "method": "visit",
        "subject": f"上门拜访{MARK}", "content": "<script>alert(1)</script> 介绍方案",
        "next_action": "发送报价"}).status_code == 201
    return customer


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def zh(session, path):
    return session.get(path, headers={"Accept-Language": "zh-CN"})


def test_one_customer_prints_as_html_with_contacts_and_follow_ups(people, owned):
    reply = zh(people["owner"], url(owned, "/print?format=html"))
    assert reply.status_code == 200
    assert reply.headers["Content-Type"].startswith("text/html")
    page = reply.data.decode()
    assert "@media print" in page and "@page" in page
    for text in (owned["name"], owned["number"], "王建国", "13812345678", "李采购",
                 f"上门拜访{MARK}", f"保密需求{MARK}", "发送报价", "联系人", "跟进记录"):
        assert text in page, text
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_one_customer_prints_as_a_pdf_whose_chinese_text_reads_back(people, owned):
    reply = zh(people["owner"], url(owned, "/print?format=pdf"))
    assert reply.status_code == 200, reply
    assert reply.headers["Content-Type"] == "application/pdf"
    assert reply.data.startswith(b"%PDF-")
    assert reply.headers["Content-Disposition"].startswith("inline;")
    text = pdf_text(reply.data)
    for expected in (owned["name"], "王建国", "李采购", f"上门拜访{MARK}", "联系人"):
        assert expected in text, (expected, text[:500])


def test_the_list_prints_what_the_list_shows(people, owned):
    owner = people["owner"]
    other = create(owner, name=f"西部物流{MARK}有限公司")
    listed = owner.get(f"{CUSTOMERS}?q={MARK}").json
    assert {i["id"] for i in listed["items"]} == {owned["id"], other["id"]}
    page = owner.get(f"{CUSTOMERS}/print?format=html&q={MARK}").data.decode()
    assert owned["name"] in page and other["name"] in page
    assert "138****5678" in page and "13812345678" not in page   # masked as in the export
    pdf = zh(owner, f"{CUSTOMERS}/print?format=pdf&q={MARK}")
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    text = pdf_text(pdf.data)
    assert owned["name"] in text and other["name"] in text
    # the current page, or all of them
    first = owner.get(f"{CUSTOMERS}/print?q={MARK}&per_page=1&sort=name").data.decode()
    assert (owned["name"] in first) != (other["name"] in first)
    everything = owner.get(f"{CUSTOMERS}/print?q={MARK}&per_page=1&all=true").data.decode()
    assert owned["name"] in everything and other["name"] in everything


EXPECTED = {"owner": 200, "sharee": 200, "supervisor": 200, "manager": 200, "admin": 200,
            "teammate": HIDDEN, "other_supervisor": HIDDEN, "other_manager": HIDDEN}


@pytest.mark.parametrize("who, expected", sorted(EXPECTED.items()))
def test_the_list_print_holds_what_the_caller_sees(people, owned, who, expected):
    for form in ("html", "pdf"):
        reply = zh(people[who], f"{CUSTOMERS}/print?format={form}&q={MARK}&all=true")
        assert reply.status_code == 200
        text = reply.data.decode() if form == "html" else pdf_text(reply.data)
        if expected == HIDDEN:
            assert MARK not in text, form
        else:
            assert owned["name"] in text, form


@pytest.mark.parametrize("who, expected", sorted(EXPECTED.items()))
def test_one_customer_prints_for_whoever_sees_it(people, owned, who, expected):
    for form in ("html", "pdf"):
        reply = people[who].get(url(owned, f"/print?format={form}"))
        assert reply.status_code == expected, (form, reply)
        if expected == HIDDEN:
            assert reply.headers["Content-Type"].startswith("application/problem+json")
            assert MARK not in reply.data.decode()


def test_a_pool_customer_prints_its_public_view_only(people):
    owner, teammate = people["owner"], people["teammate"]
    pooled = create(owner, in_pool=True, needs=f"池中需求{MARK}",
                    primary_contact={"name": "赵秘密", "phone": "13787654321"})
    for form in ("html", "pdf"):
        reply = teammate.get(url(pooled, f"/print?format={form}"))
        assert reply.status_code == 200
        text = reply.data.decode() if form == "html" else pdf_text(reply.data)
        assert pooled["name"] in text
        for secret in (f"池中需求{MARK}", "赵秘密", "13787654321", "4321"):
            assert secret not in text, secret


def test_bad_print_input_is_422_naming_the_field(people, owned):
    owner = people["owner"]
    for path, field in ((url(owned, "/print?format=docx"), "format"),
                        (f"{CUSTOMERS}/print?format=xml", "format"),
                        (f"{CUSTOMERS}/print?all=maybe", "all"),
                        (f"{CUSTOMERS}/print?status=unknown", "status"),
                        (f"{CUSTOMERS}/print?colour=red", "colour"),
                        (url(owned, "/print?colour=red"), "colour")):
        reply = owner.get(path)
        assert reply.status_code == 422, (path, reply)
        assert field in reply.json["errors"], (path, reply.json)


def test_without_a_cjk_font_the_pdf_is_503_naming_the_package(people, owned, monkeypatch):
    from services.customer import printing

    monkeypatch.setattr(printing, "_font_state", {})
    monkeypatch.setattr(printing, "cjk_font_path", lambda: None)
    reply = people["owner"].get(url(owned, "/print?format=pdf"))
    assert reply.status_code == 503 and reply.json["code"] == "pdf_font_missing"
    assert "fonts-wqy-microhei" in reply.json["detail"]
    assert people["owner"].get(url(owned, "/print?format=html")).status_code == 200
