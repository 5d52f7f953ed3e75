"""Auto-reclaim: the rules of §4, on demand (POST /pool/reclaim?as_of=) and daily, safe
with two worker replicas."""
from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone

import pytest

from crm_testing import eventually
from crmkit.bus.outbox import pending_envelopes

from customer_helpers import (Clock, EventSpy, create, customer_body, identity,
                              service_handlers, url)

RECLAIM = "/api/v1/pool/reclaim"


@pytest.fixture
def rules(corg):
    def put(**body):
        reply = corg.admin.put("/api/v1/pool/rules", json=body)
        assert reply.status_code == 200, reply
        return reply.json
    yield put
    corg.admin.put("/api/v1/pool/rules", json={})


def today(handlers) -> date:
    return handlers.today()


def test_warn_then_reclaim_through_the_api(corg, rules, handlers, customer_settings):
    rep = corg.user("rep")
    customer = create(rep)
    rules(auto_reclaim=True, days_without_followup=10, warn_days_before=3)
    start = today(handlers)
    with EventSpy(customer_settings.amqp_url, "customer.*") as spy:
        assert corg.admin.post(f"{RECLAIM}?as_of={start + timedelta(days=6)}").json[
            "warned"] == []
        warned = corg.admin.post(f"{RECLAIM}?as_of={start + timedelta(days=7)}")
        assert warned.status_code == 200 and customer["id"] in warned.json["warned"]
        again = corg.admin.post(f"{RECLAIM}?as_of={start + timedelta(days=8)}").json
        assert customer["id"] not in again["warned"]  # one warning per deadline
        reclaimed = corg.admin.post(f"{RECLAIM}?as_of={start + timedelta(days=10)}").json
        assert customer["id"] in reclaimed["reclaimed"]
        warning = eventually(lambda: spy.of("customer.reclaim_warning", customer["id"]))
        returned = eventually(lambda: spy.of("customer.returned", customer["id"]))
        assert len(warning) == 1 and warning[0]["data"]["days_left"] == 3
        assert warning[0]["data"]["due_on"] == str(start + timedelta(days=10))
        assert returned[0]["data"]["auto"] is True and returned[0]["actor_id"] is None
    assert rep.get(url(customer)).json["view"] == "public"
    history = corg.admin.get(url(customer, "/history")).json
    assert history[-1]["action"] == "reclaimed" and history[-1]["actor_id"] is None


def test_a_followup_postpones_the_reclaim(corg, rules, handlers):
    rep = corg.user("rep")
    customer = create(rep)
    rules(auto_reclaim=True, days_without_followup=10)
    start = today(handlers)
    logged = rep.post(url(customer, "/interactions"), json={
        "occurred_at": datetime.now(timezone.utc).isoformat(), "method": "visit",
        "subject": "拜访", "content": "面谈"})
    assert logged.status_code == 201
    assert customer["id"] in corg.admin.post(
        f"{RECLAIM}?as_of={start + timedelta(days=10)}").json["reclaimed"]
    other = create(rep)
    rules(auto_reclaim=True, days_without_followup=10, exempt_statuses=["intent"],
          level_days={"A": 30})
    exempt = create(rep, status="intent")
    level_a = create(rep, level="A")
    result = corg.admin.post(f"{RECLAIM}?as_of={start + timedelta(days=12)}").json
    assert other["id"] in result["reclaimed"]
    assert exempt["id"] not in result["reclaimed"] and level_a["id"] not in result["reclaimed"]


def test_days_without_deal(corg, rules, handlers):
    rep, manager = corg.user("rep"), corg.user("manager", "east", "east")
    dealt = create(rep)
    # Deal dates are kept by won opportunities or set by a manager, not by the rep.
    assert manager.patch(url(dealt), json={
        "last_deal_on": str(today(handlers) + timedelta(days=20))}).status_code == 200
    idle = create(rep)
    rules(auto_reclaim=True, days_without_deal=30)
    result = corg.admin.post(f"{RECLAIM}?as_of={today(handlers) + timedelta(days=31)}").json
    assert idle["id"] in result["reclaimed"] and dealt["id"] not in result["reclaimed"]


def test_switched_off_rules_reclaim_nothing(corg, rules, handlers):
    customer = create(corg.user("rep"))
    rules(days_without_followup=1)
    result = corg.admin.post(f"{RECLAIM}?as_of={today(handlers) + timedelta(days=400)}").json
    assert customer["id"] not in result["reclaimed"]


def test_reclaim_is_admin_only(corg):
    assert corg.user("supervisor", "east/shanghai").post(RECLAIM).status_code == 403
    assert corg.admin.post(f"{RECLAIM}?as_of=tomorrow").status_code == 422


def test_two_replicas_never_return_or_warn_twice():
    clock = Clock(datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc))
    first = service_handlers(clock)
    second = service_handlers(clock, db=first.repository.db)  # another worker, same data
    rep = identity("rep1")
    ids = [first.create_customer(customer_body(), rep).id for _ in range(40)]
    first.put_rules({"auto_reclaim": True, "days_without_followup": 10,
                     "warn_days_before": 5}, identity("admin", "admin"))

    def run_both(as_of):
        reports = []
        threads = [threading.Thread(target=lambda h=h: reports.append(h.run_reclaim(as_of)))
                   for h in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return reports

    warned = run_both(date(2026, 12, 1))
    assert sorted(sum((r["warned"] for r in warned), [])) == sorted(ids)
    reclaimed = run_both(date(2026, 12, 3))
    assert sorted(sum((r["reclaimed"] for r in reclaimed), [])) == sorted(ids)
    for customer_id in ids:
        doc = first.repository.customers.find_one({"_id": customer_id})
        assert [h["action"] for h in doc["history"]] == ["created", "reclaimed"]
        assert doc["owner_id"] is None
    events = [e["type"] for doc in first.repository.customers.find({"_id": {"$in": ids}})
              for e in pending_envelopes(doc)]
    assert events.count("customer.reclaim_warning") == 40
    assert events.count("customer.returned") == 40


def test_the_daily_run_happens_once_per_local_day():
    clock = Clock(datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc))  # 10:00 on the 23rd
    handlers = service_handlers(clock)
    rep = identity("rep1")
    handlers.put_rules({"auto_reclaim": True, "days_without_followup": 1},
                       identity("admin", "admin"))
    early = handlers.create_customer(customer_body(), rep)
    handlers.scheduled_reclaim(datetime(2026, 11, 24, 1, 0, tzinfo=timezone.utc))
    assert handlers.load(early.id).owner_id is None
    assert handlers.repository.runs.done("reclaim:2026-11-24")
    clock.now = datetime(2026, 11, 21, 2, 0, tzinfo=timezone.utc)
    stale = handlers.create_customer(customer_body(), rep)  # due since the 22nd
    handlers.scheduled_reclaim(datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc))  # 17:00
    assert handlers.load(stale.id).owner_id == "rep1"  # the 24th has had its run
    handlers.scheduled_reclaim(datetime(2026, 11, 24, 16, 30, tzinfo=timezone.utc))  # 25th
    assert handlers.load(stale.id).owner_id is None
