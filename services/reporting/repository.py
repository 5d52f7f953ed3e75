"""The only module of the reporting service that talks to MongoDB.

It stores the same plain dicts as services/reporting/memstore.py (the reference) and
answers the same questions, so the projector and the reports run unchanged on it.

Collections:
- `events`: every event consumed, once, so that `crm reporting rebuild` can drop the
  read models and replay them.
- `rm_states`: one document per entity (customer, opportunity, interaction, task) with
  its latest-known fields, a `version` for optimistic concurrency (two consumer threads
  may handle events of one entity at once) and the contribution it has applied.
- `rm_counters`: pre-aggregated counters `{kind, segment, bucket, c: {field: n}}`, of
  people and pools and their rollups per team, region and organisation (counters.py).
- `rm_members`: distinct-count members (`by`: the entities referencing a member).
- `rm_directory`: who each segment is (name, team, region), from user.* events.
- `rm_meta`: the pipeline, the rebuild flag.
- `targets`: PUT /targets input (kept across a rebuild: it is not built from events).

Crash safety without transactions: an entity's new state and the counter delta it causes
are written in ONE update of its state document (`pending`); the delta is then applied
to each counter document guarded by an operation id kept in that document (`ops`), so
finishing a pending delta twice (after a crash, or by a concurrent thread) counts once.
The pending delta is a list of small documents (`{kind, segment, bucket, field, n}`,
members also `member`), never rows of arrays: FerretDB 1.24 refuses arrays in arrays.
A consumer's batch (`save_states`) saves its states the same way, marked with the
batch's id, and applies their deltas summed per counter document under that id and the
states' own ids (`_finish_batch`): whichever write applies a state's delta to a
document, a second one finds it there.
"""
from __future__ import annotations

import hashlib
import secrets
import time
from datetime import datetime

from bson.int64 import Int64
from pymongo import ASCENDING, InsertOne, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from crmkit import nesting
from crmkit.queries import count_matching, trim_list
from services.reporting.counters import ROLLED_KINDS, Vector, from_rows, with_rollups
from services.reporting.locks import lock_for
from services.reporting.projections import StateConflict

EVENTS = "events"
FETCH_CHUNK = 100    # ids per `$in` lookup: FerretDB turns a long `$in` into an SQL
                     # expression past SQLite's depth limit (1,000) somewhere under 1,000 ids
SEGMENT_CHUNK = 500  # segments per counter query (a plain SQL `IN` list, no depth limit)
MOVE_CHUNK = 200     # rollup updates per bulk write when a person's figures move
STATES = "rm_states"
COUNTERS = "rm_counters"
MEMBERS = "rm_members"
DIRECTORY = "rm_directory"
META = "rm_meta"
TARGETS = "targets"
READ_MODELS = (STATES, COUNTERS, MEMBERS, DIRECTORY)

OPS_WINDOW = 64         # recent operation ids kept per counter document (see _bump): a
                        # batch pushes each member flip's (_set_members_batch)
OPS_SLACK = 32          # how far the list may grow past the window before it is cut back
CONFLICT_RETRIES = 50   # optimistic-concurrency retries before giving up (then: retry msg)
FLAG_TTL = 0.5          # seconds a process trusts its last look at the rebuild flag
FLAG_STALE = 30         # a rebuild flag not refreshed for this long was left by a crash
DIRECTORY_TTL = 1.0     # seconds a process trusts its copy of the directory (or an entry)


def escape(name: str) -> str:
    """A field name MongoDB accepts inside `c.<name>` paths (no dots, no leading $)."""
    return name.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def unescape(name: str) -> str:
    return name.replace("%24", "$").replace("%2E", ".").replace("%25", "%")


def _op_id(*parts) -> str:
    return hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=9).hexdigest()


def _counter_id(kind: str, segment: str, bucket: str) -> str:
    return f"{kind}|{segment}|{bucket}"


def _by_document(pending: dict) -> dict[tuple, dict[str, int]]:
    """A pending delta's counter rows by document: (kind, segment, bucket) -> changes."""
    by_document: dict[tuple, dict[str, int]] = {}
    for row in pending["counters"]:
        key = (row["kind"], row["segment"], row["bucket"])
        by_document.setdefault(key, {})[row["field"]] = row["n"]
    return by_document


