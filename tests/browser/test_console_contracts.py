"""Issue 13 in the console: a quote with a live exact total, a contract with a balanced
payment plan and a payment received, an attachment uploaded and listed, the settings
page's 上下级强制共享 switch saved; screenshots of the new screens at 1440 and 375 px."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from console_kit import PHONE, new_customer, team_path, unique
from crm_testing import ADMIN_PASSWORD, eventually

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


def test_settings_page_saves_the_sharing_switch(org, tab):
    before = org.admin.get("/api/v1/settings").json
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
    finally:
        reply = org.admin.put("/api/v1/settings", json={
            "superiors_see_subordinates": before["superiors_see_subordinates"],
            "dictionary": before["dictionary"]})
        assert reply.status_code == 200, reply


def test_new_screens_at_375px(org, tabs):
    rep = org.user("rep", team=team_path() + "/team-1", region="east")
    customer = new_customer(rep)

    def make_contract():  # the contracts service learns of the customer through events
        reply = rep.post("/api/v1/contracts", json={"customer_id": customer["id"],
                                                    "amount": "36000", "signed_on": "2026-11-01"})
        return reply.json if reply.status_code == 201 else None

    contract = eventually(make_contract, timeout=15, message="the contract")
    tab = tabs(PHONE)
    page = tab.page
    tab.login(rep.user["username"])
    for path, marker in ((f"/contracts/{contract['id']}", "contract-detail"), ("/contracts", "contracts"),
                         ("/quotes", "quotes"), ("/receivables", "receivables"),
                         (f"/print/customers/{customer['id']}", "print-one"),
                         ("/print/customers?scope=mine", "print-list")):
        tab.goto(path)
        expect(page.locator(f"[data-test={marker}]")).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375 + 1 or marker.startswith("print") or marker == "receivables", (path, width)
        tab.shot(re.sub(r"\W+", "-", path.strip("/"))[:40] or "root")
