"""The only module of identity that talks to MongoDB: users and login attempts.

`users` documents carry their pending `user.*` event envelopes in the single-document
outbox (crmkit.bus.outbox), written by the same insert/update as the change, and the
user's integer `version` (the aggregate raises it) that every save checks against the
version it loaded (optimistic concurrency). Usernames are unique case-insensitively
through the `username_key` unique index. The user list's and the directory's filters
are built here, from the caller's visibility (crmkit.visibility) and the query.

`login_attempts` holds one small record per failed (and per resetting successful) login,
shared by every gateway replica; a TTL index lets a real MongoDB drop them once they
can no longer matter.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Iterable

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from crmkit.bus.outbox import notify_outbox, outbox_fields, with_outbox
from crmkit.clock import as_utc
from crmkit.errors import Conflict, Invalid, VersionConflict
from crmkit.identity import Identity
from crmkit.queries import count_matching
from crmkit.visibility import team_subtree_filter, visibility_filter
from gateway.identity.domain import User
from gateway.identity.fields import username_key
from gateway.identity.throttle import Attempt

USERS = "users"
LOGIN_ATTEMPTS = "login_attempts"

# Document fields that map one-to-one onto User attributes.
_USER_FIELDS = ("username", "name", "role", "team", "region", "timezone", "email", "active",
                "must_change_password", "session_version", "kept_session", "password_hash",
                "created_at", "updated_at", "version")

USERNAME_TAKEN = "该用户名已被使用 / This username is already taken."

# the user list's sort keys -> their fields
SORTABLE = {"username": "username_key", "name": "name", "role": "role", "team": "team",
            "region": "region", "created_at": "created_at", "updated_at": "updated_at"}


class UserRepository:
    def __init__(self, database):
        self.database = database
        self.users = database[USERS]
        self.attempts = database[LOGIN_ATTEMPTS]

    def ensure_indexes(self) -> None:
        self.users.create_index([("username_key", ASCENDING)], unique=True,
                                name="username_key_unique")
        self.users.create_index([("role", ASCENDING), ("active", ASCENDING)], name="role_active")
        self.users.create_index([("team", ASCENDING)], name="team")
        self.users.create_index([("region", ASCENDING)], name="region")
        self.users.create_index([("created_at", DESCENDING)], name="created_at")
        self.attempts.create_index([("key", ASCENDING), ("at", DESCENDING)], name="key_at")
        # no TTL index (docs/database.md): reads bound by time, `forget_attempts` sweeps
        self.attempts.create_index([("expire_at", ASCENDING)], name="expire_at")

    # -- users ----------------------------------------------------------------------

    def add(self, user: User, envelopes: list[dict]) -> None:
        """Insert a new user with its events; a taken username is a 409."""
        document = {**to_document(user), **outbox_fields(envelopes)}
        try:
            self.users.insert_one(document)
        except DuplicateKeyError:
            raise Conflict(USERNAME_TAKEN, code="username_taken") from None
        user.events.clear()
        self._published(user, envelopes)

    def save(self, user: User, loaded_version: int, envelopes: list[dict]) -> None:
        """Write the user's state and new events iff it is still at `loaded_version`."""
        state = to_document(user)
        state.pop("_id")
        result = self.users.update_one({"_id": user.id, "version": loaded_version},
                                       with_outbox({"$set": state}, envelopes))
        if result.matched_count != 1:
            raise VersionConflict("用户已被他人修改，请刷新后重试 / The user changed meanwhile; "
                                  "reload and try again.")
        self._published(user, envelopes)

    @staticmethod
    def _published(user: User, envelopes: list[dict]) -> None:
        if envelopes:  # the relay in this process sends them now, not at its next poll
            notify_outbox(USERS, [user.id])

    def get(self, user_id: str) -> User | None:
        if not isinstance(user_id, str):
            return None
        return from_document(self.users.find_one({"_id": user_id}))

    def by_username(self, username: str) -> User | None:
        if not isinstance(username, str):
            return None
        return from_document(self.users.find_one({"username_key": username_key(username)}))

    def list(self, filter_: dict, *, sort: list[tuple[str, int]], page: int,
             per_page: int) -> tuple[list[User], int]:
        total = count_matching(self.users, filter_)
        cursor = self.users.find(filter_).sort(sort).skip((page - 1) * per_page).limit(per_page)
        return [from_document(doc) for doc in cursor], total

    def list_visible(self, viewer: Identity, *, page: int, per_page: int,
                     sort: str | None = None, q: str | None = None, role: str | None = None,
                     team: str | None = None, region: str | None = None,
                     active: bool | None = None) -> tuple[list[User], int]:
        """The users `viewer` sees (crmkit.visibility, a user owning themself), filtered."""
        clauses: list[dict] = []
        scope = visibility_filter(viewer, owner_field="_id", team_field="team",
                                  region_field="region", shared_field=None)
        if scope:
            clauses.append(scope)
        clauses += _user_clauses(q=q, role=role, team=team, region=region)
        if active is not None:
            clauses.append({"active": active})
        return self.list({"$and": clauses} if clauses else {}, sort=_sort(sort), page=page,
                         per_page=per_page)

    def active_directory(self, *, q: str | None = None, role: str | None = None,
                         team: str | None = None, region: str | None = None,
                         limit: int = 500) -> list[User]:
        """Active users matching the filters, by username."""
        clauses = [{"active": True}, *_user_clauses(q=q, role=role, team=team, region=region)]
        users, _ = self.list({"$and": clauses}, sort=[("username", 1)], page=1,
                             per_page=limit)
        return users

    def has_admin(self) -> bool:
        return count_matching(self.users, {"role": "admin"}) > 0

    def count_active_admins(self, *, excluding: str | None = None) -> int:
        filter_: dict[str, Any] = {"role": "admin", "active": True}
        if excluding is not None:
            filter_["_id"] = {"$ne": excluding}
        return count_matching(self.users, filter_)

    # -- login attempts -----------------------------------------------------------------

    def attempts_since(self, keys: Iterable[str], since: datetime) -> list[Attempt]:
        cursor = self.attempts.find({"key": {"$in": list(keys)}, "at": {"$gt": since}})
        return [Attempt(doc["key"], as_utc(doc["at"]), doc["succeeded"]) for doc in cursor]

    def forget_attempts(self, now: datetime) -> int:
        """Delete the attempt records that can no longer matter."""
        return self.attempts.delete_many({"expire_at": {"$lt": now}}).deleted_count

    def record_attempts(self, attempts: Iterable[Attempt], *, keep_for: timedelta) -> None:
        documents = [{"key": a.key, "at": a.at, "succeeded": a.succeeded,
                      "expire_at": a.at + keep_for} for a in attempts]
        if documents:
            self.attempts.insert_many(documents)


