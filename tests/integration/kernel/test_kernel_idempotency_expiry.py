"""Idempotency keys expire by time, without a TTL index: an old key counts as unused and
the sweep deletes only what expired."""
from __future__ import annotations

from datetime import timedelta

from crm_testing import fresh_database
from crmkit.clock import utcnow
from crmkit.idempotency import KEEP, IdempotencyStore


def test_a_key_older_than_a_day_is_free_again_and_the_sweep_deletes_only_old_keys():
    collection = fresh_database("idem")["_idempotency"]
    store = IdempotencyStore(collection)
    store.ensure_indexes()
    collection.insert_one({"_id": "u1:/api/v1/x:old", "state": "done", "status": 201,
                           "body": "{}", "content_type": "application/json",
                           "created_at": utcnow() - KEEP - timedelta(minutes=1)})
    collection.insert_one({"_id": "u1:/api/v1/x:new", "state": "done", "status": 201,
                           "body": "{}", "content_type": "application/json",
                           "created_at": utcnow()})

    assert store.begin("u1", "old", "/api/v1/x") is None          # reserved afresh
    assert store.begin("u1", "new", "/api/v1/x")["status"] == 201  # still replayed

    collection.update_one({"_id": "u1:/api/v1/x:old"},
                          {"$set": {"created_at": utcnow() - KEEP - timedelta(minutes=1)}})
    assert store.sweep(utcnow()) == 1
    assert [doc["_id"] for doc in collection.find()] == ["u1:/api/v1/x:new"]
