"""A rep claims a pool customer, logs a follow-up, opens an opportunity, drags it through
the stages to won; the workbench, the funnel and customer value show it."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from console_kit import closes, new_customer, team_path, unique
from crm_testing import eventually

STAGES = ["needs_analysis", "proposal", "negotiation", "contract"]


def test_rep_claims_follows_up_and_wins(org, tab):
    rep = org.user("rep", team=team_path() + "/team-1", region="east")
    customer = new_customer(org.admin, in_pool=True)
    page = tab.page
    tab.login(rep.user["username"])
    tab.shot("workbench-empty")

    # the pool: public view, then claim
    tab.goto(f"/customers?scope=pool&q={customer['number']}")
    page.get_by_role("link", name=customer["name"]).click()
    expect(page.locator("[data-test=public-view]")).to_be_visible()
    page.click("[data-test=act-claim]")
    expect(page.locator("[data-test=customer-owner]")).to_have_text(rep.user["name"])
    expect(page.locator("[data-test=public-view]")).to_have_count(0)

    # a follow-up
    subject = unique("电话沟通需求")
    page.fill("[data-test=fu-subject]", subject)
    page.fill("[data-test=fu-content]", "客户希望下周看演示")
    page.click("[data-test=fu-submit]")
    expect(page.locator("[data-test=timeline]")).to_contain_text(subject)
    expect(page.locator("[data-test=last-followup]")).not_to_have_text("—")
    tab.shot("customer-detail")

    # an opportunity on it
    page.click("[data-test=detail-tab-opportunities]")
    page.click("[data-test=new-opp]")
    name = unique("数据平台项目")
    page.fill("[data-test=opp-name]", name)
    page.fill("[data-test=opp-amount]", "88000")
    page.locator("[data-test=opp-form] .n-date-picker input").fill("2027-03-31")
    page.locator("[data-test=opp-form] .n-date-picker input").press("Enter")
    page.click("[data-test=opp-submit]")
    expect(page.locator("[data-test=opportunity-detail] h1")).to_have_text(name)
    opp_id = page.url.rsplit("/", 1)[1]

    # the board: drag through every stage (each asks for its note), then to won
    tab.goto("/opportunities?view=board&scope=mine")
    card = page.locator(f"[data-opp='{opp_id}']")
    expect(page.locator("[data-stage=lead]").locator(f"[data-opp='{opp_id}']")).to_be_visible()
    for stage in STAGES:
        card.drag_to(page.locator(f"section[data-stage={stage}]"), source_position={"x": 4, "y": 4})
        dialog = page.locator("[data-test=stage-dialog]")
        expect(dialog).to_be_visible()
        page.fill("[data-test=stage-note]", f"推进到 {stage}")
        page.click("[data-test=stage-submit]")
        closes(dialog)
        expect(page.locator(f"section[data-stage={stage}]").locator(f"[data-opp='{opp_id}']")).to_be_visible()
    tab.shot("kanban")
    card.drag_to(page.locator("section[data-stage=won]"), source_position={"x": 4, "y": 4})
    page.fill("[data-test=win-contract]", unique("HT-"))
    expect(page.locator("[data-test=win-amount]")).to_have_value("88000.00")
    page.click("[data-test=stage-submit]")
    expect(page.locator(f"[data-opp='{opp_id}']")).to_have_count(0)

    # the detail shows the whole stage history
    tab.goto(f"/opportunities/{opp_id}")
    expect(page.locator("[data-test=opp-status]")).to_have_text("赢单")
    expect(page.locator("[data-test=stage-history]")).to_contain_text("推进到 contract")

    # reports are built from events: wait for them, then look
    eventually(lambda: rep.get("/api/v1/reports/summary").json["won_amount"] == "88000.00",
               timeout=15, message="the won amount in the summary")
    tab.goto("/")
    expect(page.locator("[data-test=kpi-won]")).to_have_text("¥88,000.00")
    tab.shot("workbench")
    tab.goto("/reports")
    expect(page.locator("[data-test=funnel-won]")).to_have_text(re.compile(r"^1 · ¥88,000\.00$"))
    expect(page.locator("[data-test=funnel-win-rate]")).to_have_text("100%")
    expect(page.locator("[data-test=funnel-table]")).to_contain_text("需求分析")
    tab.shot("reports-funnel")

    # customer value: the server's page of the rep's customers, with their number
    page.click("[data-test=report-tab-value]")
    expect(page.locator("[data-test=value-total]")).to_contain_text("共 1 位成交客户")
    expect(page.locator("[data-test=value-table]")).to_contain_text(customer["name"])
    expect(page.locator("[data-test=value-table]")).to_contain_text("¥88,000.00")
    expect(page.locator("[data-test=value-pages]")).to_be_visible()
    tab.shot("reports-value")
