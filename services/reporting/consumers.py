"""Reporting consumes every event (binds "#"): it keeps each one, then projects it, in
batches of what the broker delivers (a few writes per batch rather than per event)."""
from __future__ import annotations

from crmkit.bus.consumer import Subscriptions

# events per batch: a summed counter write is guarded by one operation id per entity in
# it, a `$nin` list FerretDB turns into SQL kept short like repository.FETCH_CHUNK's
BATCH_SIZE = 100
BATCH_WAIT_S = 0.1   # a lone event waits this long for company (reports: within 2 s)


def subscriptions(handlers) -> Subscriptions:
    return Subscriptions(catch_all=handlers.on_event, batch=handlers.on_events,
                         batch_size=BATCH_SIZE, batch_wait_s=BATCH_WAIT_S)