def summed_pending(pendings: list[dict]) -> dict[tuple, dict[str, int]]:
    """Pending deltas of several states summed per counter document (a change that sums
    to 0 stays: the document is still written, see _finish_batch)."""
    summed: dict[tuple, dict[str, int]] = {}
    for pending in pendings:
        for key, changes in _by_document(pending).items():
            fields = summed.setdefault(key, {})
            for name, n in changes.items():
                fields[name] = fields.get(name, 0) + n
    return summed


def _broken(batch: str) -> str:
    """The mark a state of `batch` finished alone leaves in a counter document: the
    batch's sum must not go there any more."""
    return f"{batch}~"


def _not_in(op: str, also: list[str]):
    """The guard on a counter document's `ops`: none of these operations applied."""
    return {"$nin": [op, *also]} if also else {"$ne": op}


class ReportingRepository:
    def __init__(self, db):
        self.db = db
        self.events = db[EVENTS]
        self.states = db[STATES]
        self.counters = db[COUNTERS]
        self.members = db[MEMBERS]
        self.directory = db[DIRECTORY]
        self.meta = db[META]
        self.target_docs = db[TARGETS]
        self.lock = lock_for(getattr(db, "name", "reporting"))
        # segment -> (when read, entry): a person's rolled home (where their figures are
        # summed) may change in another process, so an entry is trusted a moment only
        self._directory_cache: dict[str, tuple[float, dict]] = {}
        # when checked, the directory's version then, every entry
        self._directory_list: tuple[float, int, list[dict]] | None = None
        self._pipeline_cache: tuple[float, dict | None] | None = None
        self._flag_cache: tuple[float, bool] = (0.0, False)
        self._value_ready = False  # once complete, complete for good (see value_model_ready)

    def ensure_indexes(self) -> None:
        self.events.create_index([("occurred_at", ASCENDING), ("_id", ASCENDING)])
        self.counters.create_index([("kind", ASCENDING), ("segment", ASCENDING),
                                    ("bucket", ASCENDING)])
        # not queried by themselves: a field that leads an index is one FerretDB checks
        # for arrays, and only a filter on such fields is served by the index above
        # (docs/database.md); so a report's counter query is an index range
        self.counters.create_index([("segment", ASCENDING)])
        self.counters.create_index([("bucket", ASCENDING)])
        self.states.create_index([("type", ASCENDING), ("segment", ASCENDING)])
        self.states.create_index([("pending.op", ASCENDING)])
        # customers' value states in report order (entities/value.py): a page of the
        # admin's customer value is a range of it; one text key, no `_id` tie-breaker (a
        # sort naming `_id` makes FerretDB check every document's `_id` type first)
        self.states.create_index([("vkey", ASCENDING)])
        if not count_matching(self.events, {}, limit=1):
            self._mark_value_model()  # a new store: its value states start complete
        self.target_docs.create_index([("scope", ASCENDING), ("period", ASCENDING)])

    # --- the event store ------------------------------------------------------------

    def keep_event(self, envelope: dict) -> bool:
        """Store the event once; False if it was stored before."""
        try:
            # an event may hold arrays inside arrays (a change log's [old, new] of a list
            # field), which FerretDB refuses: stored encoded, decoded by kept_events
            self.events.insert_one({**nesting.encode(envelope), "_id": envelope["id"]})
            return True
        except DuplicateKeyError:
            return False

    def keep_events(self, envelopes: list[dict]) -> None:
        """Store each event once (a batch: one look for the ids kept already, one insert
        of the others; a duplicate inserted meanwhile by another consumer sends the
        batch one by one)."""
        ids = [e["id"] for e in envelopes]
        kept = {doc["_id"] for doc in self._fetch(self.events, ids, {"_id": 1})}
        new = {e["id"]: e for e in envelopes if e["id"] not in kept}
        if not new:
            return
        try:
            self.events.insert_many([{**nesting.encode(e), "_id": e["id"]}
                                     for e in new.values()], ordered=False)
        except (BulkWriteError, DuplicateKeyError, KeyError):  # KeyError: see _bump_all
            for envelope in new.values():
                self.keep_event(envelope)

    def kept_events(self):
        """Every kept event in a stable order (when it happened, then its id)."""
        for doc in self.events.find({}).sort([("occurred_at", ASCENDING), ("_id", ASCENDING)]):
            doc.pop("_id", None)
            yield nesting.decode(doc)

    def count_events(self) -> int:
        return count_matching(self.events, {})

    # --- the rebuild flag -------------------------------------------------------------

    def rebuilding(self) -> bool:
        """Is a rebuild running (in any process)? A flag whose rebuild stopped beating
        (it crashed) no longer counts."""
        checked_at, value = self._flag_cache
        if time.monotonic() - checked_at < FLAG_TTL:
            return value
        doc = self.meta.find_one({"_id": "rebuild"})
        value = bool(doc and doc.get("running") and doc.get("beat")
                     and time.time() - doc["beat"] < FLAG_STALE)
        self._flag_cache = (time.monotonic(), value)
        return value

    def set_rebuilding(self, running: bool) -> None:
        self.meta.update_one({"_id": "rebuild"}, {"$set": {"running": running,
                                                           "beat": time.time()}},
                             upsert=True)
        self._flag_cache = (time.monotonic(), running)

    def drop_read_models(self) -> None:
        for name in READ_MODELS:
            self.db[name].delete_many({})
        # "span": the years counters were written for, which reads no longer need
        self.meta.delete_many({"_id": {"$in": ["pipeline", "span"]}})
        self._mark_value_model()  # the replay makes every customer's value state
        self._directory_changed()
        self._directory_cache.clear()
        self._directory_list = None
        self._pipeline_cache = None

    # --- entity states (ProjectionStore) ------------------------------------------------

    def get_state(self, state_id: str) -> dict | None:
        doc = self.states.find_one({"_id": state_id})
        if doc and doc.get("pending"):
            # an earlier writer saved this state but may not have finished its counters
            self._finish(doc)
            doc = self.states.find_one({"_id": state_id})
        return doc

    def get_states(self, state_ids: list[str]) -> dict[str, dict]:
        """The states of these ids that exist (by id, `get_state` of each in a few
        queries)."""
        found = {doc["_id"]: doc for doc in self._fetch(self.states, state_ids)}
        for state_id, doc in list(found.items()):
            if doc.get("pending"):
                found[state_id] = self.get_state(state_id)  # finishes it first
        return found

    def save_state(self, state: dict, delta: Vector,
                   homes: dict[str, list[str]] | None = None) -> None:
        """Save the entity's new state and its counter delta in one write, then apply
        the delta (and each person's part of it to their rollups, `homes`). Raises
        StateConflict if the state changed since it was read."""
        version = state.get("version")
        body = self._state_body(state, delta, homes or {})
        pending = body["pending"]
        if version is None:
            try:
                self.states.insert_one({"_id": state["_id"], **body})
            except DuplicateKeyError:
                raise StateConflict(state["_id"]) from None
        else:
            result = self.states.update_one({"_id": state["_id"], "version": version},
                                            {"$set": body})
            if not result.matched_count:
                raise StateConflict(state["_id"])
        if pending:
            self._finish({"_id": state["_id"], "pending": pending})

    def save_states(self, saves: list[tuple[dict, Vector, dict]]) -> list[str]:
        """`save_state` of many entities (a consumer's batch) in a few writes: the states
        with their pending deltas in one bulk write, then the deltas summed per counter
        document in one more (`_finish_batch`). Returns the ids of the states another
        writer changed since they were read (saved nothing for those)."""
        batch = _op_id("batch", secrets.token_hex(8))
        bodies, requests = {}, []
        for state, delta, homes in saves:
            body = bodies[state["_id"]] = self._state_body(state, delta, homes or {})
            body["batch"] = batch   # whose write it is (two batches may write one state)
            if body["pending"]:
                body["pending"]["batch"] = batch
            version = state.get("version")
            requests.append(InsertOne({"_id": state["_id"], **body}) if version is None
                            else UpdateOne({"_id": state["_id"], "version": version},
                                           {"$set": body}))
        try:
            result = self.states.bulk_write(requests, ordered=False)
            written = result.inserted_count + result.matched_count == len(requests)
        except (BulkWriteError, DuplicateKeyError, KeyError):  # KeyError: see _bump_all
            written = False
        if written:
            saved = list(bodies)
        else:  # which went in: those holding this batch's write (another batch that
            # wrote the same events to a state writes the same fields but its own id)
            saved = [doc["_id"] for doc in self._fetch(self.states, list(bodies),
                                                       {"version": 1, "batch": 1})
                     if doc.get("version") == bodies[doc["_id"]]["version"]
                     and doc.get("batch") == batch]
        self._finish_batch(batch, [(i, bodies[i]["pending"]) for i in saved
                                   if bodies[i]["pending"]])
        return [i for i in bodies if i not in set(saved)]

    def _state_body(self, state: dict, delta: Vector, homes: dict[str, list[str]]) -> dict:
        """What a save writes: the state, its next version and the pending delta."""
        version = state.get("version")
        new_version = (version or 0) + 1
        op = _op_id(state["_id"], new_version, (state.get("seen") or [""])[-1])
        # members: the entity's new reference count of each member its delta touches
        # (a value, not a difference, so that setting it twice is harmless)
        applied = from_rows(state.get("applied"))
        # stored as small documents, not rows (arrays inside an array: FerretDB refuses)
        pending = {"op": op,
                   "counters": [{"kind": k[1], "segment": k[2], "bucket": k[3],
                                 "field": k[4], "n": n}
                                for k, n in sorted(with_rollups(delta, homes).items())
                                if k[0] == "c"],
                   # a person's distinct count rolls up as a plain counter: its flips
                   # go to their rollups too
                   "members": [{"kind": k[1], "segment": k[2], "bucket": k[3],
                                "field": k[4], "member": k[5], "n": applied.get(k, 0),
                                "rollups": homes.get(k[2], []) if k[1] in ROLLED_KINDS
                                else []}
                               for k in sorted(k for k in delta if k[0] == "m")]}
        if not pending["counters"] and not pending["members"]:
            pending = None  # nothing to finish: spare the write that would clear it
        body = {k: v for k, v in state.items()
                if k not in ("_id", "version", "pending", "batch")}
        # `batch`: the batch that saved it (save_states), beside `pending` so that the
        # batch clears its states with a filter on top-level fields (an index's, fast)
        body.update({"version": new_version, "pending": pending, "batch": None})
        return body

    def _finish(self, doc: dict) -> None:
        """Apply a saved state's pending delta (again: each counter document takes it
        once) and clear it. A delta saved in a batch counts as applied where the
        batch's summed write went (its id `batch` in the document's `ops`)."""
        pending = doc["pending"]
        op = pending["op"]
        batch = pending.get("batch")
        self._bump_all(_by_document(pending), op, also=[batch] if batch else (),
                       marks=[_broken(batch)] if batch else ())
        self._set_members(doc["_id"], pending)
        self.states.update_one({"_id": doc["_id"], "pending.op": op},
                               {"$set": {"pending": None}})

    def _finish_batch(self, batch: str, saved: list[tuple[str, dict]]) -> None:
        """`_finish` of a batch's saved states with one write per counter document: each
        takes the sum of the states' deltas under the batch's id. A state finished
        alone meanwhile (a concurrent `get_state`, which also looks for the batch's id)
        leaves its own id and the batch's broken mark where it went: such a document
        refuses the sum, and then every state goes on alone, guarded by its own id and
        the batch's, so that each delta counts once in each document whichever write
        took it."""
        if not saved:
            return
        summed = summed_pending([pending for _, pending in saved])
        if not self._bump_all(summed, batch, also=[_broken(batch)], alone=False,
                              trim=False):
            for _, pending in saved:
                self._bump_all(_by_document(pending), pending["op"], also=[batch])
        flipped = self._set_members_batch(saved)
        ids = [state_id for state_id, _ in saved]
        for start in range(0, len(ids), FETCH_CHUNK):
            self.states.update_many({"_id": {"$in": ids[start:start + FETCH_CHUNK]},
                                     "batch": batch},
                                    {"$set": {"pending": None, "batch": None}})
        # only now: the batch's id must stay in those lists until the states are done
        self._trim_ops(sorted({_counter_id(*key) for key in summed} | flipped))

    def _set_members(self, state_id: str, pending: dict) -> None:
        for row in pending["members"]:
            self._set_member(row["kind"], row["segment"], row["bucket"], row["field"],
                             row["member"], state_id, row["n"], row.get("rollups") or ())

    def _set_members_batch(self, saved: list[tuple[str, dict]]) -> set[str]:
        """`_set_members` of a batch's states in a few writes: the references in one
        bulk write, the member documents read back at once, the flips' counter updates
        summed per document in one write (each flip's own operation id pushed, so that
        `_settle_member` finds it), the flags in one more. Anything unexpected (another
        writer on a member) goes through `_settle_member` for that member. Returns the
        counter documents whose op lists the caller trims."""
        rows = {}   # member id -> the row (its counter and rollups)
        requests = []
        for state_id, pending in saved:
            for row in pending["members"]:
                member_id = (f"{row['kind']}|{row['segment']}|{row['bucket']}|"
                             f"{row['field']}|{row['member']}")
                rows[member_id] = row
                entity_key = f"by.{escape(state_id)}"
                update = ({"$set": {entity_key: row["n"]}} if row["n"]
                          else {"$unset": {entity_key: ""}})
                update["$setOnInsert"] = {"counted": False, "flips": 0}
                requests.append(UpdateOne({"_id": member_id}, update, upsert=True))
        if not requests:
            return set()
        try:
            self.members.bulk_write(requests, ordered=False)
        except (BulkWriteError, DuplicateKeyError, KeyError):  # two writers creating one
            for state_id, pending in saved:
                self._set_members(state_id, pending)
            return set()
        flips, updates = {}, {}
        for doc in self._fetch(self.members, list(rows)):
            want = any(v > 0 for v in (doc.get("by") or {}).values())
            if bool(doc.get("counted")) != want:
                flips[doc["_id"]] = doc
                row, op = rows[doc["_id"]], _op_id(doc["_id"], doc.get("flips", 0) + 1)
                for target in (row["segment"], *(row.get("rollups") or ())):
                    changes, guard, _ = updates.setdefault(
                        (row["kind"], target, row["bucket"]), ({}, [], None))
                    changes[row["field"]] = changes.get(row["field"], 0) + (1 if want else -1)
                    guard.append(op)
        if not flips:
            return set()
        updates = {key: (changes, guard, guard) for key, (changes, guard, _) in updates.items()}
        settled = self._bulk_bump(updates, trim=False)
        if settled:
            result = self.members.bulk_write(
                [UpdateOne({"_id": member_id, "flips": doc.get("flips", 0)},
                           {"$set": {"counted": not doc.get("counted")},
                            "$inc": {"flips": 1}})
                 for member_id, doc in flips.items()], ordered=False)
            settled = result.matched_count == len(flips)
        if not settled:  # each alone: the flips the bulk applied find their operation
            for member_id, doc in flips.items():
                row = rows[member_id]
                self._settle_member(row["kind"], row["segment"], row["bucket"],
                                    row["field"], row.get("rollups") or (),
                                    self.members.find_one({"_id": member_id}))
        return {_counter_id(*key) for key in updates}

    def _bump_all(self, by_document: dict[tuple, dict[str, int]], op: str, *,
                  also=(), marks=(), alone: bool = True, trim: bool = True) -> bool:
        """An operation's counter updates in one bulk write, each guarded as `_bump`'s,
        then one read for the op lists grown past their window. A document that holds
        the operation already (finished before: a crash, a concurrent finisher) makes
        FerretDB's reply one pymongo cannot read (docs/database.md): then each update
        goes alone, and those the bulk applied find their operation and do nothing
        (`alone=False`: returns False instead). `also`: other ids that mean "applied
        already"; `marks`: ids recorded beside `op`."""
        if self._bulk_bump({key: (changes, [op, *also], [op, *marks])
                            for key, changes in by_document.items()}, trim=trim):
            return True
        if alone:
            for key, changes in by_document.items():
                self._bump(*key, changes, op, list(also), list(marks))
        return alone

    def _bulk_bump(self, updates: dict[tuple, tuple[dict, list, list]], *,
                   trim: bool = True) -> bool:
        """(kind, segment, bucket) -> (changes, guard, pushed): each document takes its
        changes unless its `ops` holds one of `guard`, and records `pushed` there; one
        bulk write. False if it failed (FerretDB: a guarded upsert of a document that
        exists), having applied some of it maybe."""
        requests = {}
        for (kind, segment, bucket), (changes, guard, pushed) in updates.items():
            # always 64-bit: see _bump
            inc = {f"c.{escape(f)}": Int64(n) for f, n in changes.items() if n}
            # changes that sum to nothing still go under a guard of several operations:
            # one of them applied alone elsewhere (a concurrent finisher) must show
            if inc or len(guard) > 1:
                counter_id = _counter_id(kind, segment, bucket)
                update = {"$push": {"ops": {"$each": pushed} if len(pushed) > 1
                                    else pushed[0]},
                          "$setOnInsert": {"kind": kind, "segment": segment,
                                           "bucket": bucket}}
                if inc:
                    update["$inc"] = inc
                requests[counter_id] = UpdateOne(
                    {"_id": counter_id, "ops": _not_in(guard[0], guard[1:])}, update,
                    upsert=True)
        if not requests:
            return True
        try:
            self.counters.bulk_write(list(requests.values()), ordered=False)
        except (BulkWriteError, DuplicateKeyError, KeyError):  # KeyError: pymongo's
            return False
        if trim:
            self._trim_ops(list(requests))
        return True

    def _trim_ops(self, counter_ids: list[str]) -> None:
        """Cut back the op lists of these counter documents grown past their window."""
        for start in range(0, len(counter_ids), FETCH_CHUNK):
            long_lists = {"_id": {"$in": counter_ids[start:start + FETCH_CHUNK]},
                          f"ops.{OPS_WINDOW + OPS_SLACK - 1}": {"$exists": True}}
            for doc in self.counters.find(long_lists, {"ops": 1}):
                trim_list(self.counters, doc, "ops", keep=OPS_WINDOW, slack=OPS_SLACK)

    def _bump(self, kind, segment, bucket, changes: dict[str, int], op: str,
              also=(), marks=()) -> None:
        """Add to counters once per operation id (a repeat finds the id, or one of
        `also`, and does nothing); `marks` are recorded beside the id."""
        # always 64-bit: FerretDB 1.24 wraps an int32 + int32 $inc that overflows (MongoDB
        # widens it), and weighted amounts (cents x basis points) pass 2**31 quickly
        inc = {f"c.{escape(f)}": Int64(n) for f, n in changes.items() if n}
        if not inc:
            return
        counter_id = _counter_id(kind, segment, bucket)
        for _ in range(CONFLICT_RETRIES):
            try:
                after = self.counters.find_one_and_update(
                    {"_id": counter_id, "ops": _not_in(op, also)},
                    {"$inc": inc, "$push": {"ops": {"$each": [op, *marks]} if marks else op},
                     "$setOnInsert": {"kind": kind, "segment": segment, "bucket": bucket}},
                    upsert=True, return_document=ReturnDocument.AFTER)
                trim_list(self.counters, after, "ops", keep=OPS_WINDOW, slack=OPS_SLACK)
                return
            except DuplicateKeyError:
                # the document exists: either it holds this operation already, or another
                # writer created it a moment ago and the update must simply run again
                if self.counters.find_one({"_id": counter_id, "ops": {"$in": [op, *also]}},
                                          {"_id": 1}):
                    return
        raise StateConflict(counter_id)

    def _set_member(self, kind, segment, bucket, field, member, entity_id, n,
                    rollups=()) -> None:
        """Record how often an entity references a member; keep the distinct count in
        step (each flip of a member between counted / not counted bumps it once)."""
        member_id = f"{kind}|{segment}|{bucket}|{field}|{member}"
        entity_key = f"by.{escape(entity_id)}"
        update = {"$set": {entity_key: n}} if n else {"$unset": {entity_key: ""}}
        update.setdefault("$setOnInsert", {}).update({"counted": False, "flips": 0})
        try:  # the document as written: no read of it after
            doc = self.members.find_one_and_update({"_id": member_id}, update, upsert=True,
                                                   return_document=ReturnDocument.AFTER)
        except DuplicateKeyError:
            doc = self.members.find_one_and_update(
                {"_id": member_id}, {k: v for k, v in update.items() if k != "$setOnInsert"},
                return_document=ReturnDocument.AFTER)
        self._settle_member(kind, segment, bucket, field, rollups, doc)

    def _settle_member(self, kind, segment, bucket, field, rollups, doc: dict) -> None:
        """Bring a member's counted flag, and the distinct count, in step with its
        references (`doc`: the member document as last read)."""
        member_id = doc["_id"]
        for _ in range(CONFLICT_RETRIES):
            want = any(v > 0 for v in (doc.get("by") or {}).values())
            if bool(doc.get("counted")) == want:
                return
            flips = doc.get("flips", 0)
            self._bump_all({(kind, target, bucket): {field: 1 if want else -1}
                            for target in (segment, *rollups)},
                           _op_id(member_id, flips + 1))
            self.members.update_one({"_id": member_id, "flips": flips},
                                    {"$set": {"counted": want}, "$inc": {"flips": 1}})
            doc = self.members.find_one({"_id": member_id})  # others may have changed it
        raise StateConflict(member_id)

    def move_rollups(self, segment: str, old: list[str], new: list[str], op: str) -> None:
        """A person's figures leave the rollups they no longer belong to and join the
        new ones: each of their counter documents, read once, subtracted from / added
        to the same documents of those rollups under one operation id (a repeat of the
        move counts once)."""
        gone = [r for r in old if r not in new]
        joined = [r for r in new if r not in old]
        if not gone and not joined:
            return
        op = _op_id(op)
        by_document: dict[tuple, dict[str, int]] = {}
        for kind in ROLLED_KINDS:
            for doc in self.counter_docs(kind, [segment], [("", "\uffff")]):
                for rollup in gone:
                    by_document[(kind, rollup, doc["bucket"])] = {
                        f: -n for f, n in doc["c"].items()}
                for rollup in joined:
                    by_document[(kind, rollup, doc["bucket"])] = doc["c"]
        keys = list(by_document)
        for start in range(0, len(keys), MOVE_CHUNK):
            self._bump_all({k: by_document[k] for k in keys[start:start + MOVE_CHUNK]}, op)

    def unfinished(self) -> list[dict]:
        return list(self.states.find({"pending.op": {"$exists": True, "$ne": None}}))

    def finish_pending(self) -> int:
        """Complete what a crashed writer left (run at start-up and before a rebuild)."""
        docs = self.unfinished()
        for doc in docs:
            self._finish(doc)
        return len(docs)

    # --- the directory and the pipeline -------------------------------------------------

    def get_directory(self, segment: str) -> dict | None:
        cached = self._directory_cache.get(segment)
        if cached is not None and time.monotonic() - cached[0] < DIRECTORY_TTL:
            return cached[1]
        entry = self.directory.find_one({"_id": segment})
        if entry is not None:
            self._directory_cache[segment] = (time.monotonic(), entry)
        return entry

    def put_directory(self, entry: dict) -> None:
        entry = dict(entry)
        self._directory_cache[entry["_id"]] = (time.monotonic(), entry)
        self._directory_list = None
        body = {k: v for k, v in entry.items() if k != "_id"}
        if entry.get("source") == "user":
            self.directory.replace_one({"_id": entry["_id"]}, body, upsert=True)
            self._directory_changed()
            return
        try:  # a hint never overwrites what a user.* event said
            self.directory.update_one({"_id": entry["_id"], "source": {"$ne": "user"}},
                                      {"$set": body}, upsert=True)
            self._directory_changed()
        except DuplicateKeyError:
            self._directory_cache.pop(entry["_id"], None)

    def _directory_changed(self) -> None:
        """Tell readers in every process that their copy of the directory is old: a new
        random version, never one a reader may hold (a count would start again after a
        rebuild and could meet a reader's old number with other entries)."""
        self.meta.update_one({"_id": "directory"}, {"$set": {"v": secrets.token_hex(8)}},
                             upsert=True)

    def list_directory(self, *, fresh: bool = False) -> list[dict]:
        """Every segment's entry. Each report starts from it (whose figures the caller
        sees), so a reader keeps it: it changes only when a user's name, team or region
        does, and reading it costs as many documents as there are users (2,000: far
        more than a report's figures). After DIRECTORY_TTL the copy is checked against
        the directory's version (one document, bumped after each change) and read again
        only if that moved. `fresh`: as stored now (a write naming a user checks it
        exists)."""
        cached = self._directory_list
        if not fresh and cached and time.monotonic() - cached[0] <= DIRECTORY_TTL:
            return [dict(entry) for entry in cached[2]]
        # the version before the entries: a change landing in between is read again
        version = (self.meta.find_one({"_id": "directory"}) or {}).get("v", 0)
        if not fresh and cached and cached[1] == version:
            self._directory_list = (time.monotonic(), version, cached[2])
        else:
            self._directory_list = (time.monotonic(), version,
                                    list(self.directory.find({})))
        return [dict(entry) for entry in self._directory_list[2]]

    def get_pipeline(self) -> dict | None:
        cached = self._pipeline_cache
        if cached and time.monotonic() - cached[0] < 1.0:
            return cached[1]
        doc = self.meta.find_one({"_id": "pipeline"})
        pipeline = {k: v for k, v in doc.items() if k != "_id"} if doc else None
        self._pipeline_cache = (time.monotonic(), pipeline)
        return pipeline

    def put_pipeline(self, pipeline: dict) -> None:
        self.meta.replace_one({"_id": "pipeline"}, pipeline, upsert=True)
        self._pipeline_cache = (time.monotonic(), pipeline)

    # --- reads for reports ----------------------------------------------------------------

    def counter_docs(self, kind: str, segments, ranges) -> list[dict]:
        """The counter documents of `segments` whose bucket lies in one of `ranges`
        (inclusive, compared as strings, as the memory store does): one range of the
        index {kind, segment, bucket} per range, which reads only the documents there
        are (the cost follows the groups a report returns, not how many buckets its
        range could hold)."""
        segments = sorted(set(segments))
        docs = []
        for low, high in ranges:
            bucket = low if low == high else {"$gte": low, "$lte": high}
            for start in range(0, len(segments), SEGMENT_CHUNK):
                chunk = segments[start:start + SEGMENT_CHUNK]
                found = self.counters.find(
                    {"kind": kind, "segment": {"$in": chunk}, "bucket": bucket},
                    {"segment": 1, "bucket": 1, "c": 1})
                for doc in found.batch_size(10_000):  # in few replies
                    fields = {unescape(f) if "%" in f else f: n  # (few names are escaped)
                              for f, n in (doc.get("c") or {}).items() if n}
                    if fields:
                        docs.append({"kind": kind, "segment": doc["segment"],
                                     "bucket": doc["bucket"], "c": fields})
        return docs

    @staticmethod
    def _fetch(collection, ids: list[str], projection=None):
        """Documents by id, `{"_id": {"$in": chunk}}` a chunk at a time: one query
        answered from the primary key (the patched FerretDB looks each id up in its
        `_id` index, docs/database.md), not one round trip per id: an admin's report
        names thousands of counter documents."""
        for start in range(0, len(ids), FETCH_CHUNK):
            chunk = ids[start:start + FETCH_CHUNK]
            # all of a chunk in the first reply (no getMore round trips)
            yield from collection.find({"_id": {"$in": chunk}}, projection).batch_size(
                len(chunk))

    def customers(self, customer_ids) -> dict[str, dict]:
        found = {}
        ids = [f"customer:{c}" for c in customer_ids]
        for state in self._fetch(self.states, ids, {"id": 1, "f": 1}):
            f = state.get("f") or {}
            found[state["id"]] = {"name": f.get("name"), "owner_id": f.get("owner_id"),
                                  "deleted": bool(f.get("deleted"))}
        return found

    def _mark_value_model(self) -> None:
        self.meta.replace_one({"_id": "value_model"}, {"complete": True}, upsert=True)

    def value_model_ready(self) -> bool:
        """Are the customers' value states complete? Not in a store kept before they
        existed, until `crm reporting rebuild` (reports read the owners' counters then)."""
        if not self._value_ready:
            self._value_ready = bool(self.meta.find_one({"_id": "value_model"}))
        return self._value_ready

    def value_ranked(self, low: str, high: str | None, limit: int, *,
                     rows: bool = True) -> list[dict]:
        """Up to `limit` customers' value states in report order from sort key `low`
        (inclusive) to `high` (exclusive): a range of the `vkey` index, sorted and
        limited in SQL (docs/database.md). `rows` False: their keys only."""
        if limit <= 0:
            return []
        key = {"$gte": low} if high is None else {"$gte": low, "$lt": high}
        fields = {"id": 1, "f": 1, "vkey": 1} if rows else {"vkey": 1}
        found = self.states.find({"vkey": key}, fields).sort("vkey", ASCENDING).limit(limit)
        return list(found.batch_size(limit))

    # --- targets (people's input, not projections) -----------------------------------------

    def put_target(self, scope: str, key: str, period: str, amount_cents: int,
                   region: str | None = None, *, by: str | None = None,
                   at: datetime | None = None) -> dict:
        doc = {"scope": scope, "key": key, "period": period, "amount_c": amount_cents,
               "region": region, "updated_by": by, "updated_at": at}
        self.target_docs.replace_one({"_id": f"{scope}|{key}|{period}"}, doc, upsert=True)
        return doc

    def targets(self, scope: str) -> list[dict]:
        return [{k: v for k, v in doc.items() if k != "_id"}
                for doc in self.target_docs.find({"scope": scope})]
