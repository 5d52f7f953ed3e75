"""An in-process store for the read models: the reference the Mongo repository mirrors.

It keeps the same plain dicts the repository keeps in MongoDB (entity states, counter
documents `{kind, segment, bucket, c: {field: n}}`, distinct-count members, the
directory, targets) and answers the same read questions, so the report code and the
projector are unit-tested without any server.
"""
from __future__ import annotations

from collections import defaultdict

from services.reporting.counters import ROLLED_KINDS, Vector, with_rollups


class MemoryStore:
    def __init__(self):
        self.states: dict[str, dict] = {}
        # (kind, segment) -> bucket -> {field: n}
        self.counters: dict[tuple[str, str], dict[str, dict[str, int]]] = defaultdict(dict)
        self.members: dict[tuple, int] = {}
        self.directory: dict[str, dict] = {}
        self.pipeline: dict | None = None
        self.target_docs: dict[tuple[str, str, str], dict] = {}

    # --- writes (ProjectionStore) -----------------------------------------------------

    def get_state(self, state_id: str) -> dict | None:
        return self.states.get(state_id)

    def save_state(self, state: dict, delta: Vector,
                   homes: dict[str, list[str]] | None = None) -> None:
        self.apply_delta(delta, homes or {})
        self.states[state["_id"]] = state

    def get_states(self, state_ids: list[str]) -> dict[str, dict]:
        return {i: self.states[i] for i in state_ids if i in self.states}

    def save_states(self, saves: list[tuple[dict, Vector, dict]]) -> list[str]:
        """Save each (state, delta, homes); the ids that conflicted (never, here)."""
        for state, delta, homes in saves:
            self.save_state(state, delta, homes)
        return []

    def apply_delta(self, delta: Vector, homes: dict[str, list[str]]) -> None:
        for key, change in sorted(with_rollups(delta, homes).items()):
            if key[0] == "c":
                _, kind, segment, bucket, field = key
                self._bump(kind, segment, bucket, field, change)
            else:
                _, kind, segment, bucket, field, member = key
                before = self.members.get(key[1:], 0)
                after = before + change
                if after:
                    self.members[key[1:]] = after
                else:
                    self.members.pop(key[1:], None)
                flip = 1 if before <= 0 < after else -1 if before > 0 >= after else 0
                if flip:  # a person's distinct count rolls up as a plain counter
                    rolled = homes.get(segment, ()) if kind in ROLLED_KINDS else ()
                    for target in (segment, *rolled):
                        self._bump(kind, target, bucket, field, flip)

    def move_rollups(self, segment: str, old: list[str], new: list[str], op: str) -> None:
        """A person's figures leave the rollups they no longer belong to and join the
        new ones."""
        for kind in ROLLED_KINDS:
            for bucket, fields in list(self.counters.get((kind, segment), {}).items()):
                for field, n in list(fields.items()):
                    for rollup in set(old) - set(new):
                        self._bump(kind, rollup, bucket, field, -n)
                    for rollup in set(new) - set(old):
                        self._bump(kind, rollup, bucket, field, n)

    def _bump(self, kind, segment, bucket, field, change) -> None:
        doc = self.counters[(kind, segment)].setdefault(bucket, {})
        value = doc.get(field, 0) + change
        if value:
            doc[field] = value
        else:
            doc.pop(field, None)

    def get_directory(self, segment: str) -> dict | None:
        return self.directory.get(segment)

    def put_directory(self, entry: dict) -> None:
        self.directory[entry["_id"]] = entry

    def get_pipeline(self) -> dict | None:
        return self.pipeline

    def put_pipeline(self, pipeline: dict) -> None:
        self.pipeline = pipeline

    def put_target(self, scope: str, key: str, period: str, amount_cents: int,
                   region: str | None = None, *, by: str | None = None, at=None) -> dict:
        doc = self.target_docs[(scope, key, period)] = {
            "scope": scope, "key": key, "period": period, "amount_c": amount_cents,
            "region": region, "updated_by": by, "updated_at": at}
        return dict(doc)

    # --- reads (what reports ask) -------------------------------------------------------

    def list_directory(self, *, fresh: bool = False) -> list[dict]:
        return list(self.directory.values())

    def counter_docs(self, kind: str, segments, ranges) -> list[dict]:
        """Counter documents of `kind` for `segments` whose bucket lies in a range."""
        found = []
        for segment in segments:
            buckets = self.counters.get((kind, segment))
            if not buckets:
                continue
            for bucket, fields in buckets.items():
                if fields and any(low <= bucket <= high for low, high in ranges):
                    found.append({"kind": kind, "segment": segment, "bucket": bucket,
                                  "c": dict(fields)})
        return found

    def customers(self, customer_ids) -> dict[str, dict]:
        """Name, owner and deleted flag of customers, by id (those known)."""
        found = {}
        for customer_id in customer_ids:
            state = self.states.get(f"customer:{customer_id}")
            if state:
                found[customer_id] = {"name": state["f"].get("name"),
                                      "owner_id": state["f"].get("owner_id"),
                                      "deleted": bool(state["f"].get("deleted"))}
        return found

    def value_model_ready(self) -> bool:
        return True

    def value_ranked(self, low: str, high: str | None, limit: int, *,
                     rows: bool = True) -> list[dict]:
        """Customers' value states in report order (`vkey`) from `low` (inclusive) to
        `high` (exclusive), at most `limit`."""
        found = sorted((s for s in self.states.values() if s.get("vkey") is not None
                        and s["vkey"] >= low and (high is None or s["vkey"] < high)),
                       key=lambda s: s["vkey"])
        return found[:max(limit, 0)]

    def targets(self, scope: str) -> list[dict]:
        return [dict(doc) for (s, _, _), doc in self.target_docs.items() if s == scope]

    # --- rebuild ------------------------------------------------------------------------

    def clear(self) -> None:
        """Drop what events built; targets are people's input, not projections: kept."""
        targets = self.target_docs
        self.__init__()
        self.target_docs = targets
