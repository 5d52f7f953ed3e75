"""The only module of the reporting service that talks to MongoDB."""
from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from crmkit.bus.idempotent import apply_once

EVENTS = "events"          # every event consumed, kept for `crm reporting rebuild`
CUSTOMERS = "rm_customers"  # read model: one row per customer


class ReportingRepository:
    def __init__(self, db):
        self.db = db
        self.events = db[EVENTS]
        self.customers = db[CUSTOMERS]

    def ensure_indexes(self) -> None:
        self.events.create_index([("occurred_at", 1)])
        self.customers.create_index([("owner_id", 1)])

    def keep_event(self, envelope: dict) -> bool:
        """Store the event once; False if it was stored before."""
        try:
            self.events.insert_one({"_id": envelope["id"], **envelope})
            return True
        except DuplicateKeyError:
            return False

    def upsert_customer(self, customer_id: str, fields: dict, event_id: str) -> bool:
        return apply_once(self.customers, {"_id": customer_id}, {"$set": fields}, event_id,
                          upsert=True)

    def count_customers(self, filter_: dict) -> int:
        return self.customers.count_documents(filter_)
