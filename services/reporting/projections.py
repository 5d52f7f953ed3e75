"""How events change the reporting read models: pure functions over plain dicts.

The scheme ("contribution diffing"), chosen so that duplicates and out-of-order delivery
end in exactly the figures of in-order processing:

1. Every event touches one *entity* (a customer, opportunity, interaction or task; one
   module each in `entities/`). Its state is a plain dict holding the latest-known value
   of each field together with the order key (`crmkit.bus.ordering.order_key`: the
   producer's version, then time, then event id) of the event that set it. A field only
   moves forward (last writer wins by order key); the set of stages an opportunity ever
   reached only grows. So applying events in any order, or one event twice, yields the
   same final state.
2. `contributions(state)` says what that entity adds to the pre-aggregated counters
   *now*: a vector (`counters.py`).
3. The state remembers the vector it last applied. Applying an event stores
   `contributions(new) - applied` into the counters. An entity therefore always
   contributes exactly its current picture, wherever it used to count (owner changes,
   stage moves, corrected amounts, a creation event arriving late).

Idempotency is the entity's own (the ids of its recent events, and the store's
operation ids on counters) rather than `crmkit.bus.idempotent.apply_once`, because one
event changes an entity's state and, through the diff, any number of counter documents,
which no single conditional write on one document covers.

Counters are grouped by *segment*: `u:<user id>` for an owner, `p:<region>` for records
with no owner (the pool). A segment's team and region are looked up at query time in the
directory built from `user.*` events (`segments.py`), so figures follow a person who
changes team, and a report costs in proportion to segments x buckets, never to events.
Beside them the store keeps rollups per team, region and organisation (`counters.py`):
each delta goes to the person's rolled home too, and a person whose team or region
changes has their figures moved to the new rollups here (`_put_entry`), so a report over
many people reads their rollups instead of each of them.

Every projection reads the fields the producer's schema declares (the `events`
package); the consumer has checked the event against that schema before it gets here.
Money is integer cents; weighted amounts are cents x basis points (exact integers).
Dates are local dates in the organisation's time zone, passed in as `tz`.
"""
from __future__ import annotations

from typing import Protocol

from crmkit.bus.ordering import order_key, utc_text
from crmkit.clock import org_timezone
from services.reporting.counters import (ORG_ROLLUP, Vector, diff, from_rows,
                                         owner_segment, pack, rollups_of, segments_in)
from services.reporting.entities import KINDS, entity_ref, value
from services.reporting.entities.state import new_state
from services.reporting.pipeline import DEFAULT_PIPELINE
from services.reporting.segments import apply_hint, apply_user_event, directory_entry

SEEN_KEEP = 16  # recent event ids kept per entity: a cheap second line against duplicates


def apply_event(state: dict, envelope: dict, tz=None) -> dict:
    """The entity's state after `envelope` (a new dict; the input is not changed)."""
    tz = tz or org_timezone()
    event_id = envelope["id"]
    if event_id in state.get("seen", ()):
        return state
    state = {**state, "f": dict(state["f"]), "t": dict(state["t"]),
             "reached": list(state.get("reached") or []),
             "seen": (list(state.get("seen") or []) + [event_id])[-SEEN_KEEP:]}
    occurred = utc_text(envelope["occurred_at"])
    key = order_key(envelope, creation=envelope["type"].endswith(".created"))
    if occurred and (state.get("first") is None or occurred < state["first"]):
        state["first"] = occurred
    KINDS[state["type"]].apply(state, envelope, key, tz)
    return state


def contributions(state: dict, pipeline: dict | None = None) -> Vector:
    """What an entity adds to the counters, given everything known about it now."""
    return KINDS[state["type"]].contributions(state, pipeline or DEFAULT_PIPELINE)


# events projected one at a time even in a batch (Projector.handle_many)
SINGLE_EVENTS = ("user.created", "user.updated", "pipeline.updated")


class StateConflict(Exception):
    """The entity's state changed between read and write (another consumer thread)."""


