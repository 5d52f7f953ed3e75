"""Language switch, the 375 px customer list, user text rendered as text, session expiry
and sign-out, the inbox badge, and a tour of every main screen (screenshots)."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from console_kit import PHONE, new_customer, team_path, unique
from crm_testing import ADMIN_PASSWORD, eventually

RAW_KEY = re.compile(r"\b(app|menu|login|workbench|customer|opp|task|calendar|report|admin|errors)\.[a-zA-Z_]+\.?[a-zA-Z_]*\b")


def test_language_switch_zh_en(org, tab):
    rep = org.user("rep", team=team_path() + "/team-1", region="east")
    page = tab.page
    tab.login(rep.user["username"])
    menu = page.locator("[data-test=menu-customers]")
    expect(menu).to_have_text("客户")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    page.click("[data-test=lang-switch]")
    expect(menu).to_have_text("Customers")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    for path, marker in (("/", "[data-test=workbench]"), ("/customers", "[data-test=customer-table]"),
                         ("/opportunities", "[data-test=kanban]"), ("/tasks", "[data-test=tasks]"),
                         ("/reports", "[data-test=funnel-table]")):
        tab.goto(path)
        expect(page.locator(marker)).to_be_visible()
        expect(page.locator("[data-test=menu-opportunities]")).to_have_text("Opportunities")
        text = page.locator("body").inner_text()
        assert not RAW_KEY.search(text), RAW_KEY.search(text).group(0)
    tab.shot("english-reports")
    page.click("[data-test=lang-switch]")
    expect(menu).to_have_text("客户")
    expect(page.locator("[data-test=report-tab-funnel]")).to_have_text("销售漏斗")


def test_customer_list_at_375px(org, tabs):
    rep = org.user("rep", team=team_path() + "/team-1", region="east")
    stem = unique("手机")
    for i in range(3):
        new_customer(rep, name=f"{stem}{'甲乙丙'[i]}很长很长的名字的网络科技发展有限公司")
    tab = tabs(viewport=PHONE)
    page = tab.page
    tab.login(rep.user["username"])
    tab.goto(f"/customers?scope=mine&q={stem}")
    cards = page.locator("[data-test=customer-card]")
    expect(cards).to_have_count(3)
    expect(page.locator("[data-test=customer-table]")).to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    tab.shot("customers-375")
    page.click("[data-test=menu-toggle]")
    expect(page.locator(".n-drawer [data-test=menu-tasks]")).to_be_visible()
    page.locator(".n-drawer [data-test=menu-tasks]").click()
    expect(page.locator("[data-test=tasks]")).to_be_visible()
    expect(page.locator(".n-drawer")).to_have_count(0)
    # the form and the detail fit too
    tab.goto("/customers/new")
    expect(page.locator("[data-test=f-name]")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375


def test_user_text_is_rendered_as_text(org, tab):
    rep = org.user("rep", team=team_path() + "/team-1", region="east")
    tag = unique("x")
    name = f"<img src=x onerror=alert(1)>{tag}"
    customer = new_customer(rep, name=name)
    page = tab.page
    tab.login(rep.user["username"])
    tab.goto(f"/customers?scope=mine&q={tag}")
    link = page.locator("[data-test=customer-link]")
    expect(link).to_have_text(name)
    link.click()
    expect(page.locator("[data-test=customer-name]")).to_have_text(name)
    assert page.locator("img[src=x]").count() == 0
    page.fill("[data-test=fu-subject]", "<script>alert(2)</script>")
    page.fill("[data-test=fu-content]", "<b onmouseover=alert(3)>bold?</b>")
    page.click("[data-test=fu-submit]")
    expect(page.locator("[data-test=timeline]")).to_contain_text("<b onmouseover=alert(3)>bold?</b>")
    assert page.locator("[data-test=timeline] b").count() == 0
    tab.goto(f"/print/customers/{customer['id']}")
    expect(page.locator("[data-test=print-one] h2")).to_have_text(name)
    # the fixture fails the test on any alert()


def test_expired_session_returns_to_sign_in_and_back(org, tab, base_url):
    rep = org.user("rep", team=team_path() + "/team-1", region="east")
    page = tab.page
    tab.login(rep.user["username"])
    tab.goto("/tasks")
    expect(page.locator("[data-test=tasks]")).to_be_visible()
    token = page.evaluate("sessionStorage.getItem('crm.session')")
    assert token and token.count(".") == 2  # a JWT, kept for this tab only
    assert page.evaluate("Object.keys(localStorage).join(',')") in ("", "crm.locale")
    assert token not in page.url
    # the session expires (the server no longer accepts the token)
    tab.allow(r"status of 401")
    page.evaluate("sessionStorage.setItem('crm.session', 'expired.token.value')")
    tab.goto("/calendar?x=1")
    expect(page).to_have_url(re.compile(r"/login\?redirect=(%2F|/)calendar(%3F|\?)x(%3D|=)1"))
    expect(page.locator("[data-test=login-notice]")).to_be_visible()
    tab.login(rep.user["username"], expect_path="/calendar")
    expect(page.locator("[data-test=calendar]")).to_be_visible()
    # sign out
    page.click("[data-test=user-menu]")
    page.click("[data-test=sign-out]")
    expect(page).to_have_url(re.compile(r"/login"))
    assert page.evaluate("sessionStorage.getItem('crm.session')") is None
    tab.goto("/customers")
    expect(page).to_have_url(re.compile(r"/login\?redirect=(%2F|/)customers"))


def test_inbox_badge_updates_by_itself(org, tab):
    team = team_path()
    boss = org.user("supervisor", team=team, region="east")
    rep = org.user("rep", team=f"{team}/team-1", region="east")
    page = tab.page
    tab.login(rep.user["username"])
    badge = page.locator("[data-test=inbox-badge] .n-badge-sup")
    expect(page.locator("[data-test=workbench]")).to_be_visible()
    before = page.locator("[data-test=inbox-badge] .n-badge-sup").count()
    assert before == 0  # a new user has an empty inbox
    from datetime import datetime, timedelta, timezone
    due = (datetime.now(timezone.utc) + timedelta(days=2)).isoformat()
    made = boss.post("/api/v1/tasks", json={"title": unique("主管派的任务"), "due_at": due,
                                             "assignee_id": rep.id})
    assert made.status_code == 201, made
    expect(badge).to_have_attribute("title", "1", timeout=30_000)
    page.click("[data-test=inbox]")
    expect(page.locator(".n-popover")).to_contain_text("主管派的任务")


def test_tour_of_every_screen(org, tab):
    """Each main screen renders for an admin without a browser error (screenshots)."""
    rep = org.user("rep", team=team_path() + "/team-1", region="east")
    customer = new_customer(rep)

    def open_opportunity():
        reply = rep.post("/api/v1/opportunities", json={
            "name": unique("巡检机会"), "customer_id": customer["id"], "amount": "1000",
            "expected_close_date": "2027-01-31"})
        return reply.json if reply.status_code == 201 else None

    opp = eventually(open_opportunity, timeout=15, message="the opportunity")
    page = tab.page
    tab.login("admin", ADMIN_PASSWORD)
    screens = [
        ("/", "[data-test=workbench]"), ("/customers?scope=team", "[data-test=customer-table]"),
        ("/customers?scope=pool", "[data-test=customer-table]"), ("/customers/new", "[data-test=customer-form]"),
        (f"/customers/{customer['id']}", "[data-test=customer-name]"),
        (f"/customers/{customer['id']}/edit", "[data-test=f-name]"),
        ("/opportunities", "[data-test=kanban]"), ("/opportunities?view=list", "[data-test=opportunities] table"),
        (f"/opportunities/{opp['id']}", "[data-test=opportunity-detail] h1"), ("/tasks", "[data-test=tasks] table"),
        ("/calendar", "[data-test=calendar]"), ("/reports", "[data-test=funnel-table]"),
        ("/transfer", "[data-test=transfer]"), ("/admin/users", "[data-test=admin-users] table"),
        ("/admin/pool-rules", "[data-test=admin-pool-rules] form"),
        ("/admin/pipeline", "[data-test=admin-pipeline] input"),
        ("/admin/dead-letters", "[data-test=admin-dead-letters] table"),
        ("/print/customers?scope=mine", "[data-test=print-list] table"),
        ("/quotes", "[data-test=quotes]"), ("/contracts", "[data-test=contracts]"),
        ("/receivables", "[data-test=receivables]"), ("/admin/settings", "[data-test=settings-superiors]"),
        (f"/print/customers/{customer['id']}", "[data-test=print-one] table"),
    ]
    for path, marker in screens:
        tab.goto(path)
        expect(page.locator(marker).first).to_be_visible()
        tab.shot(re.sub(r"[^a-z0-9]+", "-", path.split("?")[0]).strip("-") or "workbench")
    expect(page.locator("[data-test=customer-name]")).to_have_count(0)
    for name in ("performance", "activity", "forecast", "value", "winloss"):
        tab.goto("/reports")
        page.click(f"[data-test=report-tab-{name}]")
        expect(page.locator("[data-test=reports] canvas, [data-test=reports] table").first).to_be_visible()
        tab.shot(f"reports-{name}")
    # a customer named in the detail's history tab: old -> new per field
    tab.goto(f"/customers/{customer['id']}")
    page.click("[data-test=detail-tab-history]")
    expect(page.locator("[data-test=history]")).to_contain_text("创建")


def test_keyboard_only(org, tab):
    """Sign in, switch a tab and open a customer with the keyboard alone."""
    rep = org.user("rep", team=team_path() + "/team-1", region="east")
    customer = new_customer(rep)
    page = tab.page
    tab.goto("/login")
    page.focus("#login-username")
    page.keyboard.type(rep.user["username"])
    page.keyboard.press("Tab")
    page.keyboard.type("Sales#Pass-2026")
    page.keyboard.press("Enter")
    expect(page.locator("[data-test=workbench]")).to_be_visible()
    tab.goto(f"/customers?q={customer['number']}")
    expect(page.locator("[data-test=customer-link]")).to_have_count(1)

    def tab_to(selector: str, limit: int = 60) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate("(s) => document.activeElement?.matches(s) ?? false", selector):
                return
        raise AssertionError(f"Tab never reached {selector}")

    tab_to("[data-test=tab-shared]:not([tabindex='-1']), [data-test=tab-mine]")
    page.keyboard.press("ArrowRight")
    expect(page.locator("[data-test=tab-shared]")).to_have_attribute("aria-selected", "true")
    page.keyboard.press("ArrowLeft")
    expect(page.locator("[data-test=tab-mine]")).to_have_attribute("aria-selected", "true")
    expect(page.locator("[data-test=customer-link]")).to_have_count(1)
    tab_to("[data-test=customer-link]")
    page.keyboard.press("Enter")
    expect(page.locator("[data-test=customer-name]")).to_have_text(customer["name"])
