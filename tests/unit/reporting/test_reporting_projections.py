"""Projections: events -> entity state -> counters; duplicates and disorder."""
from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta, timezone

from services.reporting import reports
from services.reporting.memstore import MemoryStore
from services.reporting.counters import FUNNEL, NOW, PERF, diff
from services.reporting.entities.state import new_state
from services.reporting.projections import Projector, apply_event, contributions
from reporting_world import SHANGHAI, TODAY, identity, project


def counters(store: MemoryStore) -> dict:
    """Every non-empty counter, comparable across stores."""
    return {(kind, seg, bucket): dict(fields)
            for (kind, seg), buckets in store.counters.items()
            for bucket, fields in buckets.items() if fields}


def all_reports(store: MemoryStore, viewer) -> dict:
    return {
        "summary": reports.summary(store, viewer),
        "funnel": reports.funnel(store, viewer),
        "performance": reports.performance(store, viewer, period="year", today=TODAY),
        "activity": reports.activity(store, viewer, period="quarter", today=TODAY),
        "forecast": reports.forecast(store, viewer),
        "win_loss": reports.win_loss(store, viewer),
        "abc": reports.customer_value(store, viewer, model="abc", as_of=TODAY),
        "rfm": reports.customer_value(store, viewer, model="rfm", as_of=TODAY),
    }


def a_busy_history(ev):
    """A small organisation's month: users, customers, opportunities, tasks, follow-ups."""
    events = [ev.user(u) for u in ("rep1", "rep2", "rep3", "rep4", "admin")]
    events += [ev.customer("c1", "rep1"), ev.customer("c2", "rep2"), ev.customer("c3", None)]
    events += [ev.opportunity("o1", "rep1", "1000.10", customer="c1"),
               ev.opportunity("o2", "rep1", "2500.00", customer="c1"),
               ev.opportunity("o3", "rep2", "700.05", customer="c2", stage="proposal"),
               ev.opportunity("o4", "rep4", "9000", customer="c2", region="north")]
    events += [ev.stage("o1", "lead", "proposal"), ev.stage("o1", "proposal", "negotiation"),
               ev.stage("o2", "lead", "needs_analysis"), ev.won("o1", "1200.00"),
               ev.lost("o3", "价格过高"), ev.stage("o4", "lead", "contract"),
               ev("customer.assigned", "c2", {"owner_id": "rep3"}, actor="admin"),
               ev("opportunity.assigned", "o2", {"owner_id": "rep2"}, actor="admin"),
               ev("customer.returned", "c1", {"reason": "无意向"}, actor="rep1"),
               ev.interaction("i1", "c1", "rep1", "visit"),
               ev.interaction("i2", "c1", "rep1", "call"),
               ev.interaction("i3", "c2", "rep2", "wechat"),
               ev("task.created", "t1", {"assignee_id": "rep1", "status": "todo",
                                         "title": "拜访"}, actor="rep1"),
               ev("task.created", "t2", {"assignee_id": "rep2", "status": "todo",
                                         "title": "电话"}, actor="rep2"),
               ev("task.status_changed", "t1", {"from": "todo", "to": "done",
                                                "status": "done", "result": "ok"}),
               ev("customer.claimed", "c3", {"owner_id": "rep2"}, actor="rep2")]
    return events


# --- out of order and duplicates -----------------------------------------------------

def test_a_stage_change_before_its_creation_ends_as_in_order(ev, who):
    created = ev.opportunity("o1", "rep1", "5000.00")
    moved = ev.stage("o1", "lead", "proposal")
    in_order = project([ev.user("rep1"), created, moved])
    reversed_ = project([moved, created, ev.user("rep1")])
    assert counters(reversed_) == counters(in_order)
    funnel = reports.funnel(reversed_, who("admin"))
    proposal = next(s for s in funnel["stages"] if s["stage"] == "proposal")
    assert (proposal["count"], proposal["amount"], proposal["weighted_amount"]) == (
        1, "5000.00", "2500.00")
    assert next(s for s in funnel["stages"] if s["stage"] == "lead")["count"] == 0


def test_every_order_of_one_opportunitys_events_gives_the_same_figures(ev):
    events = [ev.user("rep1"), ev.opportunity("o1", "rep1", "800.00"),
              ev("opportunity.updated", "o1", {"changes": {"amount": ["800.00", "950.50"]}}),
              ev.stage("o1", "lead", "needs_analysis"),
              ev.stage("o1", "needs_analysis", "proposal"), ev.won("o1", "990.00")]
    expected = counters(project(events))
    for order in itertools.permutations(events):
        assert counters(project(order)) == expected


def test_a_shuffled_busy_history_gives_the_same_reports(ev, who):
    events = a_busy_history(ev)
    expected = all_reports(project(events), who("admin"))
    for seed in range(15):
        shuffled = list(events)
        random.Random(seed).shuffle(shuffled)
        assert all_reports(project(shuffled), who("admin")) == expected


