"""What other services' events said of their records, as far as tasks need it.

  customer_owners what customer events said of each customer: its owner with their team
                  and region, its region, sharees and whether it was deleted (to know
                  whom a task may link it for). The name stays from when it held owners
                  only.
  opportunities   what opportunity events said of each opportunity: its customer, owner
                  (with team and region) and region.

One document per record. Each keeps the order key (`crmkit.bus.ordering.order_key`) of
the event that last set it, and only an event with a greater key changes it, in the same
write that records the event id (`apply_once`): an older event arriving late changes
nothing and a redelivered one is applied once.
"""
from __future__ import annotations

from crmkit.bus.idempotent import apply_once

CUSTOMER_OWNERS = "customer_owners"
OPPORTUNITIES = "opportunities"
ORDER_KEY = "order_key"


class _EventFed:
    def __init__(self, collection):
        self.records = collection

    def record(self, record_id: str, facts: dict, key: str, event_id: str) -> bool:
        """Set `facts` if `key` is newer than what the record holds; False if not (or if
        this event was applied before)."""
        newer = [{ORDER_KEY: {"$lt": key}}, {ORDER_KEY: None}]
        return apply_once(self.records, {"_id": record_id, "$or": newer},
                          {"$set": {**facts, ORDER_KEY: key}}, event_id, upsert=True)

    def get(self, record_id: str) -> dict | None:
        return self.records.find_one({"_id": record_id})

    def get_many(self, record_ids) -> dict[str, dict]:
        ids = list(dict.fromkeys(record_ids))
        if not ids:
            return {}
        return {d["_id"]: d for d in self.records.find({"_id": {"$in": ids}})}


class CustomerRecords(_EventFed):
    """What customer events said of each customer (owner, sharees, region, deleted)."""

    def __init__(self, db):
        super().__init__(db[CUSTOMER_OWNERS])


class OpportunityRecords(_EventFed):
    """What opportunity events said of each opportunity (customer, owner, region)."""

    def __init__(self, db):
        super().__init__(db[OPPORTUNITIES])
