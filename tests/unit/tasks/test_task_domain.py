"""Task rules: creating, assigning, the status machine, reminders, reactions, inbox."""
from __future__ import annotations

from datetime import timedelta

import pytest

from crmkit.errors import Conflict, Forbidden, Invalid, NotFound
from services.tasks import access
from services.tasks.domain import STATUSES, TRANSITIONS, create_task, deal_round_robin
from services.tasks.notifications import Notification, notification_for
from services.tasks.reminders import Reminder
from services.tasks.repository import scope_filter
from services.tasks.translators import (move_to_new_owner, shelve_for_returned_customer,
                                        task_from_followup_plan,
                                        task_from_opportunity_reminder)
from task_people import EXPECTED_VISIBLE, NOW, PEOPLE, owner_of, sample_tasks

H = timedelta(hours=1)
D = timedelta(days=1)


def make(actor="rep1", *, due=NOW + 2 * D, **kw):
    kw.setdefault("title", "拜访客户,对接技术方案细节")
    kw.setdefault("type", "visit")
    return create_task(PEOPLE[actor], due_at=due, now=NOW, **kw)


def types(task):
    return [e.type for e in task.events]


# ---------------------------------------------------------------- create

def test_new_task_is_the_callers_todo_with_the_default_reminder_two_hours_before():
    task = make(customer_ids=["c1"], priority="high")
    assert task.assignee_id == "rep1"
    assert task.assignee_team == "east/shanghai/team-1"
    assert task.status == "todo" and task.created_by == "rep1"
    assert [(r.kind, r.remind_at) for r in task.reminders] == [
        ("default", NOW + 2 * D - 2 * H)]
    assert types(task) == ["task.created"]
    created = task.events[0].data
    assert created["assignee_id"] == "rep1" and created["customer_ids"] == ["c1"]
    assert task.events[0].region == "east"


def test_due_time_must_be_in_the_future():
    with pytest.raises(Invalid) as err:
        make(due=NOW - H)
    assert "due_at" in err.value.errors
    with pytest.raises(Invalid):
        make(due=NOW)


RESIDENT_ID = "11010519491231002X"      # checksum valid
BANK_CARD = "6222 0202 0011 2233 446"   # Luhn valid, written in groups


@pytest.mark.parametrize("field", ["title", "description"])
@pytest.mark.parametrize("number", [RESIDENT_ID, BANK_CARD])
def test_free_text_holding_an_id_or_bank_card_number_is_refused_naming_the_field(
        field, number):
    with pytest.raises(Invalid) as err:
        make(**{field: f"客户证件 {number}"})
    assert err.value.code == "sensitive_data" and list(err.value.errors) == [field]


def test_an_edit_or_a_result_holding_an_id_number_is_refused_naming_the_field():
    task = make()
    with pytest.raises(Invalid) as err:
        task.edit(PEOPLE["rep1"], {"description": f"身份证 {RESIDENT_ID}"}, now=NOW)
    assert err.value.code == "sensitive_data" and list(err.value.errors) == ["description"]
    task.change_status(PEOPLE["rep1"], "in_progress", now=NOW)
    with pytest.raises(Invalid) as err:
        task.change_status(PEOPLE["rep1"], "done", f"已收款,卡号 {BANK_CARD}", now=NOW)
    assert err.value.code == "sensitive_data" and list(err.value.errors) == ["result"]
    assert task.status == "in_progress" and task.result is None


def test_no_default_reminder_when_the_due_time_is_under_two_hours_away():
    assert make(due=NOW + H).reminders == []


def test_given_reminders_replace_the_default_and_must_be_ahead():
    task = make(reminders=[{"remind_at": NOW + D}, {"remind_at": NOW + 3 * H}])
    assert [r.remind_at for r in task.reminders] == [NOW + 3 * H, NOW + D]
    assert all(r.kind == "custom" for r in task.reminders)
    assert make(reminders=[]).reminders == []
    with pytest.raises(Invalid) as err:
        make(reminders=[{"remind_at": NOW - H}])
    assert "reminders.0.remind_at" in err.value.errors


@pytest.mark.parametrize("field,value", [("type", "party"), ("priority", "urgent"),
                                         ("title", "  ")])
