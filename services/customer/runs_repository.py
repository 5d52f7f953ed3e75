"""Work done once per database whatever the number of processes (a migration at start,
the auto-reclaim of a day), noted in `scheduled_runs` by key."""
from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from crmkit.clock import utcnow

RUNS = "scheduled_runs"


class RunsRepository:
    def __init__(self, db):
        self.runs = db[RUNS]

    def done(self, key: str) -> bool:
        return self.runs.find_one({"_id": key}) is not None

    def mark(self, key: str, **fields) -> None:
        """Note the run done (a process that noted it first wins; the note is the same)."""
        try:
            self.runs.insert_one({"_id": key, "at": utcnow(), **fields})
        except DuplicateKeyError:
            pass

    def position(self, key: str):
        """Where a run done in parts stopped (`advance`), or None before its first part."""
        doc = self.runs.find_one({"_id": f"{key}:position"})
        return doc["last"] if doc else None

    def advance(self, key: str, last) -> None:
        self.runs.update_one({"_id": f"{key}:position"},
                             {"$set": {"last": last, "at": utcnow()}}, upsert=True)
