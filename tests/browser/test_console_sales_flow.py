"""A rep claims a pool customer, logs a follow-up, opens an opportunity, drags it through
the stages to won; the workbench, the funnel and customer value show it."""
from __future__ import annotations

import re
from urllib.parse import quote

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


def test_rep_imports_a_sheet_and_reads_the_report(org, tab):
    """The import runs in the background: the page follows it to its report."""
    rep = org.user("rep", team=team_path() + "/team-1", region="east")
    taken = new_customer(rep)
    good = unique("导入客户")
    sheet = ("客户名称,行业,状态,联系人,联系电话\n"
             f"{good},软件,潜在客户,张三,13812345678\n"
             f"{taken['name']},软件,潜在客户,李四,13900001111\n"
             f"{unique('坏行客户')},软件,潜在客户,王五,12345\n").encode("utf-8-sig")
    page = tab.page
    tab.login(rep.user["username"])
    tab.goto("/transfer")
    page.set_input_files("[data-test=import-file]",
                         files=[{"name": "客户.csv", "mimeType": "text/csv", "buffer": sheet}])
    page.click("[data-test=import-send]")
    expect(page.locator("[data-test=import-result]")).to_contain_text("新建 1 个，重复 1 个，错误 1 个")
    expect(page.locator("[data-test=import-rows]")).to_contain_text(taken["name"])
    tab.shot("import-report")
    # back later: the latest imports are listed, and a finished one's report opens again
    tab.goto("/transfer")
    recent = page.locator("[data-test=import-recent]")
    expect(recent).to_contain_text("客户.csv")
    expect(recent).to_contain_text("已完成")
    expect(page.locator("[data-test=import-result]")).to_have_count(0)
    page.locator("[data-test=import-open]").first.click()
    expect(page.locator("[data-test=import-result]")).to_contain_text("新建 1 个，重复 1 个，错误 1 个")
    tab.shot("import-recent")
    runs = rep.get("/api/v1/customers/imports").json["items"]
    assert runs[0]["state"] == "done" and runs[0]["filename"] == "客户.csv"
    mine = rep.get(f"/api/v1/customers?q={quote(good)}").json["items"]
    assert [c["name"] for c in mine] == [good]
