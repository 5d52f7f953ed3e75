"""The transactional outbox, single-document flavour, and its relay.

A state change and the events it causes go into ONE MongoDB write: the envelopes are
appended to the changed document's `_outbox` array (standalone MongoDB has no
multi-document transactions). The relay leases documents with pending events a batch at
a time (a small lease document each, in a collection of its own), publishes their
events with one wait for the broker's confirms, then pulls exactly the confirmed ones
(while it leases and publishes the next batch). A crash before the pull republishes
them: consumers dedupe by event id (at-least-once).

Each envelope is stored as ONE string, its compact JSON (the body the publisher sends):
FerretDB decodes and re-encodes a document's whole JSON on every read and write, and a
nested envelope cost it about twice as much as one string. Only this module encodes
and decodes them (`outbox_fields`, `with_outbox`, `pending_envelopes`); documents
written before, with nested envelopes (crmkit.nesting), still publish.
"""
from __future__ import annotations

import json
import logging
import secrets
import threading
import time
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta

from pymongo.errors import BulkWriteError, CollectionInvalid, OperationFailure

from crmkit import nesting
from crmkit.bus.publisher import NotConfirmed, Unroutable  # noqa: F401 (re-exported)
from crmkit.bus.publisher import encode as encode_body
from crmkit.clock import utcnow

log = logging.getLogger(__name__)

OUTBOX = "_outbox"
PENDING = "_outbox_pending"
LEASE = "_outbox_lease"   # documents leased before leases had their collection carry it
LEASES_PREFIX = "_outbox_leases."   # + the outbox collection's name: its leases
INTERNAL_FIELDS = (OUTBOX, PENDING, LEASE, "_seen_events")
INDEX = [(PENDING, 1)]

DUPLICATE_KEY, NAMESPACE_EXISTS = 11000, 48   # MongoDB's error codes
CANDIDATE_BATCHES = 5   # a scan reads this many batches' ids per query
HINTED_DRAIN_S = 1.0    # one call of publish_hinted takes new names for this long
IDLE_CHECK_S = 5.0   # a relay that does not scan sleeps this long between hints (sees stop)

_relays: "weakref.WeakSet[OutboxRelay]" = weakref.WeakSet()


def notify_outbox(collection: str | None = None, ids=()) -> None:
    """Wake this process's relays now rather than at their next poll. Naming the
    collection and document ids lets them lease exactly those documents, no scan."""
    for relay in list(_relays):
        relay.hint(collection, ids)


def encode_envelope(envelope: dict) -> str:
    """An envelope as stored in an outbox: the text of the body it is published as
    (decoded and published, it is these bytes again)."""
    return encode_body(envelope).decode()


def decode_envelope(stored) -> dict:
    """An envelope as stored: a string, or (documents written before) a nested dict."""
    return json.loads(stored) if isinstance(stored, str) else nesting.decode(stored)


def pending_envelopes(doc: dict | None) -> list[dict]:
    """The envelopes a document's outbox still holds, in order."""
    return [decode_envelope(stored) for stored in (doc or {}).get(OUTBOX) or []]


def outbox_fields(envelopes: list[dict]) -> dict:
    """Fields to put on a new document along with its first events."""
    return {OUTBOX: [encode_envelope(e) for e in envelopes], PENDING: bool(envelopes)}


