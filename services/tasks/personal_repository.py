"""What belongs to one user: their inbox and their calendar feed token.

  notifications   the inbox: one document per event id, so a redelivered event makes
                  no second entry.
  calendar_tokens one per user: the sha256 of their current .ics token.
"""
from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from crmkit.queries import count_matching

from services.tasks.notifications import Notification

NOTIFICATIONS = "notifications"
CALENDAR_TOKENS = "calendar_tokens"


def notification_to_doc(note: Notification) -> dict:
    return {"_id": note.id, "user_id": note.user_id, "kind": note.kind, "title": note.title,
            "ref": note.ref, "created_at": note.created_at, "read": note.read,
            "read_at": note.read_at}


def notification_from_doc(doc: dict) -> Notification:
    return Notification(id=doc["_id"], user_id=doc["user_id"], kind=doc["kind"],
                        title=doc["title"], ref=doc.get("ref") or {},
                        created_at=doc["created_at"], read=bool(doc.get("read")),
                        read_at=doc.get("read_at"))


class NotificationRepository:
    def __init__(self, db):
        self.notes = db[NOTIFICATIONS]

    def ensure_indexes(self) -> None:
        self.notes.create_index([("user_id", ASCENDING), ("read", ASCENDING),
                                 ("created_at", DESCENDING)])

    def add(self, note: Notification) -> bool:
        """False if this event's entry is already there (a redelivery)."""
        try:
            self.notes.insert_one(notification_to_doc(note))
            return True
        except DuplicateKeyError:
            return False

    def page(self, user_id: str, *, unread: bool | None, page: int, per_page: int
             ) -> tuple[list[Notification], int]:
        filter_: dict = {"user_id": user_id}
        if unread is True:
            filter_["read"] = False
        elif unread is False:
            filter_["read"] = True
        total = count_matching(self.notes, filter_)
        cursor = (self.notes.find(filter_).sort([("created_at", DESCENDING),
                                                  ("_id", DESCENDING)])
                  .skip((page - 1) * per_page).limit(per_page))
        return [notification_from_doc(d) for d in cursor], total

    def unread_count(self, user_id: str) -> int:
        return count_matching(self.notes, {"user_id": user_id, "read": False})

    def mark_read(self, user_id: str, note_id: str, now: datetime) -> Notification | None:
        """Only the owner's entry; reading twice keeps the first read time."""
        doc = self.notes.find_one_and_update(
            {"_id": note_id, "user_id": user_id, "read": False},
            {"$set": {"read": True, "read_at": now}}, return_document=ReturnDocument.AFTER)
        if doc is None:
            doc = self.notes.find_one({"_id": note_id, "user_id": user_id})
        return notification_from_doc(doc) if doc else None

    def mark_all_read(self, user_id: str, now: datetime) -> int:
        return self.notes.update_many({"user_id": user_id, "read": False},
                                      {"$set": {"read": True, "read_at": now}}).modified_count


# ---------------------------------------------------------------- calendar tokens

class CalendarTokenRepository:
    def __init__(self, db):
        self.tokens = db[CALENDAR_TOKENS]

    def ensure_indexes(self) -> None:
        self.tokens.create_index("token_hash", unique=True)

    def replace(self, user_id: str, token_hash: str, now: datetime) -> None:
        """One token per user: a new one takes the old one's place (and revokes it)."""
        self.tokens.replace_one({"_id": user_id},
                                {"_id": user_id, "token_hash": token_hash, "created_at": now},
                                upsert=True)

    def revoke(self, user_id: str) -> bool:
        return self.tokens.delete_one({"_id": user_id}).deleted_count == 1

    def user_for(self, token_hash: str) -> str | None:
        doc = self.tokens.find_one({"token_hash": token_hash})
        return doc["_id"] if doc else None