def test_bad_field_values_are_named(field, value):
    with pytest.raises(Invalid) as err:
        make(**{field: value})
    assert field in err.value.errors


def test_end_before_start_is_refused():
    with pytest.raises(Invalid) as err:
        make(start_at=NOW + D, end_at=NOW + D - H)
    assert "end_at" in err.value.errors


def test_a_rep_cannot_put_a_task_in_the_pool_or_give_it_outside_their_team():
    with pytest.raises(Forbidden) as err:
        make("rep1", assignee=None)
    assert err.value.code == "pool_not_allowed"
    with pytest.raises(Forbidden) as err:
        make("rep1", assignee=owner_of("rep3"))      # another team
    assert err.value.code == "assign_not_allowed"
    with pytest.raises(Forbidden) as err:
        make("rep1", assignee=owner_of("rep_west"))
    assert err.value.code == "assign_not_allowed"


def test_a_rep_gives_a_task_to_a_colleague_in_their_own_team():
    task = make("rep1", assignee=owner_of("rep2"))     # same team path
    assert (task.assignee_id, task.created_by) == ("rep2", "rep1")
    mine = make("rep1")
    mine.assign(PEOPLE["rep1"], owner_of("rep2"), now=NOW)
    assert mine.assignee_id == "rep2" and "task.assigned" in types(mine)
    with pytest.raises(Forbidden) as err:
        make("rep1").assign(PEOPLE["rep1"], owner_of("rep3"), now=NOW)
    assert err.value.code == "assign_not_allowed"


def test_a_supervisor_assigns_within_the_team_or_leaves_the_task_in_the_pool():
    task = make("sup1", assignee=owner_of("rep2"))
    assert task.assignee_id == "rep2" and task.created_by == "sup1"
    pooled = make("sup1", assignee=None)
    assert pooled.assignee_id is None and pooled.in_pool and pooled.region == "east"
    with pytest.raises(Forbidden) as err:
        make("sup1", assignee=owner_of("rep3"))      # another team
    assert err.value.code == "assignee_out_of_scope"


# ---------------------------------------------------------------- status machine

ALL_MOVES = [(a, b) for a in STATUSES for b in STATUSES]


def at_status(status):
    task = make(customer_ids=["c1"])
    path = {"todo": [], "in_progress": ["in_progress"], "done": ["in_progress", "done"],
            "shelved": ["shelved"]}[status]
    for step in path:
        task.change_status(PEOPLE["rep1"], step, "ok" if step == "done" else None, now=NOW)
    task.events.clear()
    return task


@pytest.mark.parametrize("src,dst", ALL_MOVES)
def test_status_machine_allows_exactly_the_contract_moves(src, dst):
    task = at_status(src)
    legal = dst in TRANSITIONS[src]
    if legal:
        task.change_status(PEOPLE["rep1"], dst, "客户对方案满意", now=NOW)
        assert task.status == dst
    else:
        with pytest.raises(Conflict) as err:
            task.change_status(PEOPLE["rep1"], dst, "客户对方案满意", now=NOW)
        assert err.value.code == "illegal_transition"
        assert task.status == src and task.events == []


def test_the_contract_moves_are_the_ones_in_the_table():
    legal = {(a, b) for a, b in ALL_MOVES if b in TRANSITIONS[a]}
    assert legal == {("todo", "in_progress"), ("in_progress", "done"), ("todo", "done"),
                     ("todo", "shelved"), ("in_progress", "shelved"), ("shelved", "todo")}


def test_a_todo_task_goes_straight_to_done_with_its_result():
    task = at_status("todo")
    with pytest.raises(Invalid) as err:
        task.change_status(PEOPLE["rep1"], "done", "  ", now=NOW)
    assert "result" in err.value.errors and task.status == "todo"
    task.change_status(PEOPLE["rep1"], "done", "电话沟通完成,客户确认方案", now=NOW + H)
    assert (task.status, task.result, task.completed_at) == (
        "done", "电话沟通完成,客户确认方案", NOW + H)
    assert "task.completed" in types(task)


