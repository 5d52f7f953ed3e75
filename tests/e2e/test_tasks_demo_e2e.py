"""The demo data of `crm up --demo` (the session's demo system, shared with the browser
tests) gives the demo users tasks, some due within hours, work in every status, a task
pool for the supervisors, and the opportunity plans in the reps' calendars."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from crm_testing import ADMIN_PASSWORD, eventually


def test_demo_users_have_tasks_some_due_soon(demo_crm):
    from crm.demo import load_demo

    # on a system that has the demo, load_demo only signs its users in
    people = load_demo(demo_crm.base_url, SimpleNamespace(admin_username="admin",
                                                          admin_password=ADMIN_PASSWORD))
    sun = people["by_username"]["sun.rep"]
    supervisor = people["by_username"]["qian.super"]
    tasks = sun.get("/api/v1/tasks?scope=mine&per_page=100").json["items"]
    statuses = {t["status"] for t in tasks}
    assert {"todo", "in_progress", "done", "shelved"} <= statuses
    soon = datetime.now(timezone.utc) + timedelta(hours=6)
    assert any(datetime.fromisoformat(t["due_at"]) < soon and t["status"] == "todo"
               for t in tasks), "some demo tasks are due within hours"
    assert any(t["reminders"] for t in tasks)
    assert supervisor.get("/api/v1/tasks?scope=pool").json["total"] >= 3
    week = sun.get("/api/v1/calendar?view=week").json["items"]
    assert week, "the demo week is not empty"
    # The opportunity demo's follow-up plans arrive through events.
    eventually(lambda: any((t.get("source") or {}).get("type") == "followup_plan"
                           for t in sun.get("/api/v1/tasks?per_page=100").json["items"]),
               timeout=15, message="a follow-up plan in sun.rep's tasks")
