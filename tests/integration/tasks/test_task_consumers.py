"""Consumers and use cases over an in-process database (FerretDB): idempotent by event
id, reminders fired once, calendar tokens revocable. No broker, no server."""
from __future__ import annotations

from datetime import timedelta

import pytest

from crmkit.bus.outbox import pending_envelopes
from crmkit.directory import UserDirectory
from crmkit.errors import Conflict, Invalid, NotFound, PreconditionFailed
import event_data
from services.tasks import schemas  # noqa: F401  (registers the event schemas)
from services.tasks.consumers import TaskReactions
from services.tasks.handlers import TaskHandlers
from services.tasks.repository import Repositories
from people import person
from task_people import NOW, PEOPLE, Clock
from crm_testing import fresh_database

H = timedelta(hours=1)
D = timedelta(days=1)


@pytest.fixture
def world():
    db = fresh_database("tasks")
    clock = Clock()
    directory = UserDirectory(db)
    service = TaskHandlers(Repositories(db), directory, clock=clock)
    for someone in PEOPLE.values():
        db["users"].insert_one({"_id": someone.user_id, "name": someone.name,
                                "team": someone.team, "region": someone.region,
                                "role": someone.role, "timezone": someone.timezone,
                                "active": True})
    return service, TaskReactions(service), clock, db


def envelope(event_type, data, *, aggregate_id="agg", **given):
    """An event as its producer sends it (`data` completed and checked against its
    schema: `event_data.envelope`), at the test's NOW."""
    return event_data.envelope(event_type, data, aggregate_id=aggregate_id, occurred_at=NOW,
                               **given)


def outbox_types(db, collection="tasks"):
    return [e["type"] for d in db[collection].find() for e in pending_envelopes(d)]


def test_a_redelivered_followup_plan_makes_one_task(world):
    service, consumers, _, db = world
    plan = envelope("opportunity.followup_planned", {
        "opportunity_id": "o1", "customer_id": "c1", "owner_id": "rep1",
        "owner_team": "east/shanghai/team-1", "owner_region": "east", "name": "ERP",
        "plan_id": "p1", "start_at": (NOW + 3 * D).isoformat(),
        "end_at": (NOW + 3 * D + H).isoformat(), "method": "call", "content": "电话",
        "assignee_id": "rep1", "title": "跟进计划 Follow-up: ERP",
        "reminders": [{"remind_at": (NOW + 2 * D).isoformat()}]})
    consumers.on_followup_planned(plan)
    consumers.on_followup_planned(plan)
    consumers.on_followup_planned({**plan, "id": "another-delivery-of-the-same-plan"})
    tasks, total = service.list(PEOPLE["rep1"], {"page": 1, "per_page": 20})
    assert total == 1 and tasks[0].source["id"] == "p1"
    assert [r.remind_at for r in tasks[0].reminders] == [NOW + 2 * D]
    assert outbox_types(db) == ["task.created"]


def known_customer(consumers, customer_id, owner="rep1"):
    """The customer as the tasks service hears of it (a task may link it for its owner)."""
    person = PEOPLE[owner]
    consumers.on_customer_event(envelope("customer.created", {
        "customer_id": customer_id, "owner_id": owner, "owner_team": person.team,
        "owner_region": person.region, "region": person.region, "shared_with": []},
        aggregate_id=customer_id))


def test_returned_customer_event_applies_once(world):
    service, consumers, clock, db = world
    known_customer(consumers, "c1")
    task = service.create(PEOPLE["rep1"], {"title": "拜访", "type": "visit",
                                           "due_at": NOW + D, "customer_ids": ["c1"]})
    returned = envelope("customer.returned", {"customer_id": "c1", "owner_id": None,
                                              "previous_owner_id": "rep1"},
                        aggregate_id="c1")
    consumers.on_customer_event(returned)
    consumers.on_customer_event(returned)
    assert service.get(PEOPLE["rep1"], task.id).status == "shelved"
    assert outbox_types(db).count("task.status_changed") == 1


