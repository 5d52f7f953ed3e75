"""Idempotency-Key on creating POSTs: a repeat by the same caller returns the first
response and creates nothing new (CONTRACT §2). The key is stored with a fingerprint of
the request (method, path, query, body): the same key on a different request is refused
with 422 instead of answering it with the first request's response."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from functools import wraps

from flask import Response, request
from pymongo.errors import DuplicateKeyError

from crmkit.clock import utcnow
from crmkit.errors import Conflict, Invalid
from crmkit.web import current_identity

HEADER = "Idempotency-Key"
KEEP = timedelta(hours=24)   # a key is remembered this long
KEY_REUSED = ("此 Idempotency-Key 已用于另一个不同的请求 / This Idempotency-Key was already "
              "used for a different request.")


def request_fingerprint() -> str:
    """sha256 of what makes the current request this request. A multipart body's
    boundary is random per send, so it is left out: a retried upload matches."""
    body = request.get_data()
    boundary = request.mimetype_params.get("boundary") if request.mimetype.startswith(
        "multipart/") else None
    if boundary:
        body = body.replace(boundary.encode("latin-1"), b"")
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), request.query_string):
        digest.update(part + b"\0")
    digest.update(body)
    return digest.hexdigest()


class IdempotencyStore:
    """Keys expire by time: a key older than KEEP counts as unused, and `sweep` (a
    scheduled job in every worker) deletes them; no TTL index (docs/database.md)."""

    def __init__(self, collection):
        self._collection = collection

    def ensure_indexes(self) -> None:
        self._collection.create_index("created_at", name="created_at")

    def begin(self, caller: str, key: str, route: str,
              fingerprint: str | None = None) -> dict | None:
        """Reserve the key; return the stored response if it was used before by the
        same request. Used by a different request (another fingerprint): 422."""
        _id = f"{caller}:{route}:{key}"
        for _ in range(2):
            now = utcnow()
            try:
                self._collection.insert_one({"_id": _id, "state": "running",
                                             "created_at": now, "fingerprint": fingerprint})
                return None
            except DuplicateKeyError:
                stored = self._collection.find_one({"_id": _id})
            if stored is None or stored["created_at"] < now - KEEP:
                # expired (or just swept): forget it, then reserve it afresh
                if stored is not None:
                    self._collection.delete_one({"_id": _id,
                                                 "created_at": stored["created_at"]})
                continue
            # keys stored before fingerprints existed carry none: they replay as before
            if fingerprint and stored.get("fingerprint") not in (None, fingerprint):
                raise Invalid(HEADER, KEY_REUSED, code="idempotency_key_reused")
            if stored.get("state") == "done":
                return stored
            break
        raise Conflict("A request with this Idempotency-Key is still running.",
                       code="idempotency_in_progress")

    def sweep(self, now: datetime) -> int:
        """Delete the keys that have expired."""
        return self._collection.delete_many({"created_at": {"$lt": now - KEEP}}).deleted_count

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
            stored = store.begin(caller, key, request.path, request_fingerprint())
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