def with_outbox(update: dict, envelopes: list[dict]) -> dict:
    """Extend a MongoDB update document so it also appends `envelopes` to the outbox."""
    if not envelopes:
        return update
    merged = {op: dict(fields) for op, fields in update.items()}
    merged.setdefault("$push", {})[OUTBOX] = {"$each": [encode_envelope(e) for e in envelopes]}
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
        """Publish the documents writers in this process named; no collection scan.
        Writers naming more while a batch goes out get theirs leased and published
        while that batch is marked sent. A document still being marked, or leased by
        another relay, stays named for the next call; what the broker refused stays
        for the scanning relay to retry. After HINTED_DRAIN_S the rest waits for the
        next call (at once: the relay wakes itself), so that a steady stream of names
        does not hold off the scan or a stop."""
        count = 0
        deadline = time.monotonic() + HINTED_DRAIN_S
        cut_short = False
        for name in self._collections:
            def candidates(exclude: set, name=name) -> list:
                nonlocal cut_short
                with self._hint_lock:
                    named = self._hinted.get(name, set())
                    ready = [_id for _id in named if _id not in exclude][:self.batch]
                    if ready and time.monotonic() > deadline:
                        cut_short = True
                        return []
                    named.difference_update(ready)
                return ready

            published, _, held = self._drain(self._database[name], candidates)
            count += published
            with self._hint_lock:   # the holders may not publish what was added since
                self._hinted.setdefault(name, set()).update(held)
        if cut_short:
            self._wakeup.set()
        self.published += count
        return count

    def ensure_indexes(self) -> None:
        existing = set(self._database.list_collection_names())
        for name in self._collections:
            self._database[name].create_index(INDEX)
            leases = self.leases(self._database[name])
            if leases.name not in existing:   # at start, not by relays' first leases at once
                try:
                    self._database.create_collection(leases.name)
                except CollectionInvalid:   # another process made it meanwhile
                    pass
                except OperationFailure as error:
                    if error.code != NAMESPACE_EXISTS:
                        raise

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

            found: list = []

            def candidates(exclude: set) -> list:
                """The next batch of pending documents; their ids are read several
                batches at a time (one query), and again once those are used up."""
                if not found:
                    query = {PENDING: True}
                    if skipped:
                        query["_id"] = {"$nin": list(skipped)}
                    started = time.monotonic()
                    wanted = self.batch * CANDIDATE_BATCHES + len(exclude)
                    found.extend(d["_id"] for d in collection.find(query, {"_id": 1})
                                 .limit(wanted).batch_size(wanted) if d["_id"] not in exclude)
                    self.scan_seconds += time.monotonic() - started
                batch = found[:self.batch]
                del found[:self.batch]
                return batch

            published, refused, _ = self._drain(collection, candidates, skipped)
            count += published
            refusal = refusal or refused
        self.published += count
        if refusal is not None:
            raise refusal
        return count

    def _drain(self, collection, candidates, skipped: set | None = None):
        """Lease, publish and mark sent batch after batch of `candidates(exclude)` (ids,
        leaving out `exclude`; [] ends) until there are none. A batch is marked sent in
        another thread while the next one is leased, read and published: the
        database's writes, a document at a time on FerretDB, cost more than the
        publishing, and now overlap it. `exclude` holds the batch being marked (still
        pending), the documents other relays hold and those found published already.
        Documents with a refused event go into `skipped`. Returns how many events were
        confirmed, the first refusal, and the documents other relays held."""
        count = 0
        refusal: NotConfirmed | None = None
        marking: Future | None = None
        held: set = set()
        passed: set = set()   # held, or published already
        in_flight: set = set()
        with ThreadPoolExecutor(1, thread_name_prefix=f"{self.name}-mark") as marker:
            try:
                while True:
                    ids = candidates(in_flight | passed)
                    if not ids and in_flight:   # unless appended to while being marked
                        marking.result()
                        in_flight = set()
                        ids = candidates(passed)
                    if not ids:
                        break
                    token, docs, others = self._lease_many(collection, ids)
                    leased_ids = {doc["_id"] for doc in docs}
                    held |= others
                    passed.update(_id for _id in ids if _id not in leased_ids)
                    if not docs:
                        continue
                    confirmed, refused, failure = self._publish(docs)
                    previous, marking = marking, marker.submit(
                        self._mark_sent, collection, confirmed, token, list(leased_ids))
                    in_flight = leased_ids
                    if previous is not None:
                        previous.result()   # the database's failure ends the drain
                    if failure is not None:
                        raise failure
                    count += sum(len(sent) for sent in confirmed.values())
                    for _id, error in refused.items():
                        if skipped is not None:
                            skipped.add(_id)
                        refusal = refusal or error
            finally:
                if marking is not None and not marking.cancelled():
                    marking.result()
        return count, refusal, held

    def _lease_next(self, collection):
        """Lease the first pending document, if any (what a pass does first)."""
        first = collection.find_one({PENDING: True}, {"_id": 1})
        docs = self._lease_many(collection, [first["_id"]])[1] if first else []
        return docs[0] if docs else None

    def leases(self, collection):
        """Where the leases of `collection`'s outboxes are kept: one small document per
        leased document, `{_id, until, holder}`. Leasing by inserting them costs a
        fraction of writing a flag into each (large) document, on FerretDB a fortieth."""
        return self._database[f"{LEASES_PREFIX}{collection.name}"]

    def _lease_many(self, collection, ids: list) -> tuple[str, list[dict], set]:
        """Lease those of `ids` that are free (no lease, or an expired one) and read the
        pending ones, in the order of `ids`; returns the holder's token (to free them
        with), the documents, and the ids other relays hold. Documents are read after
        the lease is taken, so what is read is what no other relay publishes."""
        leases = self.leases(collection)
        token = secrets.token_hex(8)
        now = utcnow()
        until = now + self._lease
        taken = self._insert_leases(leases, ids, token, until)
        held = [_id for _id in ids if _id not in taken]
        if held:   # held by others: those whose holder died (lease expired) are taken over
            leases.delete_many({"_id": {"$in": held}, "until": {"$lt": now}})
            taken |= self._insert_leases(leases, held, token, until)
        if not taken:
            return token, [], set(ids)
        order = {_id: n for n, _id in enumerate(ids)}
        docs = [doc for doc in collection.find({"_id": {"$in": list(taken)}},
                                               {OUTBOX: 1, PENDING: 1})
                .batch_size(len(taken)) if doc.get(OUTBOX) or doc.get(PENDING)]
        gone = taken - {doc["_id"] for doc in docs}
        if gone:   # published by another relay since the candidates were found
            self._free(leases, gone, token)
        docs.sort(key=lambda doc: order.get(doc["_id"], len(order)))
        return token, docs, set(ids) - taken

    @staticmethod
    def _insert_leases(leases, ids: list, token: str, until) -> set:
        """Insert a lease for each of `ids`; returns those inserted (a duplicate key:
        another relay holds it)."""
        try:
            leases.insert_many([{"_id": _id, "until": until, "holder": token} for _id in ids],
                               ordered=False)
            return set(ids)
        except BulkWriteError as error:
            errors = error.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            return set(ids) - {ids[e["index"]] for e in errors}

    @staticmethod
    def _free(leases, ids, token: str) -> None:
        leases.delete_many({"_id": {"$in": list(ids)}, "holder": token})

    def _publish(self, docs) -> tuple[dict, dict, Exception | None]:
        """Publish the leased documents' events (each document's in order) with one wait
        for the confirms. Returns, per document, the events the broker confirmed before
        its first unconfirmed one; the refusal of each document the broker refused an
        event of; and the connection's failure, if it failed (the unconfirmed events
        go out again later: duplicates at worst)."""
        outboxes = [(doc["_id"], list(doc.get(OUTBOX) or [])) for doc in docs]
        envelopes = [envelope for _, outbox in outboxes for envelope in outbox]
        confirmed: dict = {_id: [] for _id, _ in outboxes}
        try:
            outcomes = iter(self._publisher.publish_batch(
                [decode_envelope(envelope) for envelope in envelopes]))
        except Exception as error:   # nothing confirmed
            return {}, {}, error
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
            if outbox and not confirmed[_id]:
                del confirmed[_id]   # nothing to write
        return confirmed, refused, failure

    def _mark_sent(self, collection, confirmed: dict, token: str, leased: list) -> None:
        """Take the confirmed envelopes out of the outboxes, then free the leases, in a
        few writes per batch whatever its size (FerretDB writes each document anyway,
        but a round trip per document cost more than the publishing).

        A document whose whole outbox as read was confirmed, and still holds as many
        events (under our lease nobody else takes any out, so a writer's append is the
        only change), gets an empty outbox and its flag cleared at once: documents are
        grouped by that count. The others that had events confirmed (appended to
        meanwhile) get the confirmed envelopes pulled, exactly as read ($pullAll by
        value works on MongoDB and FerretDB alike; event ids are unique, so pulling the
        batch's confirmed envelopes from each of them takes out only its own), and stay
        flagged for what they still hold. `confirmed` leaves out the documents with
        nothing to write (an event refused or failed first)."""
        by_size: dict[int, list] = {}
        for _id, sent in confirmed.items():
            by_size.setdefault(len(sent), []).append(_id)
        emptied = 0
        for size, ids in by_size.items():
            emptied += collection.update_many(
                {"_id": {"$in": ids}, OUTBOX: {"$size": size}},
                {"$set": {OUTBOX: [], PENDING: False}}).matched_count
        sent = [envelope for envelopes in confirmed.values() for envelope in envelopes]
        if emptied < len(confirmed) and sent:   # some were appended to while we published
            collection.update_many({"_id": {"$in": list(confirmed)}, PENDING: True},
                                   {"$pullAll": {OUTBOX: sent}})
        self._free(self.leases(collection), leased, token)

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