def test_done_needs_a_result():
    task = at_status("in_progress")
    for empty in (None, "", "   "):
        with pytest.raises(Invalid) as err:
            task.change_status(PEOPLE["rep1"], "done", empty, now=NOW)
        assert "result" in err.value.errors
    assert task.status == "in_progress"


def test_completing_records_the_customers_for_the_customer_service():
    task = at_status("in_progress")
    task.change_status(PEOPLE["rep1"], "done", "约定下周商务谈判", now=NOW + H)
    assert task.completed_at == NOW + H and task.result == "约定下周商务谈判"
    assert types(task) == ["task.status_changed", "task.completed"]
    done = task.events[1].data
    assert done["customer_ids"] == ["c1"] and done["type"] == "visit"
    assert task.events[0].data["from"] == "in_progress"
    assert task.events[0].data["to"] == "done"


def test_unknown_status_is_invalid_not_a_conflict():
    with pytest.raises(Invalid):
        at_status("todo").change_status(PEOPLE["rep1"], "finished", now=NOW)


def test_a_pool_task_cannot_be_started_before_it_is_assigned():
    task = make("sup1", assignee=None)
    with pytest.raises(Conflict) as err:
        task.change_status(PEOPLE["sup1"], "in_progress", now=NOW)
    assert err.value.code == "task_unassigned"


def test_someone_who_cannot_see_the_task_gets_not_found():
    task = make("rep1")
    with pytest.raises(NotFound):
        task.change_status(PEOPLE["rep2"], "in_progress", now=NOW)


# ---------------------------------------------------------------- assign

def test_supervisor_hands_a_pool_task_to_a_rep():
    task = make("sup1", assignee=None)
    task.events.clear()
    task.assign(PEOPLE["sup1"], owner_of("rep2"), now=NOW)
    assert task.assignee_id == "rep2" and task.assignee_team == "east/shanghai/team-1"
    assert types(task) == ["task.assigned"]
    assert task.events[0].data["previous_assignee_id"] is None


def test_assigning_a_closed_or_already_assigned_task_conflicts():
    task = make("sup1", assignee=owner_of("rep2"))
    with pytest.raises(Conflict) as err:
        task.assign(PEOPLE["sup1"], owner_of("rep2"), now=NOW)
    assert err.value.code == "already_assigned"
    task.change_status(PEOPLE["sup1"], "shelved", now=NOW)
    with pytest.raises(Conflict) as err:
        task.assign(PEOPLE["sup1"], owner_of("rep1"), now=NOW)
    assert err.value.code == "task_closed"


def test_a_rep_cannot_reassign_their_task_outside_their_team():
    task = make("rep1")
    with pytest.raises(Forbidden):
        task.assign(PEOPLE["rep1"], owner_of("rep3"), now=NOW)


def test_round_robin_deals_tasks_over_users_in_turn():
    pairs = deal_round_robin(["t1", "t2", "t3", "t4", "t5"], ["u1", "u2"])
    assert pairs == [("t1", "u1"), ("t2", "u2"), ("t3", "u1"), ("t4", "u2"), ("t5", "u1")]
    with pytest.raises(Invalid):
        deal_round_robin(["t1"], [])
    with pytest.raises(Invalid):
        deal_round_robin(["t1"], ["u1", "u1"])


# ---------------------------------------------------------------- visibility

@pytest.mark.parametrize("viewer", sorted(EXPECTED_VISIBLE))
def test_who_sees_which_task(viewer):
    tasks = sample_tasks()
    seen = {name for name, t in tasks.items() if access.can_view(PEOPLE[viewer], t)}
    assert seen == EXPECTED_VISIBLE[viewer]


def test_scope_pool_is_for_supervisors_and_up():
    with pytest.raises(Forbidden):
        scope_filter(PEOPLE["rep1"], "pool")
    assert scope_filter(PEOPLE["admin"], "pool") == {"assignee_id": None}
    with pytest.raises(Invalid):
        scope_filter(PEOPLE["rep1"], "everything")


# ---------------------------------------------------------------- reminders

