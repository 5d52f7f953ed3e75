"""Apply an event's change to one document at most once, in the same write.

The event id goes into the document's `_seen_events` (a bounded list) by the very update
that applies the change, and the update only matches while the id is absent; so a
redelivered event changes nothing. With `upsert`, a duplicate shows as DuplicateKeyError
on `_id`, which also means "already applied".

The list is bounded by `crmkit.queries.trim_list` (FerretDB 1.24 has no `$slice`).
"""
from __future__ import annotations

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from crmkit.queries import trim_list

SEEN = "_seen_events"
WINDOW = 500  # redeliveries come within minutes; far more than a document's recent events
TRIM_SLACK = 100


def apply_once(collection, filter_: dict, update: dict, event_id: str, *,
               upsert: bool = False) -> bool:
    """True if the change was applied now; False if this event was applied before
    (or, without upsert, the document does not exist)."""
    guarded = {**filter_, SEEN: {"$ne": event_id}}
    merged = {op: dict(fields) for op, fields in update.items()}
    merged.setdefault("$push", {})[SEEN] = event_id
    try:
        applied = collection.find_one_and_update(guarded, merged, upsert=upsert,
                                                 return_document=ReturnDocument.AFTER)
    except DuplicateKeyError:
        return False
    if applied is None:
        return False
    trim_list(collection, applied, SEEN, keep=WINDOW, slack=TRIM_SLACK)
    return True