def test_every_event_delivered_twice_counts_once(ev, who):
    events = a_busy_history(ev)
    twice = [e for event in events for e in (event, dict(event))]
    assert counters(project(twice)) == counters(project(events))
    assert all_reports(project(twice), who("admin")) == all_reports(project(events),
                                                                    who("admin"))


def test_a_duplicate_long_after_the_first_delivery_counts_once(ev, who):
    events = a_busy_history(ev)
    late_duplicates = events + events[5:12]
    assert counters(project(late_duplicates)) == counters(project(events))


def test_a_repeated_win_is_one_win(ev, who):
    created = ev.opportunity("o1", "rep1", "300.00")
    won = ev.won("o1", "300.00")
    store = project([ev.user("rep1"), won, created, won])
    funnel = reports.funnel(store, who("rep1"))
    assert funnel["won"] == {"count": 1, "amount": "300.00"}


def test_apply_event_returns_the_same_state_for_an_already_seen_event(ev):
    event = ev.opportunity("o1", "rep1", "10.00")
    once = apply_event(new_state("opportunity", "o1"), event, SHANGHAI)
    assert apply_event(once, event, SHANGHAI) is once


def test_an_older_field_value_arriving_late_does_not_overwrite_a_newer_one(ev):
    early = ev("opportunity.updated", "o1", {"amount": "100.00"})
    late = ev("opportunity.updated", "o1", {"amount": "200.00"})
    state = new_state("opportunity", "o1")
    for event in (late, early):
        state = apply_event(state, event, SHANGHAI)
    assert state["f"]["amount"] == 20000


def test_a_stage_change_older_than_the_win_does_not_reopen_it(ev, who):
    created = ev.opportunity("o1", "rep1", "100.00")
    moved = ev.stage("o1", "lead", "proposal")
    won = ev.won("o1", "100.00")
    store = project([ev.user("rep1"), created, won, moved])
    funnel = reports.funnel(store, who("rep1"))
    assert all(s["count"] == 0 for s in funnel["stages"])
    assert funnel["won"]["count"] == 1


# --- what each event changes ----------------------------------------------------------

def test_contributions_diff_moves_figures_when_the_owner_changes(ev):
    store = project([ev.user("rep1"), ev.user("rep2"), ev.customer("c1", "rep1"),
                     ev("customer.assigned", "c1", {"owner_id": "rep2"})])
    assert store.counters[(NOW, "u:rep2")]["-"] == {"customers": 1}
    assert store.counters[(NOW, "u:rep1")]["-"] == {}


def test_a_returned_customer_counts_in_its_regions_pool(ev):
    store = project([ev.customer("c1", "rep1"), ev("customer.returned", "c1", {})])
    assert store.counters[(NOW, "p:east")]["-"] == {"pool_customers": 1}


def test_a_claim_without_owner_field_goes_to_the_actor(ev):
    store = project([ev.customer("c1", None), ev("customer.claimed", "c1", {}, actor="rep3")])
    assert store.counters[(NOW, "u:rep3")]["-"] == {"customers": 1}


def test_a_deleted_customer_no_longer_counts(ev):
    store = project([ev.customer("c1", None), ev("customer.deleted", "c1", {})])
    assert store.counters[(NOW, "p:east")]["-"] == {}


def test_amounts_are_exact_integer_cents(ev, who):
    events = [ev.user("rep1")] + [ev.opportunity(f"o{i}", "rep1", "0.10") for i in range(3)]
    events.append(ev.opportunity("o9", "rep1", "0.20"))
    store = project(events)
    assert store.counters[(NOW, "u:rep1")]["-"]["open_cents"] == 50
    assert reports.summary(store, who("rep1"))["pipeline_amount"] == "0.50"


def test_days_are_cut_in_the_organisations_time_zone(ev):
    # 2026-11-30 17:30 UTC is already 1 December in Shanghai
    late_evening_utc = datetime(2026, 11, 30, 17, 30, tzinfo=timezone.utc)
    store = project([ev.interaction("i1", "c1", "rep1", at=late_evening_utc)])
    assert "M:2026-12" in store.counters[(PERF, "u:rep1")]
    assert "M:2026-11" not in store.counters[(PERF, "u:rep1")]


def test_an_opportunity_is_dated_by_its_creation_day(ev):
    store = project([ev.opportunity("o1", "rep1", "10.00",
                                    at=datetime(2026, 11, 5, 20, tzinfo=timezone.utc))])
    buckets = store.counters[(FUNNEL, "u:rep1")]
    assert {"D:2026-11-06", "M:2026-11", "Y:2026", "A"} <= set(buckets)


def test_touching_one_customer_twice_counts_one_customer(ev):
    store = project([ev.interaction("i1", "c1", "rep1"), ev.interaction("i2", "c1", "rep1"),
                     ev.interaction("i3", "c2", "rep1")])
    month = store.counters[(PERF, "u:rep1")]["M:2026-11"]
    assert (month["touched"], month["interactions"]) == (2, 3)
    assert store.counters[(PERF, "u:rep1")]["Q:2026-Q4"]["touched"] == 2


