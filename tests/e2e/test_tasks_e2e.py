"""Tasks as users meet them: `crm up` (separate processes, the real broker), over HTTP.

A supervisor puts work in the task pool and hands it to a rep, who gets an inbox entry,
works it to done with a result; a reminder fires once at its time; the calendar shows
the task on the viewer's own local day; an external calendar subscribes to the .ics
feed with a token that the user can revoke; an opportunity follow-up plan lands in the
rep's calendar with a reminder a day before."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import urlparse

from icalendar import Calendar

from crm_testing import Response, eventually

TASKS = "/api/v1/tasks"


def iso(moment: datetime) -> str:
    return moment.isoformat()


def in_(**delta) -> datetime:
    return datetime.now(timezone.utc) + timedelta(**delta)


def assigned_to_rep(supervisor, rep, **fields):
    def attempt():
        reply = supervisor.post(TASKS, json={"title": "展会客户上门拜访", "type": "visit",
                                             "due_at": iso(in_(days=2)),
                                             "assignee_id": rep.id, **fields})
        # The tasks service learns of new users through user.created on the bus.
        return reply if reply.status_code == 201 else None
    return eventually(attempt, timeout=10, message="rep known to the tasks service").json


def test_pool_assign_inbox_and_done_with_a_result(crm, org):
    supervisor = org.user("supervisor", "east/ningbo")
    rep = org.user("rep", "east/ningbo/team-1")
    outsider = org.user("rep", "east/ningbo/team-2")

    pooled = supervisor.post(TASKS, json={"title": "新线索首次电话沟通", "type": "call",
                                          "due_at": iso(in_(days=1)), "assignee_id": None})
    assert pooled.status_code == 201 and pooled.json["assignee_id"] is None
    tid = pooled.json["id"]
    assert rep.get(f"{TASKS}?scope=pool").status_code == 403
    assert tid in [t["id"] for t in supervisor.get(f"{TASKS}?scope=pool").json["items"]]

    def assign():
        reply = supervisor.post(f"{TASKS}/{tid}/assign", json={"user_id": rep.id})
        return reply if reply.status_code == 200 else None
    assert eventually(assign, timeout=10, message="assigned").json["assignee_id"] == rep.id

    notes = eventually(lambda: rep.get("/api/v1/notifications?unread=true").json["items"],
                       timeout=10, message="the rep's inbox entry")
    assert notes[0]["kind"] == "task_assigned" and notes[0]["ref"]["id"] == tid
    assert rep.post(f"/api/v1/notifications/{notes[0]['id']}/read").json["read"] is True

    assert outsider.get(f"{TASKS}/{tid}").status_code == 404
    # shelved work goes back to the to-do list before anything else
    assert rep.post(f"{TASKS}/{tid}/status", json={"status": "shelved"}).status_code == 200
    bad = rep.post(f"{TASKS}/{tid}/status", json={"status": "done", "result": "x"})
    assert bad.status_code == 409 and bad.json["code"] == "illegal_transition"
    assert rep.post(f"{TASKS}/{tid}/status", json={"status": "todo"}).status_code == 200
    assert rep.post(f"{TASKS}/{tid}/status", json={"status": "in_progress"}).status_code == 200
    missing = rep.post(f"{TASKS}/{tid}/status", json={"status": "done"})
    assert missing.status_code == 422
    assert missing.headers["Content-Type"].startswith("application/problem+json")
    done = rep.post(f"{TASKS}/{tid}/status", json={"status": "done",
                                                   "result": "客户有意向,约下周面谈"})
    assert done.status_code == 200 and done.json["status"] == "done"
    eventually(lambda: supervisor.get("/api/v1/reports/summary").status_code == 200,
               timeout=5, message="reports answer")


def test_a_reminder_fires_once_into_the_inbox(crm, org):
    rep = org.user("rep", "east/ningbo/team-1")
    created = rep.post(TASKS, json={"title": "电话回访:确认报价反馈", "type": "call",
                                    "due_at": iso(in_(hours=1)),
                                    "reminders": [{"remind_at": iso(in_(seconds=2))}]})
    assert created.status_code == 201, created

    def reminders():
        items = rep.get("/api/v1/notifications").json["items"]
        return [n for n in items if n["kind"] == "reminder"]

    [note] = eventually(reminders, timeout=15, message="the reminder in the inbox")
    assert note["ref"]["id"] == created.json["id"]
    eventually(lambda: rep.get(f"{TASKS}/{created.json['id']}").json["reminders"][0]["fired"],
               timeout=5, message="marked fired")
    # a reminder of the same rep due after it fires by a later sweep: a second firing of
    # the first would have shown in the inbox by then
    marker = rep.post(TASKS, json={"title": "marker", "type": "call", "due_at": iso(in_(hours=1)),
                                   "reminders": [{"remind_at": iso(in_(seconds=2))}]})
    assert marker.status_code == 201, marker
    eventually(lambda: marker.json["id"] in [n["ref"]["id"] for n in reminders()],
               message="the later reminder in the inbox")
    assert [n["ref"]["id"] for n in reminders()].count(created.json["id"]) == 1


def test_calendar_in_local_time_and_the_ics_feed(crm, org):
    shanghai = org.user("rep", "east/ningbo/team-1", timezone="Asia/Shanghai")
    berlin = org.user("supervisor", "east/ningbo", timezone="Europe/Berlin")
    day = (datetime.now(timezone.utc) + timedelta(days=2)).date()
    due = datetime(day.year, day.month, day.day, 20, 30, tzinfo=timezone.utc)
    task = assigned_to_rep(berlin, shanghai, due_at=iso(due), title="跨时区电话会议")
    next_day = day + timedelta(days=1)

    def on(session, date, **query):
        extra = "".join(f"&{k}={v}" for k, v in query.items())
        reply = session.get(f"/api/v1/calendar?view=day&date={date}{extra}")
        assert reply.status_code == 200, reply
        return [i["id"] for i in reply.json["items"]]

    assert task["id"] in on(shanghai, next_day) and task["id"] not in on(shanghai, day)
    assert task["id"] in on(berlin, day, user_id=shanghai.id)
    assert task["id"] not in on(berlin, next_day, user_id=shanghai.id)

    issued = shanghai.post("/api/v1/calendar/token")
    assert issued.status_code == 201, issued
    link = urlparse(issued.json["url"])
    feed_path = f"{link.path}?{link.query}"
    anonymous = org.anonymous()
    feed: Response = anonymous.get(feed_path)
    assert feed.status_code == 200 and feed.headers["Content-Type"].startswith("text/calendar")
    events = {str(e["UID"]): e for e in Calendar.from_ical(feed.data).walk("VEVENT")}
    event = events[f"task-{task['id']}@tasks.crm"]
    assert event.decoded("DTSTART") == due and str(event["SUMMARY"]) == "跨时区电话会议"
    assert event.walk("VALARM"), "the default reminder travels as an alarm"
    assert shanghai.delete("/api/v1/calendar/token").status_code == 204
    assert anonymous.get(feed_path).status_code == 404


def test_a_followup_plan_lands_in_the_calendar_with_a_reminder_a_day_before(crm, org):
    rep = org.user("rep", "east/ningbo/team-1")
    customer = rep.post("/api/v1/customers", json={
        "name": "宁波海曙精工机械有限公司", "industry": "制造业", "status": "intent",
        "primary_contact": {"name": "陈经理", "phone": "13712345678"}})
    assert customer.status_code == 201, customer

    def opened():
        reply = rep.post("/api/v1/opportunities", json={
            "name": "精工 MES 项目", "customer_id": customer.json["id"], "amount": "300000",
            "expected_close_date": (datetime.now(timezone.utc) + timedelta(days=60))
            .date().isoformat()})
        return reply if reply.status_code == 201 else None
    opp = eventually(opened, timeout=10, message="opportunity opened").json
    start = in_(days=3).replace(microsecond=0)
    plan = rep.post(f"/api/v1/opportunities/{opp['id']}/followup-plans", json={
        "start_at": iso(start), "end_at": iso(start + timedelta(hours=1)),
        "method": "visit", "content": "上门演示 MES 系统"})
    assert plan.status_code == 201, plan
    [task] = eventually(lambda: rep.get(f"{TASKS}?opportunity_id={opp['id']}").json["items"],
                        timeout=10, message="the plan among the rep's tasks")
    assert task["start_at"].startswith(start.isoformat()[:19])
    assert [r["remind_at"][:19] for r in task["reminders"]] == [
        (start - timedelta(days=1)).isoformat()[:19]]
    local_day = (start + timedelta(hours=8)).date()
    calendar = rep.get(f"/api/v1/calendar?view=week&date={local_day}").json
    assert task["id"] in [i["id"] for i in calendar["items"]]
