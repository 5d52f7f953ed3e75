"""Schedulers in several replicas: a lease has one holder; claim_once fires once."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from crmkit.clock import utcnow
from crmkit.scheduling import Lease, PeriodicJob, claim_once, run_periodic
from crm_testing import eventually, fresh_database

TTL = timedelta(seconds=30)


@pytest.fixture
def leases():
    return fresh_database("sched")["_leases"]


def test_of_two_holders_one_wins(leases):
    now = utcnow()
    first, second = Lease(leases, "job:x", ttl=TTL, holder="a"), Lease(leases, "job:x", ttl=TTL, holder="b")
    assert first.acquire(now) is True
    assert second.acquire(now) is False
    assert second.acquire(now + timedelta(seconds=29)) is False


def test_the_holder_renews_its_lease(leases):
    now = utcnow()
    holder = Lease(leases, "job:x", ttl=TTL, holder="a")
    assert holder.acquire(now)
    assert holder.acquire(now + timedelta(seconds=20))   # renewal moves the expiry on
    assert not Lease(leases, "job:x", ttl=TTL, holder="b").acquire(now + timedelta(seconds=40))


def test_an_expired_lease_hands_over(leases):
    now = utcnow()
    crashed, successor = Lease(leases, "job:x", ttl=TTL, holder="a"), Lease(leases, "job:x", ttl=TTL, holder="b")
    assert crashed.acquire(now)
    later = now + TTL + timedelta(seconds=1)
    assert successor.acquire(later) is True
    assert crashed.acquire(later) is False  # the old holder does not take it back


def test_a_released_lease_is_free_at_once(leases):
    first, second = Lease(leases, "job:x", ttl=TTL, holder="a"), Lease(leases, "job:x", ttl=TTL, holder="b")
    assert first.acquire()
    first.release()
    assert second.acquire()


def test_different_jobs_have_different_leases(leases):
    assert Lease(leases, "job:x", ttl=TTL, holder="a").acquire()
    assert Lease(leases, "job:y", ttl=TTL, holder="b").acquire()


def test_racing_replicas_one_wins(leases):
    now = utcnow()
    barrier = threading.Barrier(12)
    winners = []

    def replica(name):
        barrier.wait()
        if Lease(leases, "job:race", ttl=TTL, holder=name).acquire(now):
            winners.append(name)

    threads = [threading.Thread(target=replica, args=(f"r{n}",)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1


def test_claim_once_is_true_for_one_caller_per_key(leases):
    barrier = threading.Barrier(12)
    results = []

    def replica():
        barrier.wait()
        results.append(claim_once(leases, "reminder:42:2026-01-01", by="x"))

    threads = [threading.Thread(target=replica) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 1
    assert claim_once(leases, "reminder:42:2026-01-01") is False
    assert claim_once(leases, "reminder:43:2026-01-01") is True
    assert leases.find_one({"_id": "reminder:42:2026-01-01"})["by"] == "x"


def test_a_replica_stopping_in_good_order_hands_its_lease_over_at_once(leases):
    """Without the hand-over a standby would wait out the whole TTL (here an hour)."""
    ran, stop = threading.Event(), threading.Event()
    job = PeriodicJob("handover", 0.05, lambda now: ran.set(), lease_ttl=3600)
    thread = threading.Thread(target=run_periodic, args=(job, leases, stop), daemon=True)
    thread.start()
    eventually(ran.is_set, timeout=30, message="the job ran under its lease")
    standby = Lease(leases, "job:handover", ttl=timedelta(hours=1), holder="standby")
    assert not standby.acquire()
    stop.set()
    thread.join(30)
    assert not thread.is_alive()
    assert standby.acquire()
