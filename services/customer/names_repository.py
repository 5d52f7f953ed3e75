"""Customer numbers and company names: what must be unique without unique secondary
indexes.

- The customer number is the customer document's `_id` (ids are strings): unique by
  construction from the atomic per-day counter, and the `_id` proves it.
- A normalised company name is reserved in `customer_names` (`_id` = the name): the
  duplicate check that holds under concurrent creates.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from crmkit.clock import as_utc, utcnow

CUSTOMERS = "customers"
NAMES = "customer_names"
COUNTERS = "counters"
NAME_RESERVATION_GRACE = timedelta(seconds=30)


class NamesRepository:
    def __init__(self, db):
        self.customers = db[CUSTOMERS]
        self.names = db[NAMES]
        self.counters = db[COUNTERS]

    def ensure_indexes(self) -> None:
        self.names.create_index("customer_id")

    def next_serials(self, day_key: str, count: int = 1) -> int:
        """Reserve `count` serials of the day atomically; returns the first of them."""
        doc = self.counters.find_one_and_update(
            {"_id": f"customer-number:{day_key}"}, {"$inc": {"seq": count}},
            upsert=True, return_document=ReturnDocument.AFTER)
        return doc["seq"] - count + 1

    def reserve(self, normalized: str, customer_id: str, now: datetime | None = None
                     ) -> str | None:
        """Reserve a normalised name for `customer_id`; returns the id of the customer
        already holding it, or None when reserved. A reservation whose customer was
        never written (a crash between the two writes) is taken over after a grace time."""
        now = now or utcnow()
        try:
            self.names.insert_one({"_id": normalized, "customer_id": customer_id, "at": now})
            return None
        except DuplicateKeyError:
            pass
        entry = self.names.find_one({"_id": normalized})
        if entry is None:  # released meanwhile: try once more
            return self.reserve(normalized, customer_id, now) if normalized else None
        holder = entry["customer_id"]
        if holder == customer_id:
            return None
        alive = self.customers.find_one(
            {"_id": holder, "deleted": False, "name_normalized": normalized}, {"_id": 1})
        if alive or as_utc(entry["at"]) > now - NAME_RESERVATION_GRACE:
            return holder
        taken = self.names.update_one(
            {"_id": normalized, "customer_id": holder},
            {"$set": {"customer_id": customer_id, "at": now}})
        return None if taken.matched_count else holder

    def reserve_many(self, wanted: dict[str, str], now: datetime | None = None
                     ) -> dict[str, str]:
        """`reserve` for many names at once (an import): normalised name -> customer id
        wanted; returns name -> holding customer id for the names others hold. The free
        names are inserted in one write; a name found taken, or taken meanwhile by a
        concurrent create (the batch fails), goes through `reserve` on its own."""
        now = now or utcnow()
        taken = {d["_id"] for d in self.names.find({"_id": {"$in": list(wanted)}}, {"_id": 1})}
        free = [{"_id": name, "customer_id": customer_id, "at": now}
                for name, customer_id in wanted.items() if name not in taken]
        if free:
            try:
                self.names.insert_many(free, ordered=False)
            except PyMongoError:   # FerretDB's reply to a duplicate in a batch is unreadable
                taken.update(doc["_id"] for doc in free)
        held = {}
        for name in taken:
            holder = self.reserve(name, wanted[name], now)
            if holder:
                held[name] = holder
        return held

    def release(self, normalized: str, customer_id: str) -> None:
        self.names.delete_one({"_id": normalized, "customer_id": customer_id})

    def holders(self, normalized_names) -> dict[str, str]:
        """normalised name -> holding customer id, for names in use by live customers."""
        names = list(set(normalized_names))
        held = {d["_id"]: d["customer_id"] for d in self.names.find({"_id": {"$in": names}})}
        if not held:
            return {}
        alive = {d["_id"] for d in self.customers.find(
            {"_id": {"$in": list(held.values())}, "deleted": False}, {"_id": 1})}
        return {name: cid for name, cid in held.items() if cid in alive}
