"""Rollups (per team, region, organisation) give every report exactly what summing each
person's counters gives, for every viewer and filter, also after people change team or
region; and reports over many people do read the rollups."""
from __future__ import annotations

import random
from datetime import timedelta

import pytest

from reporting_world import PEOPLE, SHANGHAI, T0, TODAY, Events, identity
from services.reporting import reports, rollups
from services.reporting.access import Filters, visible_entries
from services.reporting.counters import ORG_ROLLUP, ROLLED_KINDS
from services.reporting.memstore import MemoryStore
from services.reporting.projections import Projector

OWNERS = ["rep1", "rep2", "rep3", "rep4", "sup1", "mgr1", "mgr2", None]
TEAMS = ["east/shanghai/team-1", "east/shanghai/team-2", "north/beijing/team-1",
         "south/guangzhou/team-1"]
REGIONS = {"east/shanghai/team-1": "east", "east/shanghai/team-2": "east",
           "north/beijing/team-1": "north", "south/guangzhou/team-1": "south"}
STAGES = ["lead", "needs_analysis", "proposal", "negotiation", "contract"]
METHODS = ["call", "visit", "email"]


def random_history(seed: int, count: int = 160) -> list[dict]:
    """People, then customers, opportunities (staged, won, lost, reassigned), follow-ups
    and tasks over a few months, owners taken and given back, people moving between
    teams and regions; a few events delivered twice."""
    rnd = random.Random(seed)
    ev = Events()
    history = [ev.user(user_id) for user_id in PEOPLE]
    customers, opportunities, tasks = [], {}, []
    for n in range(count):
        ev.at(T0 + timedelta(days=rnd.randrange(-120, 30), minutes=n))
        roll = rnd.random()
        if roll < 0.15 or not customers:
            cid = f"c{n}"
            history.append(ev.customer(cid, rnd.choice(OWNERS), region=rnd.choice(
                ["east", "north"])))
            customers.append(cid)
        elif roll < 0.30:
            oid = f"o{n}"
            history.append(ev.opportunity(oid, rnd.choice(OWNERS), str(rnd.randrange(1, 90)
                                                                        * 100),
                                          customer=rnd.choice(customers),
                                          close=f"2026-{rnd.randrange(10, 13)}-15"))
            opportunities[oid] = "lead"
        elif roll < 0.45 and opportunities:
            oid = rnd.choice(sorted(opportunities))
            stage = opportunities[oid]
            if stage in ("won", "lost"):
                continue
            pick = rnd.random()
            if pick < 0.4 and stage != STAGES[-1]:
                to = STAGES[STAGES.index(stage) + 1]
                history.append(ev.stage(oid, stage, to))
                opportunities[oid] = to
            elif pick < 0.65:
                history.append(ev.won(oid, str(rnd.randrange(1, 90) * 100),
                                      signed_on=f"2026-{rnd.randrange(8, 12):02d}-"
                                                f"{rnd.randrange(1, 28):02d}"))
                opportunities[oid] = "won"
            elif pick < 0.85:
                history.append(ev.lost(oid, rnd.choice(["价格过高", "选择竞品"])))
                opportunities[oid] = "lost"
            else:
                history.append(ev("opportunity.assigned", oid,
                                  {"owner_id": rnd.choice(OWNERS[:-1])}, actor="admin"))
        elif roll < 0.65:
            author = rnd.choice(OWNERS[:-1])
            history.append(ev.interaction(f"i{n}", rnd.choice(customers), author,
                                          rnd.choice(METHODS)))
        elif roll < 0.75:
            history.append(ev("customer.assigned", rnd.choice(customers),
                              {"owner_id": rnd.choice(OWNERS[:-1])}, actor="admin"))
        elif roll < 0.85:
            tid = f"t{n}"
            history.append(ev("task.created", tid, {"assignee_id": rnd.choice(OWNERS[:-1]),
                                                    "customer_ids": [rnd.choice(customers)]}))
            tasks.append(tid)
        elif roll < 0.92 and tasks:
            history.append(ev("task.completed", rnd.choice(tasks), {"result": "完成"}))
        else:  # someone moves: to another team, maybe another region
            team = rnd.choice(TEAMS)
            history.append(ev("user.updated", rnd.choice(["rep1", "rep2", "rep3", "rep4",
                                                          "sup1"]),
                              {"team": team, "region": REGIONS[team]}))
    return history + rnd.sample(history, 5)  # redelivered


def project(history) -> MemoryStore:
    store = MemoryStore()
    projector = Projector(store, tz=SHANGHAI)
    for envelope in history:
        projector.handle(envelope)
    return store


