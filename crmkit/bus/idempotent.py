"""Apply an event's change to one document at most once, in the same write.

The event id goes into the document's `_seen_events` (a bounded list) by the very update
that applies the change, and the update only matches while the id is absent; so a
redelivered event changes nothing. With `upsert`, a duplicate shows as DuplicateKeyError
on `_id`, which also means "already applied".

The list is bounded without `$push`/`$slice` (FerretDB 1.24 ignores `$slice`): once it
has grown TRIM_SLACK past WINDOW, one conditional write cuts it back to the newest WINDOW
ids, and only if it is still the list just read (a concurrent apply keeps its id).
"""
from __future__ import annotations

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

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
    seen = applied.get(SEEN) or []
    if len(seen) >= WINDOW + TRIM_SLACK:
        collection.update_one({"_id": applied["_id"], SEEN: seen},
                              {"$set": {SEEN: seen[-WINDOW:]}})
    return True
