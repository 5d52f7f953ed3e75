"""Idempotency-Key on creating POSTs: a repeat by the same caller returns the first
response and creates nothing new (CONTRACT §2)."""
from __future__ import annotations

import json
from functools import wraps

from flask import Response, request
from pymongo.errors import DuplicateKeyError

from crmkit.clock import utcnow
from crmkit.errors import Conflict, Invalid
from crmkit.web import current_identity

HEADER = "Idempotency-Key"


class IdempotencyStore:
    def __init__(self, collection):
        self._collection = collection

    def ensure_indexes(self) -> None:
        self._collection.create_index("created_at", expireAfterSeconds=24 * 3600)

    def begin(self, caller: str, key: str, route: str) -> dict | None:
        """Reserve the key; return the stored response if it was used before."""
        _id = f"{caller}:{route}:{key}"
        try:
            self._collection.insert_one({"_id": _id, "state": "running",
                                         "created_at": utcnow()})
            return None
        except DuplicateKeyError:
            stored = self._collection.find_one({"_id": _id})
            if stored and stored.get("state") == "done":
                return stored
            raise Conflict("A request with this Idempotency-Key is still running.",
                           code="idempotency_in_progress") from None

    def finish(self, caller: str, key: str, route: str, response: Response) -> None:
        self._collection.update_one({"_id": f"{caller}:{route}:{key}"}, {"$set": {
            "state": "done", "status": response.status_code,
            "body": response.get_data(as_text=True),
            "content_type": response.content_type,
            "etag": response.headers.get("ETag")}})

    def abandon(self, caller: str, key: str, route: str) -> None:
        self._collection.delete_one({"_id": f"{caller}:{route}:{key}"})


def idempotent(store_of):
    """Decorate a creating view; `store_of()` returns the service's IdempotencyStore."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            key = request.headers.get(HEADER)
            if not key:
                return view(*args, **kwargs)
            if len(key) > 200:
                raise Invalid(HEADER, "At most 200 characters.")
            store, caller = store_of(), current_identity().user_id
            stored = store.begin(caller, key, request.path)
            if stored is not None:
                response = Response(stored["body"], status=stored["status"],
                                    content_type=stored["content_type"])
                if stored.get("etag"):
                    response.headers["ETag"] = stored["etag"]
                response.headers["Idempotent-Replayed"] = "true"
                return response
            try:
                response = view(*args, **kwargs)
            except Exception:
                store.abandon(caller, key, request.path)
                raise
            store.finish(caller, key, request.path, response)
            return response
        return wrapper
    return decorate


def dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False, default=str)
