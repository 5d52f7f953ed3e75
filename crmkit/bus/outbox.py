"""The transactional outbox, single-document flavour, and its relay.

A state change and the events it causes go into ONE MongoDB write: the envelopes are
appended to the changed document's `_outbox` array (standalone MongoDB has no
multi-document transactions). The relay leases a document with pending events,
publishes them with confirms, then pulls exactly the confirmed ones. A crash before the
pull republishes them: consumers dedupe by event id (at-least-once).
"""
from __future__ import annotations

import logging
import threading
import time
import weakref
from datetime import timedelta

from pymongo import ReturnDocument

from crmkit import nesting
from crmkit.bus.publisher import Unroutable
from crmkit.clock import utcnow

log = logging.getLogger(__name__)

OUTBOX = "_outbox"
PENDING = "_outbox_pending"
LEASE = "_outbox_lease"
INTERNAL_FIELDS = (OUTBOX, PENDING, LEASE, "_seen_events")
INDEX = [(PENDING, 1)]

_relays: "weakref.WeakSet[OutboxRelay]" = weakref.WeakSet()


def notify_outbox(collection: str | None = None, ids=()) -> None:
    """Wake this process's relays now rather than at their next poll. Naming the
    collection and document ids lets them lease exactly those documents, no scan."""
    for relay in list(_relays):
        relay.hint(collection, ids)


def outbox_fields(envelopes: list[dict]) -> dict:
    """Fields to put on a new document along with its first events."""
    return {OUTBOX: nesting.encode(list(envelopes)), PENDING: bool(envelopes)}


def with_outbox(update: dict, envelopes: list[dict]) -> dict:
    """Extend a MongoDB update document so it also appends `envelopes` to the outbox."""
    if not envelopes:
        return update
    merged = {op: dict(fields) for op, fields in update.items()}
    merged.setdefault("$push", {})[OUTBOX] = {"$each": nesting.encode(list(envelopes))}
    merged.setdefault("$set", {})[PENDING] = True
    return merged


def strip_internal(doc: dict | None) -> dict | None:
    if doc is None:
        return None
    return {k: v for k, v in doc.items() if k not in INTERNAL_FIELDS}


class OutboxRelay:
    def __init__(self, database, collections, publisher, *, interval: float = 0.2,
                 lease_seconds: float = 30.0, name: str = "relay", batch: int = 200):
        self._database = database
        self._collections = list(collections)
        self._publisher = publisher
        self._interval = interval
        self._lease = timedelta(seconds=lease_seconds)
        self._wakeup = threading.Event()
        self.name = name
        self.batch = batch
        self.published = 0
        self.scan_seconds = 0.0  # the last pass's time in candidate queries (not publishing)
        self._hint_lock = threading.Lock()
        self._hinted: dict[str, set] = {}
        self._scan_requested = False
        _relays.add(self)

    def wake(self) -> None:
        self._wakeup.set()

    def hint(self, collection: str | None, ids=()) -> None:
        with self._hint_lock:
            if collection in self._collections and ids:
                self._hinted.setdefault(collection, set()).update(ids)
            elif collection is None or collection in self._collections:
                self._scan_requested = True
        self._wakeup.set()

    def publish_hinted(self) -> int:
        """Publish the documents writers in this process named; no collection scan."""
        with self._hint_lock:
            hinted, self._hinted = self._hinted, {}
        count = 0
        for name, ids in hinted.items():
            collection = self._database[name]
            for _id in ids:
                doc = self._take_lease(collection, _id)
                if doc is not None:  # else: already published, or another relay has it
                    count += self._publish_document(collection, doc)
        self.published += count
        return count

    def ensure_indexes(self) -> None:
        for name in self._collections:
            self._database[name].create_index(INDEX)

    def publish_pending(self) -> int:
        """Publish every pending event once; returns how many were confirmed.

        Candidates are found a batch at a time, then leased one by one by `_id`, so
        several relays can share the work. A document whose event no queue is bound to
        (Unroutable) keeps its events and is skipped for the rest of this pass, so it
        does not hold up every other document; the pass then re-raises it (logged,
        retried with back-off)."""
        count = 0
        unroutable: Unroutable | None = None
        self.scan_seconds = 0.0
        for name in self._collections:
            collection = self._database[name]
            skipped: set = set()
            while True:
                query = {PENDING: True}
                if skipped:
                    query["_id"] = {"$nin": list(skipped)}
                started = time.monotonic()
                candidates = [d["_id"] for d in
                              collection.find(query, {"_id": 1}).limit(self.batch)]
                self.scan_seconds += time.monotonic() - started
                leased_any = False
                for _id in candidates:
                    doc = self._take_lease(collection, _id)
                    if doc is None:  # another relay holds it
                        continue
                    leased_any = True
                    try:
                        count += self._publish_document(collection, doc)
                    except Unroutable as error:
                        skipped.add(_id)
                        unroutable = unroutable or error
                if not leased_any:
                    break
        self.published += count
        if unroutable is not None:
            raise unroutable
        return count

    def _lease_next(self, collection):
        """Lease the first pending document, if any (what a pass does first)."""
        for candidate in collection.find({PENDING: True}, {"_id": 1}).limit(self.batch):
            doc = self._take_lease(collection, candidate["_id"])
            if doc is not None:
                return doc
        return None

    def _take_lease(self, collection, _id):
        now = utcnow()
        return collection.find_one_and_update(
            {"_id": _id, PENDING: True, "$or": [{LEASE: None}, {LEASE: {"$lt": now}}]},
            {"$set": {LEASE: now + self._lease}},
            return_document=ReturnDocument.AFTER)  # no projection: FerretDB 1.24 has none here

    def _publish_document(self, collection, doc) -> int:
        confirmed: list[dict] = []
        try:
            for envelope in doc.get(OUTBOX) or []:
                self._publisher.publish(nesting.decode(envelope))
                confirmed.append(envelope)
        finally:
            # Pull what the broker confirmed, even if a later publish failed: the exact
            # envelopes as read ($pullAll by value works on MongoDB and FerretDB alike).
            collection.update_one({"_id": doc["_id"]}, {
                "$pullAll": {OUTBOX: confirmed}, "$unset": {LEASE: ""}})
            collection.update_one({"_id": doc["_id"], OUTBOX: {"$size": 0}},
                                  {"$set": {PENDING: False}})
        return len(confirmed)

    def run(self, stop: threading.Event) -> None:
        """Publish hinted documents at once; scan for anything else (other processes'
        writes, crashes, failed publishes) every `interval`, but never spend more than
        about a tenth of the time scanning: on a store without indexes a scan grows
        with the collection, and the hints already cover this process's own writes.
        Only the queries for candidates count as scanning: the time spent publishing
        what they found must not put off the next scan (under a steady load of other
        processes' writes it grew with the backlog, and events waited tens of seconds)."""
        failures = 0
        next_scan = 0.0
        while not stop.is_set():
            self._wakeup.clear()  # a hint arriving while we work wakes the next wait
            try:
                self.publish_hinted()
                with self._hint_lock:
                    scan_now, self._scan_requested = self._scan_requested, False
                if scan_now or time.monotonic() >= next_scan:
                    self.publish_pending()
                    next_scan = time.monotonic() + max(self._interval,
                                                       10 * self.scan_seconds)
                failures = 0
            except Exception:
                failures += 1
                next_scan = 0.0  # retry the failed work by a scan after the back-off
                log.exception("outbox relay %s failed; retrying", self.name)
            if failures:
                delay = min(5.0, 0.2 * 2 ** failures)
            else:
                delay = max(0.0, next_scan - time.monotonic())
            self._wakeup.wait(delay)
