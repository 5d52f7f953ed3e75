"""Calendar views in each viewer's own time zone, and the token-authenticated .ics feed."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlparse

from icalendar import Calendar

from crm_testing import eventually
from tasks_helpers import TEAM1, TEAM2, iso, known_to_tasks

API = "/api/v1"


def ids(reply):
    assert reply.status_code == 200, reply
    return [item["id"] for item in reply.json["items"]]


def test_shanghai_and_berlin_see_one_task_on_their_own_local_days(system, org, settings):
    rep = org.user("rep", TEAM1, timezone="Asia/Shanghai")
    sup = org.user("supervisor", TEAM1, timezone="Europe/Berlin")
    known_to_tasks(settings, rep, sup)
    # 20:00 UTC: 04:00 next day in Shanghai, 21:00 the same day in Berlin (winter time).
    day = (datetime.now(timezone.utc) + timedelta(days=3)).date()
    due = datetime(day.year, day.month, day.day, 20, 0, tzinfo=timezone.utc)
    created = sup.post(f"{API}/tasks", json={"title": "跨时区拜访", "type": "visit",
                                             "due_at": iso(due), "assignee_id": rep.id})
    assert created.status_code == 201, created
    tid = created.json["id"]
    next_day = day + timedelta(days=1)

    sh_next = rep.get(f"{API}/calendar?view=day&date={next_day}")
    assert ids(sh_next) == [tid]
    assert sh_next.json["items"][0]["days"] == [next_day.isoformat()]
    assert sh_next.json["timezone"] == "Asia/Shanghai"
    assert ids(rep.get(f"{API}/calendar?view=day&date={day}")) == []

    be_same = sup.get(f"{API}/calendar?view=day&date={day}&user_id={rep.id}")
    assert ids(be_same) == [tid]
    assert be_same.json["items"][0]["days"] == [day.isoformat()]
    assert be_same.json["timezone"] == "Europe/Berlin"
    assert ids(sup.get(f"{API}/calendar?view=day&date={next_day}&user_id={rep.id}")) == []

    week = rep.get(f"{API}/calendar?view=week&date={next_day}").json
    assert tid in [i["id"] for i in week["items"]]
    assert datetime.fromisoformat(week["from"]).weekday() == 0
    month = rep.get(f"{API}/calendar?view=month&date={next_day}").json
    assert tid in [i["id"] for i in month["items"]] and month["from"].endswith("-01")


def test_calendar_of_someone_outside_ones_team_is_not_found(system, org, settings):
    rep, other = org.user("rep", TEAM1), org.user("rep", TEAM2)
    known_to_tasks(settings, rep, other)
    assert other.get(f"{API}/calendar?view=week&user_id={rep.id}").status_code == 404
    assert rep.get(f"{API}/calendar?view=year").status_code == 422
    assert rep.get(f"{API}/calendar?view=day&date=2026-13-01").status_code == 422
    assert rep.get(f"{API}/calendar").status_code == 200     # default: this week


def test_ics_feed_is_valid_rfc5545_behind_a_revocable_token(system, org, settings):
    rep = org.user("rep")
    known_to_tasks(settings, rep)   # the feed is only for users the service knows active
    due = datetime.now(timezone.utc) + timedelta(days=2)
    task = rep.post(f"{API}/tasks", json={"title": "方案发送", "type": "proposal",
                                          "due_at": iso(due)}).json
    anonymous = org.anonymous()
    assert anonymous.get(f"{API}/calendar.ics?token=nothing").status_code == 404
    assert anonymous.get(f"{API}/calendar.ics").status_code == 422
    assert anonymous.post(f"{API}/calendar/token").status_code == 401

    issued = rep.post(f"{API}/calendar/token")
    assert issued.status_code == 201, issued
    token = issued.json["token"]
    url = urlparse(issued.json["url"])
    assert url.path == f"{API}/calendar.ics" and parse_qs(url.query)["token"] == [token]

    feed = anonymous.get(f"{API}/calendar.ics?token={token}")
    assert feed.status_code == 200
    assert feed.headers["Content-Type"].startswith("text/calendar")
    cal = Calendar.from_ical(feed.data)
    [event] = cal.walk("VEVENT")
    assert str(event["UID"]) == f"task-{task['id']}@tasks.crm"
    assert str(event["SUMMARY"]) == "方案发送"
    assert abs(event.decoded("DTSTART") - due) < timedelta(seconds=1)
    assert event.decoded("DTSTAMP")
    [alarm] = event.walk("VALARM")
    assert alarm.decoded("TRIGGER") == -timedelta(hours=2)

    renewed = rep.post(f"{API}/calendar/token").json["token"]
    assert anonymous.get(f"{API}/calendar.ics?token={token}").status_code == 404
    assert anonymous.get(f"{API}/calendar.ics?token={renewed}").status_code == 200
    assert rep.delete(f"{API}/calendar/token").status_code == 204
    assert anonymous.get(f"{API}/calendar.ics?token={renewed}").status_code == 404


def test_the_feed_of_a_deactivated_user_stops(system, org, settings):
    rep = org.user("rep")
    known_to_tasks(settings, rep)
    rep.post(f"{API}/tasks", json={"title": "客户拜访", "type": "visit",
                                   "due_at": iso(datetime.now(timezone.utc)
                                                 + timedelta(days=1))})
    token = rep.post(f"{API}/calendar/token").json["token"]
    anonymous = org.anonymous()
    assert anonymous.get(f"{API}/calendar.ics?token={token}").status_code == 200

    off = org.admin.patch(f"/api/v1/users/{rep.id}", json={"active": False})
    assert off.status_code == 200, off
    eventually(lambda: anonymous.get(f"{API}/calendar.ics?token={token}").status_code == 404,
               timeout=10, message="the deactivated user's feed refused")
    refused = anonymous.get(f"{API}/calendar.ics?token={token}")
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    assert refused.json["code"] == "invalid_calendar_token"
    assert "客户拜访" not in refused.data.decode()
