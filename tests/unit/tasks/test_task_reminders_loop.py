"""The reminder loop sleeps until the next reminder is due, within its safety net."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

from services.tasks.reminders_loop import ReminderLoop

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)


def loop_with(next_due, *, safety_net=1.0):
    return ReminderLoop(lambda now, stop: 0, lambda: next_due, clock=lambda: T0,
                        safety_net=safety_net)


def test_it_sleeps_until_the_next_reminder_is_due():
    assert loop_with(T0 + timedelta(seconds=0.3))._pause(left=2.0) == 0.3


def test_it_reads_the_schedule_again_within_its_safety_net():
    assert loop_with(T0 + timedelta(hours=2))._pause(left=2.0) == 1.0
    assert loop_with(None)._pause(left=2.0) == 1.0


def test_it_returns_to_renew_its_lease_when_the_hold_is_over():
    assert loop_with(T0 + timedelta(hours=2))._pause(left=0.2) == 0.2


def test_a_reminder_already_due_is_fired_at_once():
    assert loop_with(T0 - timedelta(seconds=5))._pause(left=2.0) == 0.0


def test_a_hold_fires_and_counts_until_it_is_over():
    fired = []
    loop = ReminderLoop(lambda now, stop: fired.append(now) or 2, lambda: None, hold=0.05,
                        safety_net=0.01)
    assert loop.hold() == 2 * len(fired) and len(fired) >= 2


def test_with_read_ahead_it_wakes_that_long_before_the_next_reminder():
    loop = ReminderLoop(lambda now, stop: 0, lambda: T0 + timedelta(seconds=2.5), clock=lambda: T0,
                        safety_net=3.0, read_ahead=2.0)
    assert loop._pause(left=5.0) == 0.5


def test_a_hold_lets_go_as_soon_as_the_worker_stops():
    """It waits on the worker's stop event (run_periodic gives it), not for its hold:
    a stopping worker hands the lease over at once."""
    stopping = threading.Event()
    fired = []

    def fire_due(now, stop):
        assert stop is stopping   # the sweep waits on it too (for a read-ahead's moment)
        fired.append(now)
        threading.Timer(0.05, stopping.set).start()
        return 1

    loop = ReminderLoop(fire_due, lambda: T0 + timedelta(hours=1), clock=lambda: T0,
                        hold=60.0, safety_net=60.0)
    started = time.monotonic()
    assert loop.hold(stop=stopping) == 1
    assert time.monotonic() - started < 5.0 and len(fired) == 1
