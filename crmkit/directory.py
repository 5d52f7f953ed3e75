"""Each service's own copy of the user directory, built from user.* events.

Services need other users' team and region (to check who may see a record, or whom a
record may be given to) without calling the gateway: the gateway publishes
user.created / user.updated and every service keeps this small read model.
"""
from __future__ import annotations

from crmkit.bus.consumer import Subscriptions
from crmkit.bus.idempotent import apply_once
from crmkit.bus.ordering import order_key
from crmkit.visibility import Owner

USERS = "users"
PROFILE_FIELDS = ("username", "name", "role", "team", "region", "timezone", "active", "email")


class UserDirectory:
    def __init__(self, db):
        self._users = db[USERS]
        self._listeners: list = []  # (user_id, profile) -> None, e.g. re-denormalise

    def when_changed(self, listener) -> None:
        """Call `listener(user_id, profile)` after each change applied to a user's copy
        (the composition root wires this once both sides exist)."""
        self._listeners.append(listener)

    def ensure_indexes(self) -> None:
        self._users.create_index("team")
        self._users.create_index("region")

    def subscribe(self, subscriptions: Subscriptions) -> None:
        subscriptions.on("user.created")(self.apply)
        subscriptions.on("user.updated")(self.apply)

    def apply(self, envelope: dict) -> None:
        data = envelope["data"]
        profile = {k: data[k] for k in PROFILE_FIELDS if k in data}
        key = order_key(envelope)
        # Older news never overwrites newer: the filter only matches an older copy.
        applied = apply_once(
            self._users,
            {"_id": data["id"], "$or": [{"order_key": {"$lt": key}}, {"order_key": None}]},
            {"$set": {**profile, "order_key": key}}, envelope["id"], upsert=True)
        if applied:
            for listener in self._listeners:
                listener(data["id"], profile)

    def get(self, user_id: str) -> dict | None:
        doc = self._users.find_one({"_id": user_id})
        if doc:
            doc["id"] = doc.pop("_id")
        return doc

    def owner(self, user_id: str | None) -> Owner:
        if not user_id:
            return Owner(None)
        doc = self._users.find_one({"_id": user_id}, {"team": 1, "region": 1})
        return Owner(user_id, doc.get("team") if doc else None, doc.get("region") if doc else None)

    def names(self, user_ids) -> dict[str, str]:
        ids = [u for u in set(user_ids) if u]
        return {d["_id"]: d.get("name") for d in self._users.find({"_id": {"$in": ids}},
                                                                  {"name": 1})}