def test_an_assigned_customer_takes_its_previous_owners_open_work_along(world):
    service, consumers, _, _ = world
    known_customer(consumers, "c2")
    task = service.create(PEOPLE["rep1"], {"title": "拜访", "type": "visit",
                                           "due_at": NOW + D, "customer_ids": ["c2"]})
    consumers.on_customer_event(envelope("customer.assigned", {
        "customer_id": "c2", "owner_id": "rep3", "owner_team": "east/shanghai/team-2",
        "owner_region": "east", "previous_owner_id": "rep1"}))
    moved = service.get(PEOPLE["admin"], task.id)
    assert moved.assignee_id == "rep3" and moved.assignee_team == "east/shanghai/team-2"


def test_links_follow_what_customer_and_opportunity_events_said(world):
    service, consumers, _, _ = world

    def links(person, **fields):
        try:
            service.create(PEOPLE[person], {"title": "t", "due_at": NOW + D, **fields})
            return True
        except Invalid as refused:
            assert refused.code in ("unknown_customer", "unknown_opportunity")
            return False

    def customer_event(event_type, version, owner, shared_with, **extra):
        consumers.on_customer_event(envelope(event_type, {
            "customer_id": "c5", "owner_id": owner, "owner_team": None,
            "owner_region": None, "region": "east", "shared_with": shared_with,
            "version": version, **extra}, aggregate_id="c5"))

    assert not links("rep1", customer_ids=["c5"])           # not heard of yet
    customer_event("customer.created", 1, "rep1", [])
    assert [links(p, customer_ids=["c5"]) for p in ("rep1", "rep3", "sup1", "mgr_west")] \
        == [True, False, True, False]
    customer_event("customer.shared", 3, "rep1", ["rep3"], user_ids=["rep3"])
    customer_event("customer.updated", 2, "rep1", [], changes={})   # older, arrives late
    assert links("rep3", customer_ids=["c5"])
    consumers.on_opportunity_event(envelope("opportunity.created", {
        "opportunity_id": "o5", "customer_id": "c5", "owner_id": "rep1",
        "owner_team": "east/shanghai/team-1", "owner_region": "east", "region": "east",
        "version": 1}, aggregate_id="o5"))
    assert [links(p, opportunity_id="o5") for p in ("rep1", "rep3", "rep2")] \
        == [True, True, False]                    # rep3 through the customer's sharing
    customer_event("customer.returned", 4, None, [], previous_owner_id="rep1")
    assert [links(p, customer_ids=["c5"]) for p in ("rep1", "rep3", "sup1", "sup_west")] \
        == [False, False, True, False]
    customer_event("customer.deleted", 5, None, [])
    assert not links("admin", customer_ids=["c5"])


def test_own_events_make_inbox_entries_once(world):
    service, consumers, _, _ = world
    given = envelope("task.created", {"task_id": "t1", "title": "新任务",
                                      "assignee_id": "rep2", "created_by": "sup1"},
                     producer="tasks")
    consumers.on_own_event(given)
    consumers.on_own_event(given)
    notes, total = service.notifications(PEOPLE["rep2"], unread=True, page=1, per_page=20)
    assert total == 1 and notes[0].kind == "task_assigned"
    foreign = envelope("task.created", {"task_id": "t2", "assignee_id": "rep2",
                                        "created_by": "sup1"}, producer="someone-else")
    consumers.on_own_event(foreign)
    assert service.notifications(PEOPLE["rep2"], unread=None, page=1, per_page=20)[1] == 1


def test_sweep_fires_due_reminders_once_and_leaves_later_ones(world):
    service, _, clock, db = world
    service.create(PEOPLE["rep1"], {"title": "a", "due_at": NOW + D,
                                    "reminders": [{"remind_at": NOW + H},
                                                  {"remind_at": NOW + 5 * H}]})
    clock.now = NOW + 2 * H
    assert service.fire_due_reminders() == 1
    assert service.fire_due_reminders() == 0
    clock.now = NOW + 6 * H
    assert service.fire_due_reminders() == 1
    assert outbox_types(db, "reminder_firings").count("reminder.due") == 2


def test_a_stale_version_is_refused_and_a_lost_race_retried(world):
    service, _, _, db = world
    task = service.create(PEOPLE["rep1"], {"title": "a", "due_at": NOW + D})
    with pytest.raises(PreconditionFailed):
        service.change_status(PEOPLE["rep1"], task.id, "in_progress", expected_version=7)
    # Someone else writes between our read and our write: we reload and redo.
    real_save, raced = service.repo.save, []

    def racing_save(t, loaded_version, envelopes, *, seen_event=None):
        if not raced:
            raced.append(1)
            db["tasks"].update_one({"_id": t.id}, {"$inc": {"version": 1}})
        return real_save(t, loaded_version, envelopes, seen_event=seen_event)

    service.repo.save = racing_save
    moved = service.change_status(PEOPLE["rep1"], task.id, "in_progress")
    assert moved.status == "in_progress" and moved.version == 3


