"""The transactional outbox, single-document flavour, and its relay.

A state change and the events it causes go into ONE MongoDB write: the envelopes are
appended to the changed document's `_outbox` array (standalone MongoDB has no
multi-document transactions). The relay leases documents with pending events a batch at
a time, publishes their events with one wait for the broker's confirms, then pulls
exactly the confirmed ones. A crash before the pull republishes them: consumers dedupe
by event id (at-least-once).
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
import weakref
from datetime import timedelta

from pymongo import ReturnDocument

from crmkit import nesting
from crmkit.bus.publisher import NotConfirmed, Unroutable  # noqa: F401 (re-exported)
from crmkit.clock import utcnow

log = logging.getLogger(__name__)

OUTBOX = "_outbox"
PENDING = "_outbox_pending"
LEASE = "_outbox_lease"
INTERNAL_FIELDS = (OUTBOX, PENDING, LEASE, "_seen_events")
INDEX = [(PENDING, 1)]

IDLE_CHECK_S = 5.0   # a relay that does not scan sleeps this long between hints (sees stop)

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
    """Publishes what writers left in the outboxes of `collections`.

    Writers in this process name the documents they changed (`notify_outbox`), and the
    relay publishes those at once; a scan every `interval` seconds is the safety net for
    everything else (other processes' writes, crashes, refused publishes). With
    `interval=None` it only publishes what it is told of and never scans: the relay of
    an API process, whose service's worker scans."""

    def __init__(self, database, collections, publisher, *, interval: float | None = 0.2,
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

    @property
    def scans(self) -> bool:
        return self._interval is not None

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
            ids = list(ids)
            for start in range(0, len(ids), self.batch):
                # a document already published, or leased by another relay, is left out
                docs = self._lease_many(collection, ids[start:start + self.batch])
                published, _ = self._publish_documents(collection, docs)
                count += published
        self.published += count
        return count

    def ensure_indexes(self) -> None:
        for name in self._collections:
            self._database[name].create_index(INDEX)

    def publish_pending(self) -> int:
        """Publish every pending event once; returns how many were confirmed.

        Candidates are found a batch at a time and leased together, so several relays
        can share the work; each batch's events go out with one wait for the broker's
        confirms. A document with an event the broker refused (no queue is bound to it,
        or a nack) keeps that event and the ones after it and is skipped for the rest of
        this pass, so it does not hold up every other document; the pass then re-raises
        the refusal (logged, retried with back-off)."""
        count = 0
        refusal: NotConfirmed | None = None
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
                docs = self._lease_many(collection, candidates) if candidates else []
                if not docs:   # none pending, or other relays hold them all
                    break
                published, refused = self._publish_documents(collection, docs)
                count += published
                for _id, error in refused.items():
                    skipped.add(_id)
                    refusal = refusal or error
        self.published += count
        if refusal is not None:
            raise refusal
        return count

    def _lease_next(self, collection):
        """Lease the first pending document, if any (what a pass does first)."""
        for candidate in collection.find({PENDING: True}, {"_id": 1}).limit(self.batch):
            doc = self._take_lease(collection, candidate["_id"])
            if doc is not None:
                return doc
        return None

    @staticmethod
    def _lease_free(now):
        """Documents by `_id` that are pending and not leased (or whose lease expired).
        `$ne: False`, not `True`: FerretDB's planner then takes the `_id` index rather
        than the flag's, which every pending document shares (5× the time per lease)."""
        return {PENDING: {"$ne": False}, "$or": [{LEASE: None}, {LEASE: {"$lt": now}}]}

    def _take_lease(self, collection, _id):
        now = utcnow()
        return collection.find_one_and_update(
            {"_id": _id, **self._lease_free(now)},
            {"$set": {LEASE: now + self._lease}},
            return_document=ReturnDocument.AFTER)  # no projection: FerretDB 1.24 has none here

    def _lease_many(self, collection, ids: list) -> list[dict]:
        """Lease those of `ids` that are pending and free, in one write and one read
        whatever their number; returns them in the order of `ids`. The lease's expiry is also its
        holder's mark: a time no other relay picks (a random millisecond)."""
        now = utcnow()
        until = now + self._lease + timedelta(milliseconds=1 + secrets.randbelow(10_000))
        until = until.replace(microsecond=until.microsecond // 1000 * 1000)  # as stored
        collection.update_many({"_id": {"$in": ids}, **self._lease_free(now)},
                               {"$set": {LEASE: until}})
        order = {_id: n for n, _id in enumerate(ids)}
        docs = list(collection.find({"_id": {"$in": ids}, LEASE: until}))
        return sorted(docs, key=lambda doc: order.get(doc["_id"], len(order)))

    def _publish_documents(self, collection, docs) -> tuple[int, dict]:
        """Publish the leased documents' events (each document's in order) with one wait
        for the confirms, then pull from each outbox what the broker confirmed before
        its first unconfirmed event, and free the leases. Returns how many were
        published and the refusal of each document the broker refused an event of; a
        failed connection is raised once the confirmed ones are marked sent (the rest
        goes out again later: duplicates at worst)."""
        outboxes = [(doc["_id"], list(doc.get(OUTBOX) or [])) for doc in docs]
        envelopes = [envelope for _, outbox in outboxes for envelope in outbox]
        confirmed: dict = {_id: [] for _id, _ in outboxes}
        try:
            outcomes = iter(self._publisher.publish_batch(
                [nesting.decode(envelope) for envelope in envelopes]) if envelopes else [])
        except Exception:
            self._mark_sent(collection, confirmed)   # frees the leases
            raise
        refused: dict = {}
        failure: Exception | None = None
        for _id, outbox in outboxes:
            kept = False
            for envelope in outbox:
                outcome = next(outcomes)
                if kept:
                    continue   # after an unconfirmed event: kept too, to stay in order
                if outcome is None:
                    confirmed[_id].append(envelope)
                    continue
                kept = True
                if isinstance(outcome, NotConfirmed):
                    refused[_id] = outcome
                else:
                    failure = failure or outcome
        self._mark_sent(collection, confirmed)
        if failure is not None:
            raise failure
        return sum(len(sent) for sent in confirmed.values()), refused

    def _mark_sent(self, collection, confirmed: dict) -> None:
        """Take the confirmed envelopes out of the outboxes and free the leases, in a
        few writes per batch whatever its size (FerretDB writes each document anyway,
        but a round trip per document cost more than the publishing).

        A document whose whole outbox as read was confirmed, and still holds as many
        events (under our lease nobody else takes any out, so a writer's append is the
        only change), gets an empty outbox and its flag cleared at once: documents are
        grouped by that count. The others (part confirmed, or appended to meanwhile) get
        the confirmed envelopes pulled, exactly as read ($pullAll by value works on
        MongoDB and FerretDB alike; event ids are unique, so pulling the batch's
        confirmed envelopes from each of them takes out only its own), and stay flagged
        for what they still hold."""
        if not confirmed:
            return
        by_size: dict[int, list] = {}
        for _id, sent in confirmed.items():
            by_size.setdefault(len(sent), []).append(_id)
        emptied = 0
        for size, ids in by_size.items():
            emptied += collection.update_many(
                {"_id": {"$in": ids}, OUTBOX: {"$size": size}},
                {"$set": {OUTBOX: [], PENDING: False}, "$unset": {LEASE: ""}}).matched_count
        if emptied < len(confirmed):   # some were appended to while we published
            sent = [envelope for envelopes in confirmed.values() for envelope in envelopes]
            rest = {"$unset": {LEASE: ""}, **({"$pullAll": {OUTBOX: sent}} if sent else {})}
            collection.update_many({"_id": {"$in": list(confirmed)}, LEASE: {"$exists": True}},
                                   rest)

    def run(self, stop: threading.Event) -> None:
        """Publish hinted documents at once; scan for anything else every `interval`
        (if it scans), but never spend more than about a tenth of the time scanning: on
        a store without indexes a scan grows with the collection, and the hints already
        cover this process's own writes. Only the queries for candidates count as
        scanning: the time spent publishing what they found must not put off the next
        scan (under a steady load of other processes' writes it grew with the backlog,
        and events waited tens of seconds). Between passes it sleeps until a hint, the
        next scan or `stop` (Worker.stop wakes it): no polling."""
        failures = 0
        next_scan = 0.0
        while not stop.is_set():
            self._wakeup.clear()  # a hint arriving while we work wakes the next wait
            try:
                self.publish_hinted()
                with self._hint_lock:
                    scan_now, self._scan_requested = self._scan_requested, False
                if self.scans and (scan_now or time.monotonic() >= next_scan):
                    self.publish_pending()
                    next_scan = time.monotonic() + max(self._interval,
                                                       10 * self.scan_seconds)
                failures = 0
            except Exception:
                failures += 1
                next_scan = 0.0  # retry the failed work by a scan after the back-off
                log.exception("outbox relay %s failed; retrying", self.name)
            if failures and self.scans:
                delay = min(5.0, 0.2 * 2 ** failures)
            elif self.scans:
                delay = max(0.0, next_scan - time.monotonic())
            else:   # what failed here is the scanning worker's to retry; hints wake it
                delay = IDLE_CHECK_S
            self._wakeup.wait(delay)
