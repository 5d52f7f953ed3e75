"""Supervisors deal pool customers out round-robin; reps share customers with a team in
bulk; managers set targets and read attainment; admins create users who must change
their password at first sign-in."""
from __future__ import annotations

import re
import uuid

from playwright.sync_api import expect

from console_kit import DESKTOP, PHONE, new_customer, team_path, unique
from crm_testing import eventually


def pick_options(page, select, labels):
    """Choose options in a Naive UI (multi) select by their visible labels."""
    for label in labels:
        select.click()
        select.locator("input").fill(label)
        page.locator(".n-base-select-option", has_text=label).first.click()
    page.keyboard.press("Escape")


def test_supervisor_assigns_pool_customers_round_robin(org, tabs):
    team = team_path()
    boss = org.user("supervisor", team=team, region="east")
    reps = [org.user("rep", team=f"{team}/team-1", region="east") for _ in range(2)]
    stem = unique("轮流")
    names = [f"{stem}{suffix}贸易有限公司" for suffix in ("甲", "乙", "丙", "丁")]
    for name in names:
        new_customer(org.admin, name=name, in_pool=True)

    tab = tabs()
    page = tab.page
    tab.login(boss.user["username"])
    tab.goto(f"/customers?scope=pool&q={stem}")
    rows = page.locator("[data-test=customer-table] [data-test=customer-link]")
    expect(rows).to_have_count(4)
    page.locator("[data-test=customer-table] thead .n-checkbox").click()
    expect(page.get_by_text("已选 4 项")).to_be_visible()
    page.click("[data-test=bulk-actions]")
    page.locator(".n-dropdown-option", has_text="轮流分配").click()
    pick_options(page, page.locator("[data-test=bulk-users]"), [r.user["name"] for r in reps])
    page.click("[data-test=bulk-confirm]")
    expect(page.get_by_text("成功 4 个，被拒绝 0 个")).to_be_visible()
    tab.shot("pool-assigned")
    expect(page.locator("[data-test=customer-table]")).to_contain_text(reps[0].user["name"])

    for rep in reps:
        mine = tabs()
        mine.login(rep.user["username"])
        mine.goto(f"/customers?scope=mine&q={stem}")
        expect(mine.page.locator("[data-test=customer-link]")).to_have_count(2)


def test_manager_sets_a_target_and_reads_attainment(org, tab):
    region = f"ui{uuid.uuid4().hex[:5]}"
    manager = org.user("manager", team=region, region=region)
    rep = org.user("rep", team=f"{region}/team-1", region=region)
    customer = new_customer(rep)
    body = {"name": unique("目标测试"), "customer_id": customer["id"], "amount": "50000",
            "expected_close_date": "2027-06-30"}

    def open_opportunity():  # the opportunity service learns of the customer by event
        reply = rep.post("/api/v1/opportunities", json=body)
        return reply.json if reply.status_code == 201 else None

    opp = eventually(open_opportunity, timeout=15, message="the opportunity")
    won = rep.post(f"/api/v1/opportunities/{opp['id']}/win", json={
        "amount": "50000", "contract_number": unique("HT-"), "signed_on": "2026-12-01"})
    assert won.status_code == 200, won

    def rep_row():
        rows = manager.get("/api/v1/reports/performance?group_by=owner&period=month").json["rows"]
        return next((r for r in rows if r["key"] == rep.id and r["won_amount"] == "50000.00"), None)

    period = eventually(rep_row, timeout=15, message="the rep's won deal in performance")["period"]

    page = tab.page
    tab.login(manager.user["username"])
    tab.goto("/reports")
    page.click("[data-test=report-tab-performance]")
    row = page.locator("[data-test=performance-table] tr", has_text=rep.user["name"])
    expect(row).to_contain_text(period)
    row.locator("[data-test=set-target]").click()
    page.fill("[data-test=target-amount]", "200000")
    page.click("[data-test=target-save]")
    expect(row.locator("[data-test=attainment]")).to_have_text("25%")
    expect(row).to_contain_text("¥200,000.00")
    tab.shot("performance")
    # quarters and regions too
    page.click("[data-test=period-quarter]")
    expect(page.locator("[data-test=performance-table]")).to_contain_text(rep.user["name"])
    page.click("[data-test=group-region]")
    expect(page.locator("[data-test=performance-table]")).to_contain_text(region)