class ProjectionStore(Protocol):
    def get_state(self, state_id: str) -> dict | None: ...
    def save_state(self, state: dict, delta: Vector,
                   homes: dict[str, list[str]] | None = None) -> None: ...
    def get_states(self, state_ids: list[str]) -> dict[str, dict]: ...
    def save_states(self, saves: list[tuple[dict, Vector, dict]]) -> list[str]: ...
    def get_directory(self, segment: str) -> dict | None: ...
    def put_directory(self, entry: dict) -> None: ...
    def get_pipeline(self) -> dict | None: ...
    def put_pipeline(self, pipeline: dict) -> None: ...
    def move_rollups(self, segment: str, old: list[str], new: list[str], op: str) -> None: ...


class Projector:
    """Feeds events through the pure functions above into a store.

    `store.save_state(state, delta, homes)` must apply `delta` to the counters (and each
    person's part of it to the rollups `homes` names) and save the state; the Mongo store
    makes that safe against a crash in between (see repository).
    """

    retries = 20

    def __init__(self, store: ProjectionStore, tz=None):
        self.store = store
        self.tz = tz or org_timezone()

    def pipeline(self) -> dict:
        return self.store.get_pipeline() or DEFAULT_PIPELINE

    def handle(self, envelope: dict) -> None:
        etype = envelope["type"]
        if etype in ("user.created", "user.updated"):
            self._handle_user(envelope)
            return
        if etype == "pipeline.updated":
            self._handle_pipeline(envelope)
            return
        ref = entity_ref(envelope)
        if ref is None:
            return
        state_id = f"{ref[0]}:{ref[1]}"
        for attempt in range(self.retries):
            try:
                self._project(state_id, ref, envelope)
                return
            except StateConflict:
                if attempt == self.retries - 1:
                    raise

    def handle_many(self, envelopes: list[dict]) -> None:
        """Project entity events together (the consumer's batches): one read of their
        entities' states, each entity's events applied in turn and its delta taken once,
        all of them saved in one write (`store.save_states`, which sums the deltas of
        one counter document). An entity another writer changed meanwhile has its
        events projected one by one afterwards (`handle`, which retries). Events about
        no entity, user.* and pipeline.updated go through `handle` (callers give those
        alone: a user's event moves figures under the lock held alone)."""
        groups: dict[str, tuple[tuple[str, str], list[dict]]] = {}
        for envelope in envelopes:
            ref = entity_ref(envelope)
            if ref is None or envelope["type"] in SINGLE_EVENTS:
                self.handle(envelope)
            else:
                groups.setdefault(f"{ref[0]}:{ref[1]}", (ref, []))[1].append(envelope)
        if not groups:
            return
        states = self.store.get_states(list(groups))
        saves, olds = [], {}
        for state_id, (ref, events) in groups.items():
            old = states.get(state_id) or new_state(*ref)
            prepared = self._prepare(old, events)
            if prepared is None:
                self._sync_value(old, old, again=True)
            else:
                olds[state_id] = old
                saves.append(prepared)
        conflicts = set(self.store.save_states(saves)) if saves else set()
        for new, _, _ in saves:
            if new["_id"] in conflicts:
                for envelope in groups[new["_id"]][1]:
                    self.handle(envelope)
            else:
                self._sync_value(olds[new["_id"]], new)

    def _project(self, state_id: str, ref: tuple[str, str], envelope: dict) -> None:
        old = self.store.get_state(state_id) or new_state(*ref)
        prepared = self._prepare(old, [envelope])
        if prepared is None:  # seen before; a crash may have come before the value sync
            self._sync_value(old, old, again=True)
            return
        self.store.save_state(*prepared)
        self._sync_value(old, prepared[0])

    def _prepare(self, old: dict, envelopes: list[dict]) -> tuple[dict, Vector, dict] | None:
        """The entity's new state after `envelopes`, the delta it adds to the counters
        and the rolled homes of the people in it (`save_state`'s arguments), its
        directory entries stored; None if every event was seen before."""
        new = old
        for envelope in envelopes:
            new = apply_event(new, envelope, self.tz)
        if new is old:
            return None
        kind = KINDS[new["type"]]
        vec = contributions(new, self.pipeline())
        delta = diff(vec, from_rows(old.get("applied")))
        new["applied"] = pack(vec)
        new["segment"] = kind.segment(new)
        key = max(order_key(envelope) for envelope in envelopes)
        for segment in sorted(segments_in(vec) | {new["segment"]}):
            existing = self.store.get_directory(segment)
            entry = existing or directory_entry(segment)
            if segment == new["segment"]:
                entry = apply_hint(entry, kind.hint(new), key)
            if existing is None or entry is not existing:
                self._put_entry(entry, existing, key)
        homes = {}
        for segment in segments_in(delta):
            entry = self.store.get_directory(segment) if segment.startswith("u:") else None
            if entry and entry.get("rollups"):
                homes[segment] = list(entry["rollups"])
        new["seq"] = (old.get("seq") or 0) + 1  # the saves are serialised: a higher knows more
        return new, delta, homes

    def _sync_value(self, old: dict, new: dict, again: bool = False) -> None:
        """Hand a customer's value state (entities/value.py) what this save changed: an
        opportunity's won part (for its customer, and the one it left), a customer's
        deletion. `again`: a redelivered event, whose sync may have been lost."""
        seq = new.get("seq") or 0
        if new["type"] == "opportunity":
            left, before = value.won_part(old)
            customer, part = value.won_part(new)
            if left and left != customer and before is not None and not again:
                self._change_value(left, lambda s: value.with_part(s, new["id"], seq, None))
            if customer and (again or part is not None or before is not None):
                self._change_value(customer,
                                   lambda s: value.with_part(s, new["id"], seq, part))
        elif new["type"] == "customer" and new["f"].get("deleted") and (
                again or not old["f"].get("deleted")):
            self._change_value(new["id"], value.with_deleted)

    def _change_value(self, customer_id: str, change) -> None:
        for attempt in range(self.retries):
            old = self.store.get_state(value.state_id(customer_id)) or \
                value.new_state(customer_id)
            new = change(old)
            if new is None:
                return
            vec = value.contributions(new)
            delta = diff(vec, from_rows(old.get("applied")))
            new.update(applied=pack(vec), vkey=value.rank(new))
            try:
                self.store.save_state(new, delta, {})
                return
            except StateConflict:
                if attempt == self.retries - 1:
                    raise

    def _handle_user(self, envelope: dict) -> None:
        segment = owner_segment(envelope["data"]["id"])
        existing = self.store.get_directory(segment)
        entry = apply_user_event(existing or directory_entry(segment), envelope)
        if entry is not existing:
            self._put_entry(entry, existing, order_key(envelope))

    def _put_entry(self, entry: dict, before: dict | None, key: str) -> None:
        """Store a directory entry. A person's figures follow them: when their user event
        says a team or region other than the rollups their counters are summed into
        (`rollups`, their rolled home), the store moves those figures to the new rollups first, and only
        then is the new home recorded (a crash in between: the next look at the entry
        moves again, and the move's operation id makes that count once)."""
        if not entry["_id"].startswith("u:"):
            self.store.put_directory(entry)
            return
        home = rollups_of(entry.get("team"), entry.get("region"))
        from_user = entry.get("source") == "user"
        if before is None:  # a new person: no figures yet anywhere
            # known from a record only: the home it names when it names both team and
            # region (the owner's profile, so the user's own event mostly agrees and
            # nothing moves), else the organisation's rollup, which every home includes
            # (threads meeting the new person at once then agree on it)
            complete = entry.get("team") and entry.get("region")
            self.store.put_directory({**entry, "rollups": home if from_user or complete
                                      else [ORG_ROLLUP]})
            return
        rolled = list(entry.get("rollups") or [])  # none: kept before rollups existed
        # only the user's own events move figures: they are projected with the lock held
        # alone (handlers.on_event), while a record's hint comes with other threads
        # writing this person's counters; until then the home stays (reports read a
        # rollup by whom it holds, so they stay exact)
        if rolled == home or not from_user:
            self.store.put_directory(entry)
            return
        self.store.put_directory({**entry, "rollups": rolled})
        self.store.move_rollups(entry["_id"], rolled, home,
                                f"move|{entry['_id']}|{key}|{'&'.join(home)}")
        self.store.put_directory({**entry, "rollups": home})

    def _handle_pipeline(self, envelope: dict) -> None:
        current = self.store.get_pipeline() or {}
        key = order_key(envelope)
        if current.get("k") and key < current["k"]:
            return
        self.store.put_pipeline({"stages": [dict(s) for s in envelope["data"]["stages"]],
                                 "k": key})

