"""Apply an event's change to one document at most once, in the same write.

The event id goes into the document's `_seen_events` (a bounded list) by the very update
that applies the change, and the update only matches while the id is absent; so a
redelivered event changes nothing. With `upsert`, a duplicate shows as DuplicateKeyError
on `_id`, which also means "already applied".
"""
from __future__ import annotations

from pymongo.errors import DuplicateKeyError

SEEN = "_seen_events"
WINDOW = 500  # redeliveries come within minutes; far more than a document's recent events


def apply_once(collection, filter_: dict, update: dict, event_id: str, *,
               upsert: bool = False) -> bool:
    """True if the change was applied now; False if this event was applied before
    (or, without upsert, the document does not exist)."""
    guarded = {**filter_, SEEN: {"$ne": event_id}}
    merged = {op: dict(fields) for op, fields in update.items()}
    merged.setdefault("$push", {})[SEEN] = {"$each": [event_id], "$slice": -WINDOW}
    try:
        result = collection.update_one(guarded, merged, upsert=upsert)
    except DuplicateKeyError:
        return False
    return bool(result.matched_count or result.upserted_id is not None)
