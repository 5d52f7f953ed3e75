"""The reports of CONTRACT §7 over projected events: figures, periods, visibility."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from reporting_world import TODAY
from services.reporting import reports
from services.reporting.access import Filters

NOV = datetime(2026, 11, 10, 3, tzinfo=timezone.utc)
OCT = datetime(2026, 10, 12, 3, tzinfo=timezone.utc)


@pytest.fixture
def pipeline_month(ev, org):
    """Opportunities of four reps in two regions, some moved on, won or lost."""
    ev.at(NOV)
    events = [
        ev.opportunity("o1", "rep1", "1000.00"),
        ev.opportunity("o2", "rep1", "3000.00", stage="proposal"),
        ev.opportunity("o3", "rep2", "500.50"),
        ev.opportunity("o4", "rep3", "2000.00"),
        ev.opportunity("o5", "rep4", "7000.00", region="north"),
        ev.opportunity("o6", "rep1", "400.00"),
        ev.stage("o1", "lead", "needs_analysis"),
        ev.stage("o3", "lead", "needs_analysis"),
        ev.stage("o3", "needs_analysis", "proposal"),
        ev.won("o3", "520.00", signed_on="2026-11-20"),
        ev.lost("o4", "价格过高"),
        ev.lost("o6", "选择竞品"),
    ]
    for e in events:
        org.handle(e)
    return org.store


# --- funnel ---------------------------------------------------------------------------

def test_funnel_counts_open_opportunities_per_stage_with_weighted_amounts(pipeline_month,
                                                                           who):
    funnel = reports.funnel(pipeline_month, who("admin"))
    by_stage = {s["stage"]: s for s in funnel["stages"]}
    assert [s["stage"] for s in funnel["stages"]] == [
        "lead", "needs_analysis", "proposal", "negotiation", "contract"]
    assert (by_stage["lead"]["count"], by_stage["lead"]["amount"],
            by_stage["lead"]["weighted_amount"]) == (1, "7000.00", "700.00")
    assert (by_stage["needs_analysis"]["count"], by_stage["needs_analysis"]["amount"],
            by_stage["needs_analysis"]["weighted_amount"]) == (1, "1000.00", "250.00")
    assert (by_stage["proposal"]["count"], by_stage["proposal"]["weighted_amount"]) == (
        1, "1500.00")
    assert funnel["won"] == {"count": 1, "amount": "520.00"}
    assert funnel["lost"] == {"count": 2, "amount": "2400.00"}
    assert funnel["win_rate"] == pytest.approx(1 / 3, abs=1e-4)


def test_funnel_conversion_is_the_share_that_went_on_past_a_stage(pipeline_month, who):
    by_stage = {s["stage"]: s for s in reports.funnel(pipeline_month, who("admin"))["stages"]}
    # reached lead: all 6 (o2 entered at proposal, so it passed lead and needs_analysis);
    # went on past lead: o1, o2, o3 (won) -> 3/6
    assert by_stage["lead"]["reached"] == 6
    assert by_stage["lead"]["conversion_rate"] == 0.5
    # needs_analysis reached by o1, o2, o3; passed by o2 and o3 -> 2/3
    assert by_stage["needs_analysis"]["conversion_rate"] == pytest.approx(0.6667)
    # a won opportunity went on from every stage
    assert by_stage["contract"]["reached"] == 1
    assert by_stage["contract"]["conversion_rate"] == 1.0


def test_funnel_of_a_rep_shows_only_their_own_opportunities(pipeline_month, who):
    funnel = reports.funnel(pipeline_month, who("rep1"))
    counts = {s["stage"]: s["count"] for s in funnel["stages"]}
    assert counts == {"lead": 0, "needs_analysis": 1, "proposal": 1, "negotiation": 0,
                      "contract": 0}
    assert funnel["lost"]["count"] == 1 and funnel["won"]["count"] == 0


def test_funnel_visibility_by_role(pipeline_month, who):
    def opportunities(viewer):
        f = reports.funnel(pipeline_month, who(viewer))
        return sum(s["count"] for s in f["stages"]) + f["won"]["count"] + f["lost"]["count"]

    assert opportunities("rep2") == 1           # o3
    assert opportunities("sup1") == 4           # team-1: rep1 (o1 o2 o6) rep2 (o3)
    assert opportunities("mgr1") == 5           # east: + rep3's o4
    assert opportunities("mgr2") == 1           # north: o5
    assert opportunities("admin") == 6


def test_funnel_filters_by_owner_team_and_region(pipeline_month, who):
    def total(**kw):
        f = reports.funnel(pipeline_month, who("admin"), filters=Filters(**kw))
        return sum(s["count"] for s in f["stages"]) + f["won"]["count"] + f["lost"]["count"]

    assert total(owner_id="rep1") == 3
    assert total(team="east/shanghai") == 5
    assert total(region="north") == 1
    # a filter never widens what a rep may see
    assert sum(s["count"] for s in reports.funnel(
        pipeline_month, who("rep2"), filters=Filters(owner_id="rep1"))["stages"]) == 0


def test_funnel_from_to_selects_opportunities_created_in_the_range(ev, org, who):
    org.handle(ev.opportunity("early", "rep1", "10.00", at=OCT))
    org.handle(ev.opportunity("late", "rep1", "20.00", at=NOV))
    funnel = reports.funnel(org.store, who("rep1"), start=date(2026, 11, 1),
                            end=date(2026, 11, 30))
    assert funnel["stages"][0]["count"] == 1 and funnel["stages"][0]["amount"] == "20.00"
    funnel = reports.funnel(org.store, who("rep1"), start=date(2026, 10, 12),
                            end=date(2026, 10, 12))
    assert funnel["stages"][0]["amount"] == "10.00"


def test_win_rate_is_null_before_anything_closed(ev, org, who):
    org.handle(ev.opportunity("o1", "rep1", "10.00"))
    assert reports.funnel(org.store, who("rep1"))["win_rate"] is None


# --- performance ------------------------------------------------------------------------

@pytest.fixture
def sales_year(ev, org):
    events = [
        ev.opportunity("a", "rep1", "1000.00", at=OCT), ev.won("a", "1000.00", "2026-10-15"),
        ev.opportunity("b", "rep1", "2000.00", at=NOV), ev.won("b", "2500.00", "2026-11-20"),
        ev.opportunity("c", "rep2", "800.00", at=NOV), ev.won("c", "800.00", "2026-11-21"),
        ev.opportunity("d", "rep3", "600.00", at=NOV), ev.won("d", "600.00", "2026-11-22"),
        ev.opportunity("e", "rep4", "900.00", at=NOV, region="north"),
        ev.won("e", "900.00", "2026-11-23"),
        ev.customer("c1", "rep1", at=NOV), ev.customer("c2", "rep1", at=OCT),
        ev.customer("c3", None, at=NOV),
        ev.interaction("i1", "c1", "rep1", at=NOV), ev.interaction("i2", "c1", "rep2", at=NOV),
    ]
    for e in events:
        org.handle(e)
    return org.store


def rows_by(report):
    return {(r["key"], r["period"]): r for r in report["rows"]}


def test_performance_by_owner_and_month(sales_year, who):
    report = reports.performance(sales_year, who("admin"), group_by="owner", period="month",
                                 start=date(2026, 10, 1), end=date(2026, 11, 30), today=TODAY)
    rows = rows_by(report)
    assert rows[("rep1", "2026-10")]["won_amount"] == "1000.00"
    assert rows[("rep1", "2026-11")]["won_amount"] == "2500.00"
    assert rows[("rep1", "2026-11")]["won_count"] == 1
    assert rows[("rep1", "2026-11")]["new_customers"] == 1
    assert rows[("rep1", "2026-11")]["interactions"] == 1
    assert rows[("rep1", "2026-11")]["label"] == "张三"
    assert rows[("rep1", "2026-11")]["target"] is None
    assert rows[("rep1", "2026-11")]["attainment"] is None


def test_performance_by_team_and_region_per_quarter(sales_year, who):
    team = rows_by(reports.performance(sales_year, who("admin"), group_by="team",
                                       period="quarter", today=TODAY))
    assert team[("east/shanghai/team-1", "2026-Q4")]["won_amount"] == "4300.00"
    assert team[("east/shanghai/team-2", "2026-Q4")]["won_amount"] == "600.00"
    region = rows_by(reports.performance(sales_year, who("admin"), group_by="region",
                                         period="year", today=TODAY))
    assert region[("east", "2026")]["won_amount"] == "4900.00"
    assert region[("east", "2026")]["won_count"] == 4
    assert region[("north", "2026")]["won_amount"] == "900.00"
    # a customer created into the pool is a new customer of its region
    assert region[("east", "2026")]["new_customers"] == 3


def test_attainment_is_won_amount_over_target(sales_year, who):
    sales_year.put_target("owner", "rep1", "2026-11", 500000)
    sales_year.put_target("team", "east/shanghai/team-1", "2026-Q4", 1000000)
    owner = rows_by(reports.performance(sales_year, who("admin"), today=TODAY))
    assert owner[("rep1", "2026-11")]["target"] == "5000.00"
    assert owner[("rep1", "2026-11")]["attainment"] == 0.5
    team = rows_by(reports.performance(sales_year, who("admin"), group_by="team",
                                       period="quarter", today=TODAY))
    assert team[("east/shanghai/team-1", "2026-Q4")]["attainment"] == 0.43


def test_a_periods_target_is_the_sum_of_its_months_when_not_set_itself(sales_year, who):
    for month, cents in (("2026-10", 100000), ("2026-11", 200000), ("2026-12", 300000)):
        sales_year.put_target("owner", "rep1", month, cents)
    rows = rows_by(reports.performance(sales_year, who("admin"), period="quarter",
                                       today=TODAY))
    assert rows[("rep1", "2026-Q4")]["target"] == "6000.00"
    assert rows[("rep1", "2026-Q4")]["attainment"] == pytest.approx(0.5833)


def test_a_target_without_sales_still_shows_a_row(sales_year, who):
    sales_year.put_target("owner", "rep3", "2026-12", 100000)
    rows = rows_by(reports.performance(sales_year, who("admin"), start=date(2026, 12, 1),
                                       end=date(2026, 12, 31), today=TODAY))
    assert rows[("rep3", "2026-12")]["won_amount"] == "0.00"
    assert rows[("rep3", "2026-12")]["attainment"] == 0.0


def test_performance_defaults_to_the_current_period(sales_year, who):
    report = reports.performance(sales_year, who("admin"), today=TODAY)
    assert report["periods"] == ["2026-11"]


def test_a_rep_sees_only_their_own_performance_and_targets(sales_year, who):
    sales_year.put_target("owner", "rep2", "2026-11", 100000)
    keys = {r["key"] for r in reports.performance(sales_year, who("rep1"), today=TODAY)["rows"]}
    assert keys == {"rep1"}


def test_a_supervisor_sees_the_team_and_a_manager_the_region(sales_year, who):
    keys = {r["key"] for r in reports.performance(sales_year, who("sup1"),
                                                  today=TODAY)["rows"]}
    assert keys == {"rep1", "rep2", None}  # None: the pool of the supervisor's region
    keys = {r["key"] for r in reports.performance(sales_year, who("mgr1"),
                                                  today=TODAY)["rows"]}
    assert keys == {"rep1", "rep2", "rep3", None}  # None: the east pool


def test_performance_figures_follow_a_person_who_changes_team(ev, sales_year, who, org):
    org.handle(ev("user.updated", "rep2", {"team": "east/shanghai/team-2"}))
    team = rows_by(reports.performance(sales_year, who("admin"), group_by="team",
                                       period="quarter", today=TODAY))
    assert team[("east/shanghai/team-2", "2026-Q4")]["won_amount"] == "1400.00"


# --- activity ---------------------------------------------------------------------------

def test_activity_counts_methods_tasks_touched_and_converted(ev, org, who):
    ev.at(NOV)
    for e in [
        ev.interaction("i1", "c1", "rep1", "call"), ev.interaction("i2", "c1", "rep1", "visit"),
        ev.interaction("i3", "c2", "rep1", "call"), ev.interaction("i4", "c9", "rep2", "email"),
        ev("task.created", "t1", {"assignee_id": "rep1"}),
        ev("task.completed", "t1", {"result": "见面"}),
        ev.opportunity("o1", "rep1", "100.00", customer="c1"),
        ev.won("o1", "100.00", "2026-11-20"),
    ]:
        org.handle(e)
    rows = rows_by(reports.activity(org.store, who("admin"), today=TODAY))
    mine = rows[("rep1", "2026-11")]
    assert mine["interactions"] == 3
    assert mine["by_method"]["call"] == 2 and mine["by_method"]["visit"] == 1
    assert mine["tasks_completed"] == 1
    assert mine["customers_touched"] == 2
    assert mine["customers_converted"] == 1
    assert mine["conversion_rate"] == 0.5
    assert rows[("rep2", "2026-11")]["by_method"]["email"] == 1


def test_activity_touched_customers_are_distinct_per_period(ev, org, who):
    org.handle(ev.interaction("i1", "c1", "rep1", at=OCT))
    org.handle(ev.interaction("i2", "c1", "rep1", at=NOV))
    quarter = rows_by(reports.activity(org.store, who("rep1"), period="quarter",
                                       today=TODAY))
    assert quarter[("rep1", "2026-Q4")]["customers_touched"] == 1
    assert quarter[("rep1", "2026-Q4")]["interactions"] == 2
    month = rows_by(reports.activity(org.store, who("rep1"), start=date(2026, 10, 1),
                                     today=TODAY))
    assert month[("rep1", "2026-10")]["customers_touched"] == 1
    assert month[("rep1", "2026-11")]["customers_touched"] == 1


# --- forecast ---------------------------------------------------------------------------

def test_forecast_by_expected_close_month_and_quarter(ev, org, who):
    for e in [ev.opportunity("o1", "rep1", "1000.00", close="2026-11-30"),
              ev.opportunity("o2", "rep1", "2000.00", close="2026-12-01", stage="proposal"),
              ev.opportunity("o3", "rep1", "4000.00", close="2027-01-05", stage="contract"),
              ev.opportunity("o4", "rep1", "9999.00", close="2026-12-01")]:
        org.handle(e)
    org.handle(ev.lost("o4", "预算取消"))
    monthly = {r["period"]: r for r in reports.forecast(org.store, who("rep1"))["rows"]}
    assert monthly["2026-11"]["weighted_amount"] == "100.00"
    assert monthly["2026-12"] == {"period": "2026-12", "count": 1, "amount": "2000.00",
                                  "weighted_amount": "1000.00"}
    assert monthly["2027-01"]["weighted_amount"] == "3600.00"
    quarterly = reports.forecast(org.store, who("rep1"), period="quarter")
    assert [r["period"] for r in quarterly["rows"]] == ["2026-Q4", "2027-Q1"]
    assert quarterly["rows"][0]["weighted_amount"] == "1100.00"
    assert quarterly["total"]["weighted_amount"] == "4700.00"
    narrowed = reports.forecast(org.store, who("rep1"), start=date(2026, 12, 1),
                                end=date(2026, 12, 31))
    assert [r["period"] for r in narrowed["rows"]] == ["2026-12"]


def test_forecast_uses_a_stage_probability_when_a_stage_change_names_none(ev, org, who):
    org.handle(ev.opportunity("o1", "rep1", "1000.00", close="2026-12-01"))
    org.handle(ev.stage("o1", "lead", "negotiation"))
    rows = reports.forecast(org.store, who("rep1"))["rows"]
    assert rows[0]["weighted_amount"] == "750.00"


# --- win / loss -------------------------------------------------------------------------

def test_win_loss_reasons_and_cycle_days(ev, org, who):
    start = datetime(2026, 11, 1, 2, tzinfo=timezone.utc)
    for e in [ev.opportunity("o1", "rep1", "100.00", at=start),
              ev.opportunity("o2", "rep1", "200.00", at=start),
              ev.opportunity("o3", "rep1", "300.00", at=start),
              ev.opportunity("o4", "rep1", "400.00", at=start),
              ev.won("o1", "100.00", "2026-11-11"),
              ev.lost("o2", "价格过高", at=datetime(2026, 11, 5, 2, tzinfo=timezone.utc)),
              ev.lost("o3", "价格过高", at=datetime(2026, 11, 7, 2, tzinfo=timezone.utc)),
              ev.lost("o4", "  选择 竞品 ", at=datetime(2026, 11, 9, 2, tzinfo=timezone.utc))]:
        org.handle(e)
    report = reports.win_loss(org.store, who("rep1"))
    assert report["won"] == {"count": 1, "amount": "100.00", "average_cycle_days": 10.0}
    assert report["lost"]["average_cycle_days"] == 6.0
    assert report["win_rate"] == 0.25
    assert report["loss_reasons"][0] == {"reason": "价格过高", "count": 2, "amount": "500.00",
                                         "share": pytest.approx(0.6667)}
    assert report["loss_reasons"][1]["reason"] == "选择 竞品"
    narrowed = reports.win_loss(org.store, who("rep1"), start=date(2026, 11, 6),
                                end=date(2026, 11, 8))
    assert narrowed["lost"]["count"] == 1 and narrowed["won"]["count"] == 0


# --- customer value ----------------------------------------------------------------------

@pytest.fixture
def deals(ev, org):
    amounts = {"c1": ["7000.00"], "c2": ["1500.00", "500.00"], "c3": ["600.00"],
               "c4": ["300.00"], "c5": ["100.00"]}
    signed = {"c1": "2026-11-20", "c2": "2026-06-01", "c3": "2026-11-01", "c4": "2025-11-23",
              "c5": "2026-10-24"}
    for cid in amounts:
        org.handle(ev.customer(cid, "rep1" if cid != "c5" else "rep3"))
    for cid, values in amounts.items():
        for n, value in enumerate(values):
            oid = f"{cid}-o{n}"
            owner = "rep1" if cid != "c5" else "rep3"
            org.handle(ev.opportunity(oid, owner, value, customer=cid))
            org.handle(ev.won(oid, value, signed[cid] if n == 0 else "2026-03-01"))
    return org.store


def test_abc_classes_by_cumulative_share_of_deal_amount(deals, who):
    report = reports.customer_value(deals, who("admin"), model="abc", as_of=TODAY)
    classes = {i["customer_id"]: i["class"] for i in report["items"]}
    # total 10000: c1 starts at 0% (A), c2 at 70% (B), c3 at 90% -> C, ...
    assert classes == {"c1": "A", "c2": "B", "c3": "C", "c4": "C", "c5": "C"}
    assert report["total_amount"] == "10000.00"
    assert report["classes"][0] == {"class": "A", "count": 1, "amount": "7000.00",
                                    "share": 0.7}
    c2 = next(i for i in report["items"] if i["customer_id"] == "c2")
    assert (c2["deals"], c2["amount"], c2["cumulative_share"]) == (2, "2000.00", 0.9)


def test_rfm_scores(deals, who):
    report = reports.customer_value(deals, who("admin"), model="rfm", as_of=TODAY)
    items = {i["customer_id"]: i for i in report["items"]}
    assert items["c1"]["recency_days"] == 3
    assert items["c1"]["score"] == "545"  # one deal: 4 of 5 customers have at most one
    assert items["c2"]["frequency"] == 2 and items["c2"]["f"] == 5
    assert items["c4"]["recency_days"] == 365 and items["c4"]["r"] == 1
    assert items["c5"]["m"] == 1


def test_customer_value_honours_visibility(deals, who):
    report = reports.customer_value(deals, who("rep3"), model="abc", as_of=TODAY)
    assert [i["customer_id"] for i in report["items"]] == ["c5"]
    assert report["items"][0]["class"] == "A"


# --- summary ----------------------------------------------------------------------------

def test_summary_counts_what_the_caller_may_see(ev, org, who):
    for e in [ev.customer("c1", "rep1"), ev.customer("c2", "rep2"), ev.customer("c3", None),
              ev.customer("c4", None, region="north"),
              ev.opportunity("o1", "rep1", "100.00"), ev.opportunity("o2", "rep2", "50.25"),
              ev.opportunity("o3", "rep1", "70.00"), ev.won("o3", "80.00"),
              ev("task.created", "t1", {"assignee_id": "rep1"})]:
        org.handle(e)
    assert reports.summary(org.store, who("rep1")) == {
        "customers": 1, "customers_in_pool": 2, "opportunities_open": 1,
        "pipeline_amount": "100.00", "won_amount": "80.00", "tasks_open": 1,
        "currency": "CNY"}
    admin = reports.summary(org.store, who("admin"))
    assert (admin["customers"], admin["pipeline_amount"]) == (2, "150.25")


def test_forecast_by_expected_close_year(ev, org, who):
    for e in [ev.opportunity("o1", "rep1", "1000.00", close="2026-11-30"),
              ev.opportunity("o2", "rep1", "2000.00", close="2026-12-01", stage="proposal"),
              ev.opportunity("o3", "rep1", "4000.00", close="2027-01-05", stage="contract")]:
        org.handle(e)
    yearly = reports.forecast(org.store, who("rep1"), period="year")
    assert [(r["period"], r["count"], r["amount"], r["weighted_amount"])
            for r in yearly["rows"]] == [("2026", 2, "3000.00", "1100.00"),
                                         ("2027", 1, "4000.00", "3600.00")]


def test_forecast_vs_target_shows_won_expected_and_the_gap(ev, org, who):
    ev.at(NOV)
    for e in [ev.opportunity("o1", "rep1", "1000.00", close="2026-11-30"),
              ev.opportunity("o2", "rep1", "2000.00", close="2026-12-01", stage="proposal"),
              ev.opportunity("o3", "rep1", "4000.00", close="2027-01-05", stage="contract"),
              ev.opportunity("o4", "rep1", "3000.00", close="2026-12-20"),
              ev.opportunity("o5", "rep3", "8000.00", close="2026-12-20", stage="proposal")]:
        org.handle(e)
    org.handle(ev.won("o4", "3000.00", signed_on="2026-11-20"))
    org.store.put_target("owner", "rep1", "2026", 1000000)          # 10000.00 for the year
    rows = rows_by(reports.forecast_vs_target(org.store, who("admin"), today=TODAY))
    mine = rows[("rep1", "2026")]
    assert mine == {"key": "rep1", "label": mine["label"], "period": "2026",
                    "won_amount": "3000.00", "open_count": 2, "open_amount": "3000.00",
                    "weighted_amount": "1100.00", "expected_amount": "4100.00",
                    "target": "10000.00", "gap": "5900.00", "attainment": 0.3,
                    "expected_attainment": 0.41}
    assert rows[("rep3", "2026")]["target"] is None and rows[("rep3", "2026")]["gap"] is None
    assert ("rep1", "2027") not in rows                # outside the periods asked for
    # a rep sees only their own row; by quarter the year's target is not split up
    own = reports.forecast_vs_target(org.store, who("rep1"), period="quarter", today=TODAY)
    assert {r["key"] for r in own["rows"]} == {"rep1"}
    assert own["rows"][0]["period"] == "2026-Q4" and own["rows"][0]["target"] is None
    later = rows_by(reports.forecast_vs_target(org.store, who("admin"), start=date(2027, 1, 1),
                                               end=date(2027, 12, 31), today=TODAY))
    assert later[("rep1", "2027")]["weighted_amount"] == "3600.00"