def test_each_reminder_fires_once_and_records_reminder_due_for_the_assignee():
    task = make("sup1", assignee=owner_of("rep2"),
                reminders=[{"remind_at": NOW + H}, {"remind_at": NOW + 3 * H}])
    task.events.clear()
    assert task.next_remind_at == NOW + H
    assert task.fire_due_reminders(NOW + 30 * timedelta(minutes=1)) == []
    fired = task.fire_due_reminders(NOW + 2 * H)
    assert [r.remind_at for r in fired] == [NOW + H]
    assert task.fire_due_reminders(NOW + 2 * H) == []          # not twice
    assert types(task) == ["reminder.due"]
    due = task.events[0].data
    assert due["user_id"] == "rep2" and due["reminder_id"] == fired[0].id
    assert task.next_remind_at == NOW + 3 * H
    task.fire_due_reminders(NOW + 4 * H)
    assert task.next_remind_at is None and types(task).count("reminder.due") == 2


def test_a_closed_task_fires_no_reminder():
    task = make(reminders=[{"remind_at": NOW + H}])
    task.change_status(PEOPLE["rep1"], "shelved", now=NOW)
    assert task.next_remind_at is None
    assert task.fire_due_reminders(NOW + 2 * H) == []


def test_a_pool_task_reminds_its_creator():
    task = make("sup1", assignee=None, reminders=[{"remind_at": NOW + H}])
    task.events.clear()
    task.fire_due_reminders(NOW + H)
    assert task.events[0].data["user_id"] == "sup1"


def test_moving_the_due_time_moves_the_default_reminder_but_not_custom_ones():
    task = make()
    task.edit(PEOPLE["rep1"], {"due_at": NOW + 3 * D}, now=NOW)
    assert [r.remind_at for r in task.reminders] == [NOW + 3 * D - 2 * H]
    custom = make(reminders=[{"remind_at": NOW + D}])
    custom.edit(PEOPLE["rep1"], {"due_at": NOW + 3 * D}, now=NOW)
    assert [r.remind_at for r in custom.reminders] == [NOW + D]


def test_edit_reports_changes_and_refuses_done_tasks_and_unknown_fields():
    task = make()
    task.events.clear()
    diff = task.edit(PEOPLE["rep1"], {"title": "电话回访", "priority": "low"}, now=NOW)
    assert diff == {"title": ["拜访客户,对接技术方案细节", "电话回访"],
                    "priority": ["medium", "low"]}
    assert types(task) == ["task.updated"]
    with pytest.raises(Invalid) as err:
        task.edit(PEOPLE["rep1"], {"status": "done"}, now=NOW)
    assert err.value.code == "unknown_field"
    with pytest.raises(Invalid):
        task.edit(PEOPLE["rep1"], {"due_at": NOW - H}, now=NOW)
    done = at_status("done")
    with pytest.raises(Conflict):
        done.edit(PEOPLE["rep1"], {"title": "x"}, now=NOW)


# ---------------------------------------------------------------- other services' events

def test_a_followup_plan_lands_in_the_owners_calendar_with_a_reminder_a_day_before():
    start = NOW + 3 * D
    task = task_from_followup_plan(
        plan_id="p1", opportunity_id="o1", customer_id="c1", owner=owner_of("rep1"),
        start_at=start, end_at=start + H, method="online_meeting",
        content="了解客户对系统模块的具体需求", opportunity_name="ERP 采购", now=NOW)
    assert task.assignee_id == "rep1" and task.type == "followup"
    assert (task.start_at, task.end_at, task.due_at) == (start, start + H, start + H)
    assert [(r.kind, r.remind_at) for r in task.reminders] == [("plan", start - D)]
    assert task.customer_ids == ["c1"] and task.opportunity_id == "o1"
    assert task.source["type"] == "followup_plan"
    assert types(task) == ["task.created"]


@pytest.mark.parametrize("method,kind", [("call", "call"), ("visit", "visit")])
def test_plan_methods_become_task_types(method, kind):
    task = task_from_followup_plan(plan_id="p", opportunity_id="o", customer_id=None,
                                   owner=owner_of("rep1"), start_at=NOW + 2 * D, end_at=None,
                                   method=method, content="", now=NOW)
    assert task.type == kind