def test_admin_creates_a_user_who_must_change_the_password(org, tabs, console_crm):
    from crm_testing import ADMIN_PASSWORD

    admin = tabs()
    page = admin.page
    admin.login("admin", ADMIN_PASSWORD)
    expect(page.locator("[data-test=menu-users]")).to_be_visible()
    admin.goto("/admin/users")
    username = f"ui_{uuid.uuid4().hex[:8]}"
    page.click("[data-test=new-user]")
    page.fill("[data-test=u-username]", username)
    page.fill("[data-test=u-name]", "新同事 New Colleague")
    page.fill("[data-test=u-password]", "Temp#Pass-2026")
    page.fill("[data-test=u-team]", "east/shanghai/team-1")
    page.fill("[data-test=u-region]", "east")
    page.click("[data-test=u-save]")
    expect(page.get_by_text("用户已创建，首次登录须修改密码。")).to_be_visible()
    admin.shot("admin-users")

    newcomer = tabs()
    newcomer.login(username, "Temp#Pass-2026", expect_path="/password")
    p = newcomer.page
    expect(p.locator("[data-test=forced-change]")).to_be_visible()
    p.fill("#old-password", "Temp#Pass-2026")
    p.fill("#new-password", "Fresh#Pass-2027")
    p.fill("#repeat-password", "Fresh#Pass-2027")
    p.click("[data-test=password-submit]")
    expect(p).to_have_url(re.compile(re.escape(console_crm.base_url) + r"/(\?.*)?$"))
    expect(p.locator("[data-test=workbench] h1")).to_contain_text("新同事 New Colleague")
    # a rep sees no administration
    expect(p.locator("[data-test=menu-customers]")).to_be_visible()
    expect(p.locator("[data-test=menu-users]")).to_have_count(0)


def test_rep_bulk_shares_customers_with_a_team(org, tabs):
    """Two customers shared with a team in one go from the list; the team shows on both,
    on their detail pages too (screenshots as the rep and as the manager, 1440 and 375 px)."""
    team = team_path()
    manager = org.user("manager", team=team, region="east")
    rep = org.user("rep", team=f"{team}/team-1", region="east")
    org.user("rep", team=f"{team}/team-2", region="east")  # the team shared with has a member
    target = f"{team}/team-2"
    stem = unique("批量共享")
    customers = [new_customer(rep, name=f"{stem}{suffix}网络科技有限公司") for suffix in ("甲", "乙")]

    tab = tabs()
    page = tab.page
    tab.login(rep.user["username"])
    tab.goto(f"/customers?scope=mine&q={stem}")
    expect(page.locator("[data-test=customer-table] [data-test=customer-link]")).to_have_count(2)
    page.locator("[data-test=customer-table] thead .n-checkbox").click()
    expect(page.get_by_text("已选 2 项")).to_be_visible()
    page.click("[data-test=bulk-actions]")
    page.locator(".n-dropdown-option", has_text="共享").click()
    expect(page.locator("[data-test=share-picker]")).to_contain_text("团队及其下级团队")
    pick_options(page, page.locator("[data-test=pick-team]"), [target])
    page.locator("[data-test=share-picker]").get_by_text("共享给团队").click()  # closes the menu
    expect(page.locator(".n-base-select-menu:visible")).to_have_count(0)
    tab.shot("bulk-share-dialog")
    page.click("[data-test=bulk-confirm]")
    expect(page.get_by_text("成功 2 个，被拒绝 0 个")).to_be_visible()
    for customer in customers:
        shown = rep.get(f"/api/v1/customers/{customer['id']}").json
        assert shown["shared_teams"] == [target], shown

    # team sharing on the detail, as the rep and as the manager, wide and narrow
    shares = f"/customers/{customers[0]['id']}?tab=shares"
    for role, who in (("rep", rep), ("manager", manager)):
        for viewport in (DESKTOP, PHONE):
            viewer = tabs(viewport)
            viewer.login(who.user["username"])
            viewer.goto(shares)
            expect(viewer.page.locator("[data-test=shared-teams]")).to_contain_text(target)
            assert viewer.page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
            viewer.shot(f"team-share-{role}-{viewport['width']}")