def test_a_completed_task_leaves_the_open_count_and_counts_as_done(ev):
    store = project([ev("task.created", "t1", {"assignee_id": "rep1",
                                                "status": "todo"}),
                     ev("task.completed", "t1", {"result": "done"})])
    assert store.counters[(NOW, "u:rep1")]["-"] == {}
    assert store.counters[(PERF, "u:rep1")]["M:2026-11"] == {"tasks_done": 1}
    assert store.counters[(PERF, "u:rep1")]["Y:2026"] == {"tasks_done": 1}


def test_a_reassigned_task_counts_for_the_new_assignee(ev):
    store = project([ev("task.created", "t1", {"assignee_id": None}),
                     ev("task.assigned", "t1", {"assignee_id": "rep2"})])
    assert store.counters[(NOW, "u:rep2")]["-"] == {"tasks_open": 1}
    assert store.counters[(NOW, "p:east")]["-"] == {}


def test_an_unassigned_task_counts_in_its_own_regions_pool_only(ev):
    """The task pool is seen by supervisors and up of its region (CONTRACT §3): its open
    tasks count in that region's pool, not in a pool every region's superiors see."""
    store = project([ev("task.created", "t1", {"assignee_id": None,
                                                "region": "north"}, region="north")])
    assert store.counters[(NOW, "p:north")]["-"] == {"tasks_open": 1}
    assert (NOW, "p:") not in store.counters


def test_events_no_report_depends_on_are_ignored(ev):
    store = project([ev("contact.created", "c1", {"name": "x"}),
                     ev("reminder.due", "r1", {}), ev("customer.shared", "c1", {})])
    assert counters(store) == {}
    assert store.states == {}


def test_diff_is_what_turns_old_contributions_into_new():
    old = {("c", "now", "u:a", "-", "x"): 2, ("c", "now", "u:a", "-", "y"): 1}
    new = {("c", "now", "u:a", "-", "x"): 2, ("c", "now", "u:b", "-", "y"): 1}
    assert diff(new, old) == {("c", "now", "u:a", "-", "y"): -1,
                              ("c", "now", "u:b", "-", "y"): 1}


def test_a_stage_later_than_the_furthest_reached_is_not_passed(ev):
    state = new_state("opportunity", "o1")
    for event in (ev.opportunity("o1", "rep1", "10.00"), ev.stage("o1", "lead", "proposal")):
        state = apply_event(state, event, SHANGHAI)
    vec = contributions(state)
    reach = {k[4] for k in vec if k[1] == FUNNEL and k[3] == "A" and k[4].startswith("reach")}
    passed = {k[4] for k in vec if k[1] == FUNNEL and k[3] == "A" and k[4].startswith("pass")}
    # skipping needs_analysis still means it was reached and passed on the way
    assert reach == {"reach:lead", "reach:needs_analysis", "reach:proposal"}
    assert passed == {"pass:lead", "pass:needs_analysis"}


def test_users_events_say_which_team_and_region_a_segment_is(ev, store, projector):
    projector.handle(ev.opportunity("o1", "rep9", "1.00", region="west"))
    assert store.directory["u:rep9"]["region"] == "west"  # a hint until the user is known
    projector.handle(ev("user.created", "rep9", {"id": "rep9", "name": "新人",
                                                 "team": "south/gz/t1", "region": "south",
                                                 "role": "rep"}))
    projector.handle(ev.opportunity("o2", "rep9", "1.00", region="west"))
    assert store.directory["u:rep9"]["team"] == "south/gz/t1"
    assert store.directory["u:rep9"]["region"] == "south"


def test_an_older_user_update_does_not_undo_a_newer_one(ev, store, projector):
    older = ev("user.updated", "rep1", {"team": "east/a"})
    newer = ev("user.updated", "rep1", {"team": "east/b"})
    projector.handle(newer)
    projector.handle(older)
    assert store.directory["u:rep1"]["team"] == "east/b"


def test_a_report_reads_only_the_buckets_it_needs(ev):
    """A report over one month reads that month's buckets, however much came before."""
    store = MemoryStore()
    projector = Projector(store, tz=SHANGHAI)
    start = datetime(2024, 1, 1, 2, tzinfo=timezone.utc)
    for i in range(300):
        projector.handle(ev.opportunity(f"o{i}", "rep1", "1.00",
                                        at=start + timedelta(days=3 * i)))
    read = []
    original = store.counter_docs

    def counting(kind, segments, ranges):
        docs = original(kind, segments, ranges)
        read.extend(docs)
        return docs

    store.counter_docs = counting
    from datetime import date
    reports.funnel(store, identity("admin"), start=date(2025, 3, 1), end=date(2025, 3, 31))
    assert len(read) == 1  # the one month bucket, not 300 opportunities