def _sort(sort: str | None) -> list[tuple[str, int]]:
    text = sort or "username"
    direction = -1 if text.startswith("-") else 1
    name = text.lstrip("+-")
    if name not in SORTABLE:
        raise Invalid("sort", "可排序字段 / Sort by one of: " + ", ".join(sorted(SORTABLE)) + ".")
    return [(SORTABLE[name], direction), ("_id", direction)]


def _user_clauses(*, q: str | None, role: str | None, team: str | None,
                  region: str | None) -> list[dict]:
    """The user list's and the directory's filters: name contains, role, team and below,
    region."""
    clauses: list[dict] = []
    if q:
        pattern = {"$regex": re.escape(q.strip()), "$options": "i"}
        clauses.append({"$or": [{"username": pattern}, {"name": pattern}]})
    if role:
        clauses.append({"role": role})
    if team:
        clauses.append(team_subtree_filter(team.strip().strip("/").lower(), "team"))
    if region:
        clauses.append({"region": region.strip().lower()})
    return clauses


def to_document(user: User) -> dict[str, Any]:
    document = {name: getattr(user, name) for name in _USER_FIELDS}
    document["_id"] = user.id
    document["username_key"] = user.username_key
    return document


def from_document(document: dict | None) -> User | None:
    if document is None:
        return None
    values = {name: document.get(name) for name in _USER_FIELDS}
    values["created_at"] = as_utc(values["created_at"])
    values["updated_at"] = as_utc(values["updated_at"])
    values["session_version"] = values["session_version"] or 0
    values["version"] = values["version"] or 0
    return User(id=document["_id"], **values)
