"""What the browser tests share besides fixtures: viewports and API-made test data.
(A module of its own: `from conftest import ...` would find another folder's conftest.)"""
from __future__ import annotations

import uuid

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 375, "height": 812}


def unique(stem: str) -> str:
    return f"{stem}{uuid.uuid4().hex[:8]}"


def team_path() -> str:
    return f"east/ui-{uuid.uuid4().hex[:6]}"


def new_customer(session, *, name: str | None = None, in_pool: bool = False, **extra) -> dict:
    body = {"name": name or unique("浏览器测试") + "科技有限公司", "industry": "软件",
            "status": "potential", "primary_contact": {"name": "王经理", "phone": "13812345678"},
            **extra}
    if in_pool:
        body["in_pool"] = True
    reply = session.post("/api/v1/customers", json=body)
    assert reply.status_code == 201, reply
    return reply.json


def closes(dialog) -> None:
    """Waits for a dialog to close once submitted; if it stays open, fails with what it
    shows (an error from the API, a field's message) rather than with its count only."""
    from playwright.sync_api import expect

    try:
        expect(dialog).to_have_count(0)
    except AssertionError as error:
        raise AssertionError(f"the dialog stayed open: {dialog.inner_text()!r}") from error
