"""The login rate-limit policy over stored attempt records."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from crmkit.errors import TooManyRequests
from gateway.identity.throttle import Attempt, Limit, LoginThrottle

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
IP = "10.0.0.7"


@pytest.fixture
def throttle():
    return LoginThrottle()


def failures(throttle, count, *, user="zhang.san", ip=IP, start=T0, step=timedelta(seconds=10)):
    records = []
    for n in range(count):
        records += throttle.failure(user, ip, start + n * step)
    return records


def test_first_attempt_is_allowed(throttle):
    assert throttle.decide("zhang.san", IP, [], T0).allowed


def test_four_failures_still_allow_a_fifth_try(throttle):
    records = failures(throttle, 4)
    assert throttle.decide("zhang.san", IP, records, T0 + timedelta(minutes=1)).allowed


def test_five_failures_within_five_minutes_block_with_retry_after(throttle):
    records = failures(throttle, 5)          # at 0s, 10s, ..., 40s
    now = T0 + timedelta(seconds=60)
    decision = throttle.decide("zhang.san", IP, records, now)
    assert not decision.allowed
    assert decision.key == "user:zhang.san"
    assert decision.retry_after == 240      # the first failure leaves the window at 300s


def test_block_lifts_when_the_oldest_failure_leaves_the_window(throttle):
    records = failures(throttle, 5)
    assert not throttle.decide("zhang.san", IP, records, T0 + timedelta(seconds=299)).allowed
    assert throttle.decide("zhang.san", IP, records, T0 + timedelta(seconds=301)).allowed


def test_retry_after_is_at_least_one_second(throttle):
    records = failures(throttle, 5, step=timedelta(0))
    decision = throttle.decide("zhang.san", IP, records,
                               T0 + timedelta(minutes=5) - timedelta(milliseconds=1))
    assert decision.retry_after == 1


def test_failures_spread_over_more_than_the_window_do_not_block(throttle):
    records = failures(throttle, 5, step=timedelta(minutes=2))
    assert throttle.decide("zhang.san", IP, records, T0 + timedelta(minutes=8, seconds=1)).allowed


def test_a_success_resets_the_username_counter(throttle):
    records = failures(throttle, 4)
    records += throttle.success("zhang.san", IP, T0 + timedelta(seconds=50))
    records += failures(throttle, 4, start=T0 + timedelta(seconds=60))
    assert throttle.decide("zhang.san", IP, records, T0 + timedelta(seconds=120)).allowed


def test_a_success_does_not_reset_the_ip_counter(throttle):
    records = []
    for n in range(100):
        records += throttle.failure(f"user{n}", IP, T0 + timedelta(seconds=n))
    records += throttle.success("zhang.san", IP, T0 + timedelta(seconds=110))
    assert [a.key for a in throttle.success("zhang.san", IP, T0)] == ["user:zhang.san"]
    decision = throttle.decide("zhang.san", IP, records, T0 + timedelta(seconds=120))
    assert not decision.allowed and decision.key == "ip:" + IP


def test_one_users_failures_do_not_block_another_user(throttle):
    records = failures(throttle, 5, user="li.si")
    assert throttle.decide("zhang.san", IP, records, T0 + timedelta(minutes=1)).allowed


def test_the_same_username_from_other_addresses_is_still_blocked(throttle):
    records = []
    for n in range(5):
        records += throttle.failure("zhang.san", f"10.0.0.{n}", T0 + timedelta(seconds=n))
    assert not throttle.decide("zhang.san", "192.168.1.9", records,
                               T0 + timedelta(minutes=1)).allowed


def test_the_longest_wait_wins_when_both_counters_block():
    throttle = LoginThrottle(per_username=Limit(2, timedelta(minutes=5), True),
                             per_ip=Limit(2, timedelta(minutes=30), False))
    records = failures(throttle, 2)
    decision = throttle.decide("zhang.san", IP, records, T0 + timedelta(minutes=1))
    assert decision.key == "ip:" + IP
    assert decision.retry_after == 29 * 60


def test_without_a_client_address_only_the_username_counts(throttle):
    assert list(throttle.keys("zhang.san", None)) == ["user:zhang.san"]


def test_a_blocked_decision_raises_429_with_retry_after(throttle):
    decision = throttle.decide("zhang.san", IP, failures(throttle, 5), T0 + timedelta(minutes=1))
    with pytest.raises(TooManyRequests) as caught:
        decision.raise_if_blocked()
    assert caught.value.status == 429
    assert caught.value.extra["retry_after"] == decision.retry_after
    assert caught.value.extra["headers"] == {"Retry-After": str(decision.retry_after)}
    assert "秒" in caught.value.detail and "seconds" in caught.value.detail


def test_an_allowed_decision_raises_nothing(throttle):
    throttle.decide("zhang.san", IP, [], T0).raise_if_blocked()


def test_horizon_covers_the_longest_window():
    throttle = LoginThrottle(per_ip=Limit(20, timedelta(minutes=15), False))
    assert throttle.horizon(T0) == T0 - timedelta(minutes=15)


def test_records_from_the_future_are_ignored(throttle):
    records = failures(throttle, 5, start=T0 + timedelta(hours=1))
    assert throttle.decide("zhang.san", IP, records, T0).allowed


def test_limits_can_be_tuned_from_the_environment():
    throttle = LoginThrottle.from_env({"CRM_LOGIN_MAX_FAILURES": "3",
                                       "CRM_LOGIN_IP_MAX_FAILURES": "7",
                                       "CRM_LOGIN_WINDOW_SECONDS": "60"})
    assert throttle.per_username == Limit(3, timedelta(seconds=60), True)
    assert throttle.per_ip == Limit(7, timedelta(seconds=60), False)
    assert LoginThrottle.from_env({}).per_username == Limit(5, timedelta(minutes=5), True)


def test_attempt_is_a_plain_record():
    assert Attempt("user:x", T0, False) == Attempt("user:x", T0, False)
