"""The reminder scheduler's loop: it sleeps until the earliest pending reminder is due
instead of sweeping on a short fixed interval.

It runs as the worker's `reminders` job (crmkit.scheduling.run_periodic): the replica
holding the job's lease runs `hold(now)`, which fires what is due, then waits for the
next due time, for at most HOLD seconds, and returns so that run_periodic renews the
lease. The other replica stands by and takes over when the lease expires. Each reminder
still fires exactly once without the lease: a task is written only if still at the
version read, its `reminder.due` in its outbox in the same write (TaskHandlers.
fire_due_reminders), so two sweepers that overlap (a lease that expired under a slow
holder) cannot both fire one reminder.

Tasks written by other processes (an API creating a task due in a minute) move the
schedule's `at` earlier; the loop sees that when it next reads the schedule, at most
SAFETY_NET seconds later.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Callable

from crmkit.clock import as_utc, utcnow
from crmkit.scheduling import PeriodicJob

HOLD = 6.0          # seconds one run keeps the lease before returning to run_periodic
SAFETY_NET = 3.0    # seconds between reads of the schedule while nothing is due sooner
INTERVAL = 0.05     # run_periodic's pause between two holds
LEASE_TTL = 15.0    # a dead holder's standby takes over after this long (a stopped one
                    # hands the lease over at once)


class ReminderLoop:
    def __init__(self, fire_due: Callable[[datetime], int],
                 next_due: Callable[[], datetime | None], *,
                 clock: Callable[[], datetime] = utcnow, hold: float = HOLD,
                 safety_net: float = SAFETY_NET):
        self.fire_due = fire_due   # one sweep: fires what is due at `now`
        self._next_due = next_due
        self._clock = clock
        self._hold = hold
        self._safety_net = safety_net
        self._wakeup = threading.Event()

    def wake(self) -> None:
        """A reminder may be due sooner than the loop thought (a write in this process)."""
        self._wakeup.set()

    def hold(self, now: datetime | None = None) -> int:
        """Fire what is due until HOLD seconds have passed, sleeping in between until
        the next reminder is due. Returns how many fired."""
        until = time.monotonic() + self._hold
        fired = 0
        while True:
            fired += self.fire_due(as_utc(self._clock()))
            left = until - time.monotonic()
            if left <= 0:
                return fired
            self._wakeup.wait(self._pause(left))
            self._wakeup.clear()

    def _pause(self, left: float) -> float:
        pause = min(left, self._safety_net)
        next_due = self._next_due()
        if next_due is not None:
            pause = min(pause, (as_utc(next_due) - as_utc(self._clock())).total_seconds())
        return max(0.0, pause)


def reminder_job(handlers, tasks_repository) -> PeriodicJob:
    """The worker's `reminders` job: whoever holds its lease runs the loop."""
    loop = ReminderLoop(handlers.fire_due_reminders, tasks_repository.next_reminder_at)
    return PeriodicJob("reminders", INTERVAL, loop.hold, lease_ttl=LEASE_TTL)
