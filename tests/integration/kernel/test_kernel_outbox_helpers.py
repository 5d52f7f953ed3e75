"""The single-document outbox: events travel in the same write as the change."""
from __future__ import annotations

import copy

from crmkit.bus.outbox import (LEASE, OUTBOX, PENDING, outbox_fields, strip_internal,
                               with_outbox)
from crm_testing import fresh_database

E1 = {"id": "e1", "type": "thing.made"}
E2 = {"id": "e2", "type": "thing.changed"}


def test_a_new_document_carries_its_first_events():
    assert outbox_fields([E1, E2]) == {OUTBOX: [E1, E2], PENDING: True}
    assert outbox_fields([]) == {OUTBOX: [], PENDING: False}


def test_with_outbox_merges_into_an_existing_update_without_changing_it():
    update = {"$set": {"name": "new"}, "$inc": {"version": 1},
              "$push": {"history": {"at": 1}}}
    original = copy.deepcopy(update)
    merged = with_outbox(update, [E1])
    assert update == original  # the caller's dict is not modified
    assert merged == {"$set": {"name": "new", PENDING: True}, "$inc": {"version": 1},
                      "$push": {"history": {"at": 1}, OUTBOX: {"$each": [E1]}}}


def test_with_outbox_adds_set_and_push_when_missing():
    assert with_outbox({"$inc": {"version": 1}}, [E1, E2]) == {
        "$inc": {"version": 1}, "$set": {PENDING: True}, "$push": {OUTBOX: {"$each": [E1, E2]}}}


def test_with_outbox_without_events_is_the_update_itself():
    update = {"$set": {"a": 1}}
    assert with_outbox(update, []) is update


def test_the_merged_update_writes_change_and_events_at_once():
    collection = fresh_database("outbox")["things"]
    collection.insert_one({"_id": "t1", "version": 1, "name": "old", **outbox_fields([E1])})
    result = collection.update_one(
        {"_id": "t1", "version": 1},
        with_outbox({"$set": {"name": "new"}, "$inc": {"version": 1}}, [E2]))
    assert result.modified_count == 1
    doc = collection.find_one({"_id": "t1"})
    assert doc["name"] == "new" and doc["version"] == 2
    assert [e["id"] for e in doc[OUTBOX]] == ["e1", "e2"] and doc[PENDING] is True


def test_strip_internal_removes_bookkeeping_only():
    doc = {"_id": "x", "name": "n", OUTBOX: [E1], PENDING: True, LEASE: None,
           "_seen_events": ["e0"], "version": 3}
    assert strip_internal(doc) == {"_id": "x", "name": "n", "version": 3}
    assert strip_internal(None) is None
