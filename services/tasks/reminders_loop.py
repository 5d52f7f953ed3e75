"""The reminder scheduler's loop: it sleeps until the earliest pending reminder is due
instead of sweeping on a short fixed interval.

It runs as the worker's `reminders` job (crmkit.scheduling.run_periodic): the replica
holding the job's lease runs `hold(now, stop)`, which fires what is due, then waits for
the next due time, for at most HOLD seconds, and returns so that run_periodic renews the
lease; it waits on the worker's stop event, so that a stopping worker lets go at once.
The other replica stands by and takes over when the lease expires. Each reminder still
fires exactly once without the lease: its `reminder.due` is written only inside
its firing record, whose `_id` (task id + reminder id) a second firing meets as a
duplicate key (TaskHandlers.fire_due_reminders), so two sweepers that overlap (a lease
that expired under a slow holder) cannot both fire one reminder.

It wakes READ_AHEAD seconds before the next reminder is due and reads what falls due by
then, so that at the due moment only the inserts of the firing records remain (reading
10,000 due tasks takes seconds on FerretDB).

Tasks written by other processes (an API creating a task due in a minute) move the
schedule's `at` earlier; the loop sees that when it next reads the schedule, at most
SAFETY_NET seconds later.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime
from functools import partial
from typing import Callable

from crmkit.clock import as_utc, utcnow
from crmkit.scheduling import PeriodicJob

HOLD = 6.0          # seconds one run keeps the lease before returning to run_periodic
READ_AHEAD = 5.0    # seconds before a reminder is due that a sweep reads it
FIRING_BUDGET = 15.0  # seconds a sweep keeps firing from its due moment (a burst of
                      # 10,000 on a busy FerretDB takes that long) before it lets go
SAFETY_NET = 3.0    # seconds between reads of the schedule while nothing is due sooner
INTERVAL = 0.05     # run_periodic's pause between two holds
LEASE_TTL = 40.0    # a dead holder's standby takes over after this long (a stopped one
                    # hands the lease over at once); more than one sweep takes (its read,
                    # READ_AHEAD, FIRING_BUDGET), so that a busy holder keeps it


class ReminderLoop:
    def __init__(self, fire_due: Callable[..., int],
                 next_due: Callable[[], datetime | None], *,
                 clock: Callable[[], datetime] = utcnow, hold: float = HOLD,
                 safety_net: float = SAFETY_NET, read_ahead: float = 0.0):
        self.fire_due = fire_due   # one sweep: fires what is due at `now` (and what
                                   # falls due within `read_ahead` seconds, at its time,
                                   # waiting on the `stop` event it is given)
        self._read_ahead = read_ahead
        self._next_due = next_due
        self._clock = clock
        self._hold = hold
        self._safety_net = safety_net

    def hold(self, now: datetime | None = None,
             stop: threading.Event | None = None) -> int:
        """Fire what is due until HOLD seconds have passed, sleeping in between until
        the next reminder is due, or until `stop` is set. Returns how many fired."""
        stop = stop or threading.Event()   # none: a hold of its full length
        until = time.monotonic() + self._hold
        fired = 0
        while not stop.is_set():
            fired += self.fire_due(as_utc(self._clock()), stop=stop)
            left = until - time.monotonic()
            if left <= 0 or stop.wait(self._pause(left)):
                break
        return fired

    def _pause(self, left: float) -> float:
        pause = min(left, self._safety_net)
        next_due = self._next_due()
        if next_due is not None:
            pause = min(pause, (as_utc(next_due) - as_utc(self._clock())).total_seconds()
                        - self._read_ahead)
        return max(0.0, pause)


def reminder_job(handlers) -> PeriodicJob:
    """The worker's `reminders` job: whoever holds its lease runs the loop."""
    loop = ReminderLoop(partial(handlers.fire_due_reminders, read_ahead=READ_AHEAD,
                                budget_seconds=FIRING_BUDGET),
                        handlers.next_reminder_at, read_ahead=READ_AHEAD)
    return PeriodicJob("reminders", INTERVAL, loop.hold, lease_ttl=LEASE_TTL,
                       stoppable=True)