def test_a_plan_starting_within_a_day_gets_no_reminder_in_the_past():
    task = task_from_followup_plan(plan_id="p", opportunity_id="o", customer_id="c",
                                   owner=owner_of("rep1"), start_at=NOW + 5 * H,
                                   end_at=None, method="call", content="", now=NOW)
    assert task.reminders == []


def test_an_opportunity_reminder_fires_at_its_time():
    task = task_from_opportunity_reminder(
        reminder_key="r1", opportunity_id="o1", customer_id="c1", owner=owner_of("rep1"),
        remind_at=NOW + H, opportunity_name="ERP", now=NOW)
    assert [(r.kind, r.remind_at) for r in task.reminders] == [("opportunity", NOW + H)]
    task.events.clear()
    assert task.fire_due_reminders(NOW + H)
    assert task.events[0].data["user_id"] == "rep1"


def customer_tasks():
    return {
        "open_c1": make("rep1", customer_ids=["c1"]),
        "started_c1": at_status_for("in_progress", ["c1"]),
        "done_c1": at_status_for("done", ["c1"]),
        "internal_c1": make("rep1", customer_ids=["c1"], type="internal"),
        "open_c2": make("rep1", customer_ids=["c2"]),
        "rep2_c1": make("rep2", customer_ids=["c1"]),
    }


def at_status_for(status, customer_ids):
    task = make("rep1", customer_ids=customer_ids)
    for step in {"in_progress": ["in_progress"], "done": ["in_progress", "done"]}[status]:
        task.change_status(PEOPLE["rep1"], step, "ok", now=NOW)
    return task


def test_a_returned_customer_shelves_the_old_owners_open_tasks_for_it():
    tasks = customer_tasks()
    for t in tasks.values():
        t.events.clear()
    changed = shelve_for_returned_customer(tasks.values(), "c1", "rep1", now=NOW)
    assert {n for n, t in tasks.items() if t in changed} == {
        "open_c1", "started_c1", "internal_c1"}
    assert {n: t.status for n, t in tasks.items()} == {
        "open_c1": "shelved", "started_c1": "shelved", "done_c1": "done",
        "internal_c1": "shelved", "open_c2": "todo", "rep2_c1": "todo"}
    event = tasks["open_c1"].events[0]
    assert event.type == "task.status_changed" and event.data["to"] == "shelved"
    assert event.data["reason"] == "customer_returned:c1"


def test_a_new_owner_gets_the_customers_open_followup_tasks():
    tasks = customer_tasks()
    changed = move_to_new_owner(tasks.values(), "c1", "rep1", owner_of("rep3"), now=NOW)
    assert {n for n, t in tasks.items() if t in changed} == {"open_c1", "started_c1"}
    assert tasks["open_c1"].assignee_id == "rep3"
    assert tasks["open_c1"].assignee_team == "east/shanghai/team-2"
    assert tasks["internal_c1"].assignee_id == "rep1"
    assert tasks["done_c1"].assignee_id == "rep1"
    assert tasks["rep2_c1"].assignee_id == "rep2"
    assert tasks["open_c1"].events[-1].type == "task.assigned"


def test_no_previous_owner_means_nothing_moves():
    tasks = customer_tasks()
    assert move_to_new_owner(tasks.values(), "c1", None, owner_of("rep3"), now=NOW) == []


# ---------------------------------------------------------------- inbox

def envelope(event, actor_id, event_id="e1"):
    return {"id": event_id, "type": event.type, "aggregate_id": event.aggregate_id,
            "actor_id": actor_id, "data": event.data}


def test_reminder_due_makes_an_inbox_entry_keyed_by_the_event():
    task = make(reminders=[{"remind_at": NOW + H}])
    task.events.clear()
    task.fire_due_reminders(NOW + H)
    note = notification_for(envelope(task.events[0], None, "ev-9"), now=NOW)
    assert note.id == "ev-9" and note.user_id == "rep1" and note.kind == "reminder"
    assert note.ref == {"type": "task", "id": task.id}
    assert not note.read and "Reminder" in note.title and "任务提醒" in note.title


