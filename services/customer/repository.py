"""The only module of the customer service that talks to MongoDB."""
from __future__ import annotations

from pymongo import ReturnDocument

from crmkit.bus.outbox import notify_outbox, outbox_fields, strip_internal

CUSTOMERS = "customers"
COUNTERS = "counters"


class CustomerRepository:
    outbox_collections = [CUSTOMERS]

    def __init__(self, db):
        self.db = db
        self.customers = db[CUSTOMERS]
        self.counters = db[COUNTERS]

    def ensure_indexes(self) -> None:
        self.customers.create_index("number", unique=True)
        self.customers.create_index([("owner_id", 1), ("created_at", -1)])

    def next_serial(self, day_key: str) -> int:
        """Atomic per-day counter: concurrent creates each get their own serial."""
        doc = self.counters.find_one_and_update(
            {"_id": f"customer-number:{day_key}"}, {"$inc": {"seq": 1}},
            upsert=True, return_document=ReturnDocument.AFTER)
        return doc["seq"]

    def add(self, doc: dict, envelopes: list[dict]) -> None:
        self.customers.insert_one({**doc, **outbox_fields(envelopes)})
        notify_outbox()

    def get(self, customer_id: str) -> dict | None:
        return strip_internal(self.customers.find_one({"_id": customer_id, "deleted": {"$ne": True}}))
