"""Liveness of background components, shared through the service's own database.

Workers may run in the API process (embedded) or in their own processes (real
MongoDB); either way each component writes a heartbeat, and /readyz reads them.
"""
from __future__ import annotations

from datetime import timedelta

from crmkit.clock import utcnow
from crmkit.queries import count_matching
from crmkit.scheduling import instance_name

STALE_AFTER = timedelta(seconds=30)
COLLECTION = "_heartbeats"


class Heartbeats:
    """One document per worker, naming the components alive in it: one write per beat
    however many components a worker runs (an idle system's writes are mostly these)."""

    def __init__(self, database):
        self._collection = database[COLLECTION]

    def beat(self, components: list[str]) -> None:
        self._collection.update_one(
            {"_id": instance_name()},
            {"$set": {"components": components, "at": utcnow()}}, upsert=True)

    def alive(self, component: str) -> bool:
        since = utcnow() - STALE_AFTER
        return count_matching(self._collection,
                              {"components": component, "at": {"$gte": since}}) > 0