def test_assigning_to_an_unknown_or_inactive_user_is_invalid(world):
    service, _, _, db = world
    task = service.create(PEOPLE["sup1"], {"title": "a", "due_at": NOW + D,
                                           "assignee_id": None})
    with pytest.raises(Invalid) as err:
        service.assign(PEOPLE["sup1"], task.id, "ghost")
    assert err.value.code == "unknown_user"
    db["users"].update_one({"_id": "rep2"}, {"$set": {"active": False}})
    with pytest.raises(Invalid) as err:
        service.assign(PEOPLE["sup1"], task.id, "rep2")
    assert err.value.code == "user_inactive"
    service.assign(PEOPLE["sup1"], task.id, "rep1")
    with pytest.raises(Conflict):
        service.assign(PEOPLE["sup1"], task.id, "rep1")


def test_calendar_token_revocation(world):
    service, _, _, _ = world
    service.create(PEOPLE["rep1"], {"title": "a", "due_at": NOW + D})
    first = service.new_calendar_token(PEOPLE["rep1"])
    assert b"BEGIN:VCALENDAR" in service.feed(first)
    second = service.new_calendar_token(PEOPLE["rep1"])
    with pytest.raises(NotFound):
        service.feed(first)
    assert service.revoke_calendar_token(PEOPLE["rep1"]) is True
    with pytest.raises(NotFound):
        service.feed(second)


def test_the_feed_needs_a_user_the_directory_knows_as_active(world):
    service, _, _, db = world
    stranger = person("stranger", "rep", "east/shanghai/team-1")   # no user.* event yet
    service.create(stranger, {"title": "a", "due_at": NOW + D})
    with pytest.raises(NotFound) as unknown:
        service.feed(service.new_calendar_token(stranger))
    assert unknown.value.code == "invalid_calendar_token"
    token = service.new_calendar_token(PEOPLE["rep1"])
    assert b"BEGIN:VCALENDAR" in service.feed(token)
    db["users"].update_one({"_id": "rep1"}, {"$set": {"active": False}})
    with pytest.raises(NotFound):
        service.feed(token)


def test_calendar_for_another_user_needs_rank_over_them(world):
    service, _, _, _ = world
    with pytest.raises(NotFound):
        service.calendar(PEOPLE["rep2"], view="week", day=None, user_id="rep1")
    found = service.calendar(PEOPLE["sup1"], view="week", day=None, user_id="rep1")
    assert found["timezone"] == "Asia/Shanghai" and found["items"] == []


def test_a_user_moving_team_carries_their_tasks_visibility_along(world):
    service, _, _, _ = world
    task = service.create(PEOPLE["rep1"], {"title": "a", "due_at": NOW + D})
    assert service.get(PEOPLE["sup1"], task.id)
    service.on_user_changed("rep1", {"team": "east/shanghai/team-2", "region": "east"})
    with pytest.raises(NotFound):
        service.get(PEOPLE["sup1"], task.id)
    moved = service.get(PEOPLE["rep1"], task.id)
    assert moved.assignee_team == "east/shanghai/team-2" and moved.creator_team == \
        "east/shanghai/team-2"
    assert moved.version > task.version      # a save from before the move must reload


def test_due_before_accepts_a_date_or_an_offset_time_even_unencoded(world):
    service, _, _, _ = world
    soon = service.create(PEOPLE["rep1"], {"title": "soon", "due_at": NOW + H})
    service.create(PEOPLE["rep1"], {"title": "later", "due_at": NOW + 5 * D})
    query = {"page": 1, "per_page": 20}
    for value in ((NOW + D).isoformat().replace("+", " "), "2026-11-24"):
        tasks, _ = service.list(PEOPLE["rep1"], {**query, "due_before": value})
        assert [t.id for t in tasks] == [soon.id], value
    with pytest.raises(Invalid):
        service.list(PEOPLE["rep1"], {**query, "due_before": "tomorrow"})
