"""The demo data (`crm up --demo` runs crm.demo.load_demo against the started system)
gives the demo users tasks, some due within hours, work in every status, a task pool for
the supervisors, and the opportunity plans in the reps' calendars. Loaded here into the
package's running `crm up` over HTTP, exactly as `--demo` does after start-up."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from crm_testing import ADMIN_PASSWORD, eventually, reports_caught_up


def test_demo_users_have_tasks_some_due_soon(crm, org):
    from crm.demo import load_demo

    people = load_demo(crm.base_url, SimpleNamespace(admin_username="admin",
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
    reports_caught_up(crm.base_url)   # the shared system settles before the next module
