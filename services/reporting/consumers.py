"""Reporting consumes every event (binds "#"): it keeps each one, then projects it; with
`batch_size` > 1 (Settings.consumer_batch), in batches of what the broker delivers (a
few writes per batch rather than per event)."""
from __future__ import annotations

from crmkit.bus.consumer import Subscriptions

# the most events per batch: a summed counter write is guarded by one operation id per entity in
# it, a `$nin` list FerretDB turns into SQL kept short like repository.FETCH_CHUNK's
BATCH_SIZE = 100
BATCH_WAIT_S = 0.1   # a lone event waits this long for company (reports: within 2 s)


def subscriptions(handlers, batch_size: int = 1) -> Subscriptions:
    batch_size = min(batch_size, BATCH_SIZE)
    return Subscriptions(catch_all=handlers.on_event,
                         batch=handlers.on_events if batch_size > 1 else None,
                         batch_size=batch_size, batch_wait_s=BATCH_WAIT_S)
