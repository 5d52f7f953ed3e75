"""Field rules of a task shared by create and edit, what a task's free text may not hold
(the one sensitive-data check every service uses), and the times list filters take."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from crmkit.clock import as_utc
from crmkit.errors import Invalid
from crmkit.sensitive import refuse_sensitive

from events.tasks import PRIORITIES, TASK_TYPES
from services.tasks.calendar import local_midnight

MAX_CUSTOMERS_PER_TASK = 50
# The task's free text: what users type, and what the sensitive-data rule reads.
FREE_TEXT_FIELDS = ("title", "description", "result")


def require_valid(values: dict, now: datetime, *, check_due: bool) -> None:
    """The field rules shared by create and edit (the schema checks types first): 422
    naming every field that breaks one."""
    errors: dict[str, list[str]] = {}

    def fail(name, message):
        errors.setdefault(name, []).append(message)

    if values.get("type") not in TASK_TYPES:
        fail("type", f"Must be one of: {', '.join(TASK_TYPES)}.")
    if values.get("priority") not in PRIORITIES:
        fail("priority", f"Must be one of: {', '.join(PRIORITIES)}.")
    title = values.get("title")
    if not isinstance(title, str) or not title.strip():
        fail("title", "A title is required. 请填写任务标题。")
    elif len(title) > 200:
        fail("title", "At most 200 characters.")
    if len(values.get("description") or "") > 5000:
        fail("description", "At most 5000 characters.")
    due_at = values.get("due_at")
    if due_at is None:
        fail("due_at", "A due time is required. 请填写截止时间。")
    elif check_due and as_utc(due_at) <= now:
        fail("due_at", "Must be in the future. 截止时间须晚于当前时间。")
    start_at, end_at = values.get("start_at"), values.get("end_at")
    if end_at is not None and start_at is None:
        fail("start_at", "An end time needs a start time.")
    if start_at is not None and end_at is not None and as_utc(end_at) < as_utc(start_at):
        fail("end_at", "Must not be before start_at. 结束时间不能早于开始时间。")
    customer_ids = values.get("customer_ids") or []
    if len(customer_ids) > MAX_CUSTOMERS_PER_TASK:
        fail("customer_ids", f"At most {MAX_CUSTOMERS_PER_TASK} customers.")
    if len(set(customer_ids)) != len(customer_ids):
        fail("customer_ids", "Each customer only once.")
    if errors:
        raise Invalid(errors)


def refuse_free_text(values: dict) -> None:
    """422 `sensitive_data` naming each free-text field among `values` that holds a PRC
    resident ID or a bank card number (CONTRACT §4's rule, for every service)."""
    refuse_sensitive({name: values[name] for name in FREE_TEXT_FIELDS
                      if isinstance(values.get(name), str)})


def parse_moment(field: str, text: str, tz, *, end_of_day: bool) -> datetime:
    """A date-time with offset, or a date meaning (the end of) that local day."""
    if "T" in text and " " in text:
        text = text.replace(" ", "+")   # an unencoded "+08:00" arrives as " 08:00"
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            if end_of_day:
                day += timedelta(days=1)
            return local_midnight(day, tz)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(field, "A date (YYYY-MM-DD) or a date-time with offset.") from None
    if moment.tzinfo is None:
        raise Invalid(field, "A date-time needs an offset (e.g. +08:00).")
    return as_utc(moment)

