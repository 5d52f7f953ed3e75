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
"""
from __future__ import annotations

import hashlib
import secrets
import time
from datetime import datetime

from bson.int64 import Int64
from pymongo import ASCENDING, ReturnDocument, UpdateOne
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

OPS_WINDOW = 16         # recent operation ids kept per counter document (see _bump)
OPS_SLACK = 16          # how far the list may grow past the window before it is cut back
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

    def save_state(self, state: dict, delta: Vector,
                   homes: dict[str, list[str]] | None = None) -> None:
        """Save the entity's new state and its counter delta in one write, then apply
        the delta (and each person's part of it to their rollups, `homes`). Raises
        StateConflict if the state changed since it was read."""
        homes = homes or {}
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
        body = {k: v for k, v in state.items() if k not in ("_id", "version", "pending")}
        body.update({"version": new_version, "pending": pending})
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

    def _finish(self, doc: dict) -> None:
        pending = doc["pending"]
        op = pending["op"]
        by_document: dict[tuple, dict[str, int]] = {}
        for row in pending["counters"]:
            key = (row["kind"], row["segment"], row["bucket"])
            by_document.setdefault(key, {})[row["field"]] = row["n"]
        self._bump_all(by_document, op)
        for row in pending["members"]:
            self._set_member(row["kind"], row["segment"], row["bucket"], row["field"],
                             row["member"], doc["_id"], row["n"], row.get("rollups") or ())
        self.states.update_one({"_id": doc["_id"], "pending.op": op},
                               {"$set": {"pending": None}})

    def _bump_all(self, by_document: dict[tuple, dict[str, int]], op: str) -> None:
        """An operation's counter updates in one bulk write, each guarded as `_bump`'s,
        then one read for the op lists grown past their window. A document that holds
        the operation already (finished before: a crash, a concurrent finisher) makes
        FerretDB's reply one pymongo cannot read (docs/database.md): then each update
        goes alone, and those the bulk applied find their operation and do nothing."""
        requests = {}
        for (kind, segment, bucket), changes in by_document.items():
            inc = {f"c.{escape(f)}": Int64(n) for f, n in changes.items() if n}
            if inc:
                counter_id = _counter_id(kind, segment, bucket)
                requests[counter_id] = UpdateOne(
                    {"_id": counter_id, "ops": {"$ne": op}},
                    {"$inc": inc, "$push": {"ops": op},
                     "$setOnInsert": {"kind": kind, "segment": segment, "bucket": bucket}},
                    upsert=True)
        if not requests:
            return
        try:
            self.counters.bulk_write(list(requests.values()), ordered=False)
        except (BulkWriteError, DuplicateKeyError, KeyError):  # KeyError: pymongo's
            for (kind, segment, bucket), changes in by_document.items():
                self._bump(kind, segment, bucket, changes, op)
            return
        long_lists = {"_id": {"$in": list(requests)},
                      f"ops.{OPS_WINDOW + OPS_SLACK - 1}": {"$exists": True}}
        for doc in self.counters.find(long_lists, {"ops": 1}):
            trim_list(self.counters, doc, "ops", keep=OPS_WINDOW, slack=OPS_SLACK)

    def _bump(self, kind, segment, bucket, changes: dict[str, int], op: str) -> None:
        """Add to counters once per operation id (a repeat finds the id and does nothing)."""
        # always 64-bit: FerretDB 1.24 wraps an int32 + int32 $inc that overflows (MongoDB
        # widens it), and weighted amounts (cents x basis points) pass 2**31 quickly
        inc = {f"c.{escape(f)}": Int64(n) for f, n in changes.items() if n}
        if not inc:
            return
        counter_id = _counter_id(kind, segment, bucket)
        for _ in range(CONFLICT_RETRIES):
            try:
                after = self.counters.find_one_and_update(
                    {"_id": counter_id, "ops": {"$ne": op}},
                    {"$inc": inc, "$push": {"ops": op},
                     "$setOnInsert": {"kind": kind, "segment": segment, "bucket": bucket}},
                    upsert=True, return_document=ReturnDocument.AFTER)
                trim_list(self.counters, after, "ops", keep=OPS_WINDOW, slack=OPS_SLACK)
                return
            except DuplicateKeyError:
                # the document exists: either it holds this operation already, or another
                # writer created it a moment ago and the update must simply run again
                if self.counters.find_one({"_id": counter_id, "ops": op}, {"_id": 1}):
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
                    fields = {unescape(f): n for f, n in (doc.get("c") or {}).items() if n}
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
