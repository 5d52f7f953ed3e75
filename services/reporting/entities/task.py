"""Tasks in the read models, from task.* events (events.tasks: every one carries the
task's snapshot)."""
from __future__ import annotations

from services.reporting import periods
from services.reporting.counters import NO_BUCKET, NOW, PERF, Vector, add, segment_of
from services.reporting.entities.state import set_field
from services.reporting.fields import as_date, local_day

EVENTS = frozenset({"task.created", "task.assigned", "task.status_changed",
                    "task.completed", "task.updated"})
OPEN_STATUSES = ("todo", "in_progress")


def entity_id(data: dict) -> str:
    return data["task_id"]


def apply(state: dict, envelope: dict, key: str, tz) -> None:
    data = envelope["data"]
    set_field(state, "assignee_id", data["assignee_id"], key)
    set_field(state, "assignee_team", data.get("assignee_team"), key)
    set_field(state, "assignee_region", data.get("assignee_region"), key)
    # the region whose task pool holds it while unassigned (CONTRACT §3: supervisors and
    # up of that region only; without it the task counted in every region's pool)
    set_field(state, "region", data.get("region"), key)
    set_field(state, "status", data["status"], key)
    if envelope["type"] == "task.created":
        set_field(state, "created", True, key)
    if data["status"] == "done":
        set_field(state, "completed_on", local_day(data.get("completed_at"), tz), key)


def contributions(state: dict, pipeline: dict) -> Vector:
    f = state["f"]
    vec: Vector = {}
    segment_ = segment(state)
    status = f.get("status") or "todo"
    if status in OPEN_STATUSES:
        add(vec, NOW, segment_, [NO_BUCKET], "tasks_open")
    day = as_date(f.get("completed_on"))
    if status == "done" and day:
        add(vec, PERF, segment_, periods.period_buckets(day), "tasks_done")
    return vec


def segment(state: dict) -> str:
    return segment_of(state["f"].get("assignee_id"), state["f"].get("region"))


def hint(state: dict) -> dict:
    return {"team": state["f"].get("assignee_team"),
            "region": state["f"].get("assignee_region")}