def test_a_task_given_by_someone_else_makes_an_inbox_entry_but_not_ones_own():
    given = make("sup1", assignee=owner_of("rep2"))
    note = notification_for(envelope(given.events[0], "sup1"), now=NOW)
    assert note.user_id == "rep2" and note.kind == "task_assigned"
    own = make("rep1")
    assert notification_for(envelope(own.events[0], "rep1"), now=NOW) is None
    pooled = make("sup1", assignee=None)
    pooled.events.clear()
    pooled.assign(PEOPLE["sup1"], owner_of("rep1"), now=NOW)
    assert notification_for(envelope(pooled.events[0], "sup1"), now=NOW).user_id == "rep1"
    assert notification_for({"id": "x", "type": "task.completed", "data": {}}) is None


def test_a_reclaim_warning_makes_an_inbox_entry_for_the_customer_owner():
    warning = {"id": "ev-rw", "type": "customer.reclaim_warning", "producer": "customer",
               "data": {"customer_id": "CRM202611230001", "name": "华东精密", "owner_id": "rep1",
                        "due_on": "2026-12-01", "days_left": 3, "rule": "no_followup"}}
    note = notification_for(warning, now=NOW)
    assert (note.id, note.user_id, note.kind) == ("ev-rw", "rep1", "reclaim_warning")
    assert note.ref == {"type": "customer", "id": "CRM202611230001"}
    assert "华东精密" in note.title and "2026-12-01" in note.title and "pool" in note.title
    unowned = {**warning, "data": {**warning["data"], "owner_id": None}}
    assert notification_for(unowned, now=NOW) is None


def test_marking_read_is_idempotent():
    note = Notification(id="n", user_id="u", kind="reminder", title="t",
                        ref={"type": "task", "id": "t"}, created_at=NOW)
    assert note.mark_read(NOW) is True
    assert note.mark_read(NOW + H) is False and note.read_at == NOW


def test_reminder_ids_are_unique():
    assert Reminder(remind_at=NOW).id != Reminder(remind_at=NOW).id


def test_a_plan_that_states_its_reminders_keeps_them():
    start = NOW + 3 * D
    task = task_from_followup_plan(plan_id="p", opportunity_id="o", customer_id="c",
                                   owner=owner_of("rep1"), start_at=start, end_at=None,
                                   method="call", content="", title="电话跟进 Call: ERP",
                                   reminder_times=[start - D, start - D], now=NOW)
    assert [(r.kind, r.remind_at) for r in task.reminders] == [("plan", start - D)]
    assert task.title == "电话跟进 Call: ERP"


# ---------------------------------------------------------------- a follow-up's next action

def test_a_next_action_becomes_a_task_for_the_customer_owner_due_at_six_pm():
    from datetime import date as day
    from zoneinfo import ZoneInfo

    from services.tasks.translators import task_from_next_action
    shanghai = ZoneInfo("Asia/Shanghai")
    task = task_from_next_action(
        task_id="interaction-i1", interaction_id="i1", customer_id="c1",
        owner=owner_of("rep1"), next_action="发送竞品分析报告", due_on=day(2026, 11, 25),
        occurred_at=NOW - H, subject="电话沟通报价", opportunity_id="o1", now=NOW,
        tz=shanghai, event_id="ev-1")
    assert (task.id, task.assignee_id, task.created_by, task.type) == (
        "interaction-i1", "rep1", "rep1", "followup")
    assert task.due_at.astimezone(shanghai).isoformat() == "2026-11-25T18:00:00+08:00"
    assert task.customer_ids == ["c1"] and task.opportunity_id == "o1"
    assert "发送竞品分析报告" in task.title and task.status == "todo"
    assert task.source == {"type": "interaction_next_action", "id": "i1", "event_id": "ev-1"}
    assert [r.remind_at for r in task.reminders] == [task.due_at - 2 * H]
    undated = task_from_next_action(
        interaction_id="i2", customer_id="c1", owner=owner_of("rep1"), next_action="回访",
        due_on=None, occurred_at=NOW, subject=None, opportunity_id=None, now=NOW,
        tz=shanghai)
    # NOW is 10:00 on 11-23 in Shanghai: due the next day at 18:00
    assert undated.due_at.astimezone(shanghai).isoformat() == "2026-11-24T18:00:00+08:00"
    assert types(task) == ["task.created"]
