"""The single-document outbox: events travel in the same write as the change."""
from __future__ import annotations

import copy

from crmkit import nesting

from crmkit.bus.outbox import (LEASE, OUTBOX, PENDING, outbox_fields, pending_envelopes,
                               strip_internal, with_outbox)
from crmkit.bus.publisher import event_message
from crm_testing import fresh_database

E1 = {"id": "e1", "type": "thing.made"}
E2 = {"id": "e2", "type": "thing.changed"}
S1, S2 = '{"id":"e1","type":"thing.made"}', '{"id":"e2","type":"thing.changed"}'


def test_a_new_document_carries_its_first_events_each_as_the_text_it_is_published_as():
    assert outbox_fields([E1, E2]) == {OUTBOX: [S1, S2], PENDING: True}
    assert outbox_fields([E1])[OUTBOX][0].encode() == event_message(E1).body
    assert outbox_fields([]) == {OUTBOX: [], PENDING: False}


def test_with_outbox_merges_into_an_existing_update_without_changing_it():
    update = {"$set": {"name": "new"}, "$inc": {"version": 1},
              "$push": {"history": {"at": 1}}}
    original = copy.deepcopy(update)
    merged = with_outbox(update, [E1])
    assert update == original  # the caller's dict is not modified
    assert merged == {"$set": {"name": "new", PENDING: True}, "$inc": {"version": 1},
                      "$push": {"history": {"at": 1}, OUTBOX: {"$each": [S1]}}}


def test_with_outbox_adds_set_and_push_when_missing():
    assert with_outbox({"$inc": {"version": 1}}, [E1, E2]) == {
        "$inc": {"version": 1}, "$set": {PENDING: True}, "$push": {OUTBOX: {"$each": [S1, S2]}}}


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
    assert [e["id"] for e in pending_envelopes(doc)] == ["e1", "e2"] and doc[PENDING] is True


def test_envelopes_read_back_as_written_in_either_stored_form():
    """Unicode, '.' and '$' in keys, lists in lists: nothing FerretDB 1.24 refuses in a
    field name or an array (the text is opaque to it). Documents written before the
    envelopes were text hold them nested (crmkit.nesting): still read."""
    envelope = {"id": "e3", "type": "thing.changed", "data": {
        "name": "客户", "changes": {"contacts.c1": [None, {"$tag": [[1, 2.5], []]}]}}}
    collection = fresh_database("outbox")["things"]
    collection.insert_one({"_id": "t1", **outbox_fields([envelope])})
    collection.insert_one({"_id": "t2", OUTBOX: [nesting.encode(E1), nesting.encode(envelope)],
                           PENDING: True})
    assert pending_envelopes(collection.find_one({"_id": "t1"})) == [envelope]
    assert pending_envelopes(collection.find_one({"_id": "t2"})) == [E1, envelope]
    assert pending_envelopes(None) == [] and pending_envelopes({"_id": "t3"}) == []


def test_strip_internal_removes_bookkeeping_only():
    doc = {"_id": "x", "name": "n", OUTBOX: [E1], PENDING: True, LEASE: None,
           "_seen_events": ["e0"], "version": 3}
    assert strip_internal(doc) == {"_id": "x", "name": "n", "version": 3}
    assert strip_internal(None) is None
