"""Browser tests of the web console: `crm up --demo` started once per session as a user
starts it, driven with Playwright through Debian's Chromium (never a downloaded browser).

Every test makes its own users and customers through the API (unique names), fails on any
browser console error or page error, and writes screenshots under $CRM_SCREENSHOTS."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from console_build import in_ci
from crm_testing import ADMIN_PASSWORD, USER_PASSWORD, Org, http_transport
from console_kit import DESKTOP, PHONE  # noqa: F401

CHROMIUM = os.environ.get("CRM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
TIMEOUT_MS = 15_000


def _fail_or_skip(message: str):
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def playwright_api():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _fail_or_skip("playwright is not installed (pip install -e '.[test]')")
    if not os.path.exists(CHROMIUM):
        _fail_or_skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as api:
        yield api


@pytest.fixture(scope="session")
def browser(playwright_api):
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    browser = playwright_api.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def console_crm(demo_crm):
    """The system as a user starts it, with the built console and the demo loaded."""
    return demo_crm


@pytest.fixture(scope="session")
def base_url(console_crm) -> str:
    return console_crm.base_url


@pytest.fixture(scope="session")
def org(console_crm) -> Org:
    return Org(http_transport(console_crm.base_url), "admin", ADMIN_PASSWORD)


class Tab:
    """One browser context + page that records console errors and page errors."""

    def __init__(self, browser, base_url: str, viewport: dict, name: str):
        self.context = browser.new_context(viewport=viewport, locale="zh-CN",
                                           timezone_id="Asia/Shanghai")
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.base_url = base_url
        self.name = name
        self.errors: list[str] = []
        self.allowed: list[re.Pattern] = []
        self.dialogs: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        self.page.on("dialog", self._dialog)

    def _console(self, message):
        if message.type == "error":
            self.errors.append(f"console.error: {message.text} @ {message.location.get('url')}")

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def allow(self, pattern: str):
        """An error this test provokes on purpose (e.g. the 401 of an expired session)."""
        self.allowed.append(re.compile(pattern))

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]

    def goto(self, path: str):
        self.page.goto(self.base_url + path)

    def login(self, username: str, password: str = USER_PASSWORD, *, expect_path: str = "/"):
        from playwright.sync_api import expect

        if "/login" not in self.page.url:
            self.goto("/login")
        self.page.fill("#login-username", username)
        self.page.fill("#login-password", password)
        self.page.click("[data-test=login-submit]")
        expect(self.page).to_have_url(re.compile(re.escape(self.base_url + expect_path) + r"(\?.*)?$"))

    def shot(self, label: str):
        folder = os.environ.get("CRM_SCREENSHOTS")
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            # The desktop shell scrolls inside its content pane, which a full-page shot
            # cuts at the window's height: the window grows to the pane's content for it.
            size = self.page.viewport_size
            tall = self.page.evaluate("""() => Math.max(document.documentElement.scrollHeight,
                ...[...document.querySelectorAll('.n-layout-scroll-container')].map(
                    (pane) => pane.getBoundingClientRect().top + pane.scrollHeight))""")
            if tall > size["height"]:
                self.page.set_viewport_size({"width": size["width"], "height": min(int(tall), 8000)})
            try:
                self.page.screenshot(path=str(Path(folder) / f"{self.name}-{label}.png"), full_page=True)
            finally:
                if tall > size["height"]:
                    self.page.set_viewport_size(size)

    def close(self):
        self.context.close()


@pytest.fixture
def tabs(browser, base_url, request):
    """Open tabs with `tabs(viewport=DESKTOP)`; each is checked for console errors."""
    opened: list[Tab] = []

    def open_tab(viewport: dict = DESKTOP) -> Tab:
        tab = Tab(browser, base_url, viewport, f"{request.node.name}-{len(opened)}")
        opened.append(tab)
        return tab

    yield open_tab
    problems = []
    for tab in opened:
        problems += tab.unexpected_errors()
        problems += [f"unexpected alert(): {d}" for d in tab.dialogs]
        tab.close()
    assert not problems, "browser errors:\n" + "\n".join(problems)


@pytest.fixture
def tab(tabs) -> Tab:
    return tabs()