def every_report(store, viewer, filters: Filters) -> dict:
    out = {"funnel": reports.funnel(store, viewer, filters=filters),
           "forecast": reports.forecast(store, viewer, period="quarter", filters=filters),
           "win-loss": reports.win_loss(store, viewer, filters=filters),
           "abc": reports.customer_value(store, viewer, as_of=TODAY, filters=filters)}
    if filters == Filters():
        out["summary"] = reports.summary(store, viewer)
    for group_by in ("owner", "team", "region"):
        for period in ("month", "year"):
            span = {"group_by": group_by, "period": period, "start": TODAY - timedelta(
                days=150), "end": TODAY, "today": TODAY, "filters": filters}
            out[f"performance {group_by} {period}"] = reports.performance(store, viewer,
                                                                           **span)
            out[f"activity {group_by} {period}"] = reports.activity(store, viewer, **span)
            out[f"forecast-vs-target {group_by} {period}"] = reports.forecast_vs_target(
                store, viewer, **span)
    return out


FILTERS = [Filters(), Filters(region="east"), Filters(region="north"),
           Filters(team="east"), Filters(team="east/shanghai/team-1"),
           Filters(team="north/beijing/team-1"), Filters(owner_id="rep1"),
           Filters(owner_id="rep4")]


def per_person(directory, entries, group_of=None):
    """The reference: every person read alone, no rollup."""
    return dict(entries)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_rollup_reports_equal_the_per_person_sums_for_every_viewer_and_filter(
        seed, monkeypatch):
    store = project(random_history(seed))
    store.put_target("team", "east/shanghai/team-1", "2026-11", 500_000, "east")
    store.put_target("region", "east", "2026", 9_000_000, "east")
    store.put_target("owner", "rep2", "2026-10", 300_000, "east")
    with_rollups = {(who, f): every_report(store, identity(who), f)
                    for who in PEOPLE for f in FILTERS}
    monkeypatch.setattr(rollups, "plan", per_person)
    for (who, f), got in with_rollups.items():
        assert got == every_report(store, identity(who), f), (seed, who, f)


def test_the_rollups_hold_the_sums_of_the_people_in_them():
    store = project(random_history(5))
    directory = store.list_directory()
    for kind in ROLLED_KINDS:
        for rollup in {r for e in directory for r in e.get("rollups") or ()}:
            people = [e["_id"] for e in directory if rollup in (e.get("rollups") or ())]
            summed: dict = {}
            for doc in store.counter_docs(kind, people, [("", "\uffff")]):
                for field, n in doc["c"].items():
                    key = (doc["bucket"], field)
                    summed[key] = summed.get(key, 0) + n
            held = {(d["bucket"], f): n for d in store.counter_docs(kind, [rollup],
                                                                     [("", "\uffff")])
                    for f, n in d["c"].items()}
            assert held == {k: n for k, n in summed.items() if n}, (kind, rollup)


def test_reports_over_many_people_read_rollups_and_by_owner_each_person():
    store = project(random_history(6))
    directory = store.list_directory()

    def read(who, filters=Filters(), group_by=None):
        entries = visible_entries(store, identity(who), filters, directory=directory)
        group_of = None if group_by is None else (
            lambda e: reports.group_key(e, group_by))
        return set(rollups.plan(directory, entries, group_of))

    people = {e["_id"] for e in directory if e["_id"].startswith("u:")}
    assert read("admin") == {ORG_ROLLUP} | {e["_id"] for e in directory
                                            if e["_id"].startswith("p:")}
    alone = {e["_id"] for e in directory if e["_id"].startswith("u:") and sum(
        e["region"] == other["region"] for other in directory) == 1}
    assert read("admin", group_by="region") & people == alone  # a region of one person
    assert read("admin", group_by="owner") & people == people
    assert read("rep1") == {"u:rep1"}
    assert read("mgr1", Filters(owner_id="rep2")) == {"u:rep2"}


def test_a_person_who_changes_team_and_region_takes_their_figures_along():
    ev = Events()
    history = [ev.user(u) for u in PEOPLE]
    history += [ev.customer("c1", "rep1"), ev.opportunity("o1", "rep1", "1000", customer="c1"),
                ev.won("o1", "1000"), ev.interaction("i1", "c1", "rep1"),
                ev.opportunity("o2", "rep1", "500", customer="c1")]
    store = project(history)
    admin = identity("admin")

    def by(group_by):
        rows = reports.performance(store, admin, group_by=group_by, period="month",
                                   today=TODAY)["rows"]
        return {r["key"]: r["won_amount"] for r in rows}

    assert by("team") == {"east/shanghai/team-1": "1000.00"}
    projector = Projector(store, tz=SHANGHAI)
    projector.handle(ev("user.updated", "rep1", {"team": "north/beijing/team-1",
                                                 "region": "north"}))
    assert by("team") == {"north/beijing/team-1": "1000.00"}
    assert by("region") == {"north": "1000.00"}
    assert store.counter_docs("perf", ["t:east/shanghai/team-1", "r:east"],
                              [("", "\uffff")]) == []
    forecast = reports.forecast(store, identity("mgr2"), period="month")
    assert forecast["total"]["amount"] == "500.00"  # the open o2 moved along
    assert reports.forecast(store, identity("mgr1"), period="month")["total"]["count"] == 0
    # the same move again (a redelivery) moves nothing twice
    projector.handle(history[-1])
    projector.handle(ev.won("o2", "500"))
    assert by("region") == {"north": "1500.00"}
