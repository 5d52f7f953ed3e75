"""Issue 13 in the console: a quote with a live exact total, a contract with a balanced
payment plan and a payment received, an attachment uploaded and listed, the settings
page's 上下级强制共享 switch saved; screenshots of the new screens at 1440 and 375 px."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from console_kit import DESKTOP, PHONE, new_customer, team_path, unique
from crm_testing import ADMIN_PASSWORD, eventually
from sample_files import attach

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def new_opportunity(session, customer: dict, amount: str = "120000") -> dict:
    body = {"name": unique("合同测试商机"), "customer_id": customer["id"], "amount": amount,
            "expected_close_date": "2027-06-30"}

    def create():  # the opportunity service learns of the customer through events
        reply = session.post("/api/v1/opportunities", json=body)
        return reply.json if reply.status_code == 201 else None

    return eventually(create, timeout=15, message="the opportunity")


def test_quote_contract_plan_and_payment_through_the_ui(org, tab):
    rep = org.user("rep", team=team_path() + "/team-1", region="east")
    customer = new_customer(rep)
    opp = new_opportunity(rep, customer)
    page = tab.page
    tab.login(rep.user["username"])

    # a quote on the opportunity: two lines, the total exact and live
    tab.goto(f"/opportunities/{opp['id']}")
    page.click("[data-test=opp-new-quote]")
    page.fill("[data-test=line-product-0]", "CRM 标准版授权")
    page.fill("[data-test=line-qty-0]", "3")
    page.fill("[data-test=line-price-0]", "19999.99")
    expect(page.locator("[data-test=line-total-0]")).to_have_text("¥59,999.97")
    page.click("[data-test=line-add]")
    page.fill("[data-test=line-product-1]", "实施服务")
    page.fill("[data-test=line-qty-1]", "1")
    page.fill("[data-test=line-price-1]", "66666.67")
    page.fill("[data-test=line-discount-1]", "10")
    expect(page.locator("[data-test=quote-total]")).to_have_text("¥119,999.97")  # 59999.97 + 60000.00
    tab.shot("quote-editor")
    page.click("[data-test=quote-submit]")
    expect(page.locator("[data-test=opp-quotes]")).to_contain_text("¥119,999.97")

    # a contract from the customer's contracts tab
    tab.goto(f"/customers/{customer['id']}?tab=contracts")
    page.click("[data-test=new-contract]")
    page.fill("[data-test=contract-amount]", "120000")
    page.click("[data-test=contract-submit]")
    expect(page.locator("[data-test=contract-detail]")).to_be_visible()
    expect(page.locator("[data-test=kpi-amount]")).to_have_text("¥120,000.00")
    expect(page.locator("[data-test=contract-status]")).to_have_text("草稿")

    # the plan: two installments; the difference shows live until they balance
    page.click("[data-test=inst-add]")
    page.locator("[data-test=inst-due-0] input").fill("2027-01-15")
    page.locator("[data-test=inst-due-0] input").press("Enter")
    page.fill("[data-test=inst-amount-0]", "50000")
    expect(page.locator("[data-test=plan-diff]")).to_contain_text("70,000.00")
    expect(page.locator("[data-test=plan-save]")).to_be_disabled()
    page.click("[data-test=inst-add]")
    page.locator("[data-test=inst-due-1] input").fill("2027-04-15")
    page.locator("[data-test=inst-due-1] input").press("Enter")
    expect(page.locator("[data-test=inst-amount-1]")).to_have_value("70000.00")
    expect(page.locator("[data-test=plan-diff]")).to_contain_text("一致")
    page.click("[data-test=plan-save]")
    expect(page.get_by_text("回款计划已保存")).to_be_visible()
    expect(page.locator("[data-test=plan-save]")).to_have_count(0)

    # activate, then record a payment: received and receivable follow
    page.click("[data-test=contract-status-action]")
    page.locator(".n-dropdown-option", has_text="生效").click()
    expect(page.locator("[data-test=contract-status]")).to_have_text("执行中")
    page.fill("[data-test=pay-amount]", "50000")
    page.click("[data-test=pay-submit]")
    expect(page.locator("[data-test=kpi-received]")).to_have_text("¥50,000.00")
    expect(page.locator("[data-test=kpi-receivable]")).to_have_text("¥70,000.00")
    expect(page.locator("[data-test=payment-list]")).to_contain_text("银行转账")
    tab.shot("contract-detail")

    # the lists and the receivables ageing show it
    tab.goto("/contracts")
    expect(page.locator("[data-test=contracts]")).to_contain_text(customer["name"])
    tab.shot("contracts")
    tab.goto("/quotes")
    expect(page.locator("[data-test=quotes]")).to_contain_text("¥119,999.97")
    tab.shot("quotes")
    tab.goto("/receivables")
    expect(page.locator("[data-test=receivables]")).to_contain_text(customer["name"])
    tab.shot("receivables")


def test_attachment_uploaded_listed_and_deleted(org, tab):
    rep = org.user("rep", team=team_path() + "/team-1", region="east")
    customer = new_customer(rep)
    page = tab.page
    tab.login(rep.user["username"])
    tab.goto(f"/customers/{customer['id']}?tab=attachments")
    name = unique("报价单") + ".pdf"
    page.set_input_files("[data-test=attachment-input]",
                         files=[{"name": name, "mimeType": "application/pdf", "buffer": PDF}])
    expect(page.locator("[data-test=attachment-list]")).to_contain_text(name)
    tab.shot("attachments")

    # over 10 MB: refused in the browser, nothing sent
    page.eval_on_selector("[data-test=attachment-input]", """input => {
        const files = new DataTransfer()
        files.items.add(new File([new Uint8Array(10 * 1024 * 1024 + 1)], 'big.pdf', { type: 'application/pdf' }))
        input.files = files.files
        input.dispatchEvent(new Event('change'))
    }""")
    expect(page.get_by_text("“big.pdf”超过 10 MB")).to_be_visible()
    expect(page.locator("[data-test=attachment-list] li")).to_have_count(1)

    page.click("[data-test=attachment-delete]")
    page.locator(".n-dialog .n-button--warning-type, .n-dialog .n-button--primary-type").last.click()
    expect(page.locator("[data-test=attachment-list] li")).to_have_count(0)
    listed = rep.get(f"/api/v1/customers/{customer['id']}/attachments").json
    assert (listed["items"] if isinstance(listed, dict) else listed) == []


def test_settings_page_saves_the_sharing_switch(org, tabs):
    before = org.admin.get("/api/v1/settings").json
    tab = tabs()
    page = tab.page
    try:
        tab.login("admin", ADMIN_PASSWORD)
        tab.goto("/admin/settings")
        switch = page.locator("[data-test=settings-superiors]")
        expect(switch).to_have_attribute("aria-checked", "true" if before["superiors_see_subordinates"] else "false")
        switch.click()
        page.click("[data-test=settings-save]")
        expect(page.get_by_text("已保存")).to_be_visible()
        wanted = not before["superiors_see_subordinates"]
        assert org.admin.get("/api/v1/settings").json["superiors_see_subordinates"] is wanted
        page.reload()
        expect(page.locator("[data-test=settings-superiors]")).to_have_attribute("aria-checked", "true" if wanted else "false")
        tab.shot("settings")
        phone = tabs(PHONE)
        phone.login("admin", ADMIN_PASSWORD)
        phone.goto("/admin/settings")
        expect(phone.page.locator("[data-test=dict-industry]")).to_be_visible()
        assert phone.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        phone.shot("settings-375")
    finally:
        reply = org.admin.put("/api/v1/settings", json={
            "superiors_see_subordinates": before["superiors_see_subordinates"],
            "dictionary": before["dictionary"]})
        assert reply.status_code == 200, reply


def test_new_screens_as_rep_and_manager_at_1440_and_375(org, tabs):
    """Issue 13's screens with data in them, seen by the rep who owns it and by the
    manager above, at 1440 and 375 px: no page wider than the window (wide tables scroll
    inside it), every screen screenshotted."""
    region = unique("ui")  # a manager sees a region: theirs alone keeps the lists short
    manager = org.user("manager", team=region, region=region)
    rep = org.user("rep", team=f"{region}/team-1", region=region)
    customer = new_customer(rep)
    opp = new_opportunity(rep, customer)

    def make_quote():  # the contracts service learns of the opportunity through events
        reply = rep.post("/api/v1/quotes", json={"opportunity_id": opp["id"], "lines": [
            {"product": "CRM 标准版授权", "quantity": "3", "unit_price": "12000"}]})
        return reply.json if reply.status_code == 201 else None

    eventually(make_quote, timeout=15, message="the quote")

    def make_contract():
        reply = rep.post("/api/v1/contracts", json={"customer_id": customer["id"], "opportunity_id": opp["id"],
                                                    "amount": "36000", "signed_on": "2026-11-01"})
        return reply.json if reply.status_code == 201 else None

    contract = eventually(make_contract, timeout=15, message="the contract")
    path = f"/api/v1/contracts/{contract['id']}"
    for method, suffix, body in (
            ("PUT", "/plan", {"installments": [{"due_on": "2026-11-15", "amount": "12000"},
                                               {"due_on": "2027-03-15", "amount": "24000"}]}),
            ("POST", "/status", {"status": "active"}),
            ("POST", "/payments", {"received_on": "2026-11-20", "amount": "10000", "method": "bank_transfer",
                                   "reference": "电汇 20261120-0001"}),
            ("POST", "/costs", {"incurred_on": "2026-11-05", "amount": "1280.50", "category": "travel",
                                "notes": "上海客户现场演示差旅"})):
        reply = rep.request(method, path + suffix, json_body=body)
        assert reply.status_code in (200, 201), (suffix, reply)
    task = rep.post("/api/v1/tasks", json={"title": unique("寄送合同原件"),
                                            "due_at": "2027-01-10T02:00:00+00:00"})
    assert task.status_code == 201, task
    for parent in (f"/api/v1/customers/{customer['id']}", f"/api/v1/opportunities/{opp['id']}",
                   f"/api/v1/tasks/{task.json['id']}", path):
        assert attach(rep, parent, PDF, "合同扫描件（盖章版）.pdf").status_code == 201

    # (path, what marks the screen, text it shows once its data is in)
    attached = "合同扫描件"
    screens = ((f"/contracts/{contract['id']}", "payment-list", "10,000.00"),
               ("/contracts", "contracts", customer["name"]), ("/quotes", "quotes", customer["name"]),
               ("/receivables", "receivables", customer["name"]),
               (f"/customers/{customer['id']}?tab=attachments", "attachment-list", attached),
               (f"/opportunities/{opp['id']}", "attachment-list", attached),
               (f"/print/customers/{customer['id']}", "print-one", opp["name"]),
               ("/print/customers?scope=mine", "print-list", customer["name"]),
               ("/print/customers?scope=team", "print-list", customer["name"]))
    for role, who in (("rep", rep), ("manager", manager)):
        for viewport in (DESKTOP, PHONE):
            tab = tabs(viewport)
            page = tab.page
            tab.login(who.user["username"])
            for url, marker, text in screens:
                if "scope=" in url and (url.endswith("team") != (role == "manager")):
                    continue  # the print list: a rep prints theirs, a manager the team's
                tab.goto(url)
                expect(page.locator(f"[data-test={marker}]")).to_contain_text(text)
                if marker == "receivables":  # with the money reports under the ageing
                    expect(page.locator("[data-test=amount-vs-collected]")).to_contain_text("¥10,000.00")
                    expect(page.locator("[data-test=collections-by-month] canvas")).to_be_visible()
                expect(page.locator(".n-data-table--loading, .n-data-table .n-base-loading")).to_have_count(0)
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= viewport["width"], (url, width)
                tab.shot(f"{role}-{viewport['width']}-" + (re.sub(r"\W+", "-", url.strip("/"))[:40] or "root"))
            tab.goto("/tasks")
            if role == "manager":
                page.click("[data-test=task-tab-team]")
            page.locator("[data-test=task-open]", has_text=task.json["title"]).click()
            expect(page.locator("[data-test=task-attachments]")).to_contain_text("合同扫描件")
            tab.shot(f"{role}-{viewport['width']}-task-attachments")
