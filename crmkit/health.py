"""Liveness of background components, shared through the service's own database.

Workers may run in the API process (embedded) or in their own processes (real
MongoDB); either way each component writes a heartbeat, and /readyz reads them.
"""
from __future__ import annotations

from datetime import timedelta

from crmkit.clock import as_utc, utcnow
from crmkit.queries import count_matching
from crmkit.scheduling import instance_name

STALE_AFTER = timedelta(seconds=15)
COLLECTION = "_heartbeats"


class Heartbeats:
    def __init__(self, database):
        self._collection = database[COLLECTION]

    def beat(self, component: str, **details) -> None:
        self._collection.update_one(
            {"_id": f"{component}@{instance_name()}"},
            {"$set": {"component": component, "at": utcnow(), **details}}, upsert=True)

    def alive(self, component: str) -> bool:
        since = utcnow() - STALE_AFTER
        return count_matching(self._collection,
                              {"component": component, "at": {"$gte": since}}) > 0

    def last_seen(self, component: str):
        doc = self._collection.find_one({"component": component}, sort=[("at", -1)])
        return as_utc(doc["at"]) if doc else None
