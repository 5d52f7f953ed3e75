"""The outbox relay without a broker: a stand-in publisher that confirms, refuses or
crashes, so each step of "lease, publish, pull what was confirmed" is seen on its own."""
from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest

from crmkit import nesting
from crmkit.bus.outbox import (OUTBOX, PENDING, OutboxRelay, outbox_fields, pending_envelopes,
                               with_outbox)
from crmkit.bus.publisher import Unroutable
from crmkit.clock import utcnow
from crm_testing import eventually, fresh_database


class StandInPublisher:
    """Confirms every event except those whose type it is told to refuse."""

    def __init__(self, unroutable=(), broken_after: int | None = None):
        self.confirmed: list[str] = []
        self.unroutable = set(unroutable)
        self.broken_after = broken_after

    def publish(self, envelope):
        if envelope["type"] in self.unroutable:
            raise Unroutable(envelope["type"])
        if self.broken_after is not None and len(self.confirmed) >= self.broken_after:
            raise ConnectionError("broker went away")
        self.confirmed.append(envelope["id"])

    def publish_batch(self, envelopes):
        """As the real publisher: each envelope's outcome, and the connection's failure
        for every one after it failed."""
        outcomes = []
        for envelope in envelopes:
            try:
                self.publish(envelope)
                outcomes.append(None)
            except Unroutable as refusal:
                outcomes.append(refusal)
            except ConnectionError as failure:
                return outcomes + [failure] * (len(envelopes) - len(outcomes))
        return outcomes


def envelope(type_="thing.made"):
    return {"id": uuid.uuid4().hex, "type": type_}


@pytest.fixture
def db():
    return fresh_database("relay")


def relay(db, publisher, **kw):
    return OutboxRelay(db, ["things", "others"], publisher, **kw)


def test_publishes_pending_events_in_order_and_marks_them_sent(db):
    first, second = envelope(), envelope("thing.changed")
    db.things.insert_one({"_id": "t1", **outbox_fields([first])})
    db.things.update_one({"_id": "t1"}, with_outbox({"$set": {"x": 1}}, [second]))
    publisher = StandInPublisher()
    sender = relay(db, publisher)
    assert sender.publish_pending() == 2
    assert publisher.confirmed == [first["id"], second["id"]]
    doc = db.things.find_one({"_id": "t1"})
    assert doc[OUTBOX] == [] and doc[PENDING] is False
    assert sender.leases(db.things).count_documents({}) == 0   # the lease freed
    assert relay(db, publisher).publish_pending() == 0   # nothing is sent twice


def test_a_failed_publish_keeps_the_unconfirmed_events_only(db):
    events = [envelope(), envelope(), envelope()]
    db.things.insert_one({"_id": "t1", **outbox_fields(events)})
    failing = relay(db, StandInPublisher(broken_after=1))
    with pytest.raises(ConnectionError):
        failing.publish_pending()
    doc = db.things.find_one({"_id": "t1"})
    assert [e["id"] for e in pending_envelopes(doc)] == [events[1]["id"], events[2]["id"]]
    assert doc[PENDING] is True
    assert failing.leases(db.things).count_documents({}) == 0   # free for the next pass
    later = StandInPublisher()
    assert relay(db, later).publish_pending() == 2
    assert later.confirmed == [events[1]["id"], events[2]["id"]]


def test_an_unroutable_event_stays_pending_without_blocking_other_documents(db):
    stuck, fine, other = envelope("nobody.listens"), envelope(), envelope()
    db.things.insert_one({"_id": "t1", **outbox_fields([stuck])})   # picked first
    db.things.insert_one({"_id": "t2", **outbox_fields([fine])})
    db.others.insert_one({"_id": "o1", **outbox_fields([other])})
    publisher = StandInPublisher(unroutable={"nobody.listens"})
    with pytest.raises(Unroutable):   # still reported, so the relay logs and backs off
        relay(db, publisher).publish_pending()
    assert publisher.confirmed == [fine["id"], other["id"]]
    assert pending_envelopes(db.things.find_one({"_id": "t1"})) == [stuck]
    assert db.things.find_one({"_id": "t1"})[PENDING] is True
    assert db.things.find_one({"_id": "t2"})[PENDING] is False


def test_a_document_leased_by_a_live_relay_is_left_alone(db):
    db.things.insert_one({"_id": "t1", **outbox_fields([envelope()])})
    holder = relay(db, StandInPublisher())
    assert holder._lease_next(db.things) is not None   # leased, then this relay "hangs"
    assert relay(db, StandInPublisher()).publish_pending() == 0


def test_a_crashed_relays_lease_expires_and_the_events_go_out(db):
    event = envelope()
    db.things.insert_one({"_id": "t1", **outbox_fields([event])})
    crashed = relay(db, StandInPublisher(), lease_seconds=0.05)
    assert crashed._lease_next(db.things) is not None   # leased, then the process died
    successor = StandInPublisher()
    eventually(lambda: crashed.leases(db.things).find_one({"_id": "t1",
                                                           "until": {"$lt": utcnow()}}),
               message="the crashed relay's lease expired")
    assert relay(db, successor).publish_pending() == 1
    assert successor.confirmed == [event["id"]]


def test_events_added_while_publishing_are_not_lost(db):
    first, late = envelope(), envelope()
    db.things.insert_one({"_id": "t1", **outbox_fields([first])})

    class WriterDuringPublish(StandInPublisher):
        def publish(self, env):
            super().publish(env)
            if env["id"] == first["id"]:   # a handler writes more while we publish
                db.things.update_one({"_id": "t1"}, with_outbox({"$set": {"y": 1}}, [late]))

    publisher = WriterDuringPublish()
    relay(db, publisher).publish_pending()
    assert publisher.confirmed == [first["id"], late["id"]]
    assert db.things.find_one({"_id": "t1"})[PENDING] is False


def test_envelopes_stored_nested_before_they_were_text_still_go_out_as_they_were(db):
    """Documents written before envelopes were stored as text hold them nested
    (crmkit.nesting): they publish decoded, and the confirmed ones are taken out by
    value, also when a text envelope was appended meanwhile (a mixed outbox)."""
    old = {**envelope(), "data": {"changes": {"contacts.c1": [["a"], ["a", "b"]]}}}
    older, late = envelope(), envelope()
    db.things.insert_one({"_id": "t1", OUTBOX: [nesting.encode(old)], PENDING: True})
    db.things.insert_one({"_id": "t2", OUTBOX: [nesting.encode(older)], PENDING: True})
    sent: list[dict] = []

    class WriterDuringPublish(StandInPublisher):
        def publish(self, env):
            super().publish(env)
            sent.append(env)
            if env["id"] == old["id"]:   # appended while the old one is out: $pullAll
                db.things.update_one({"_id": "t1"}, with_outbox({"$set": {"y": 1}}, [late]))

    publisher = WriterDuringPublish()
    relay(db, publisher).publish_pending()
    assert sent == [old, older, late]
    for _id in ("t1", "t2"):
        doc = db.things.find_one({"_id": _id})
        assert doc[OUTBOX] == [] and doc[PENDING] is False


def test_time_spent_publishing_does_not_put_off_the_next_scan(db):
    """The relay scans at most a tenth of the time; only the candidate queries count as
    scanning. (Counting the publishing too put the next scan off by ten times the
    backlog's publishing time: under a steady load of another process's writes, events
    waited tens of seconds.)"""
    import time

    for number in range(5):
        db.things.insert_one({"_id": f"t{number}", **outbox_fields([envelope()])})

    class SlowPublisher(StandInPublisher):
        spent = 0.0

        def publish(self, env):
            started = time.monotonic()
            threading.Event().wait(0.1)          # a confirm from a busy broker
            super().publish(env)
            SlowPublisher.spent += time.monotonic() - started

    publisher = SlowPublisher()
    busy = relay(db, publisher)
    assert busy.publish_pending() == 5
    assert 0 < busy.scan_seconds < publisher.spent


def test_documents_another_relay_holds_are_passed_over_and_the_rest_go_out(db):
    held, free = envelope(), envelope()
    db.things.insert_one({"_id": "t1", **outbox_fields([held])})   # first in line
    db.things.insert_one({"_id": "t2", **outbox_fields([free])})
    assert relay(db, StandInPublisher())._lease_next(db.things)["_id"] == "t1"
    publisher = StandInPublisher()
    assert relay(db, publisher, batch=1).publish_pending() == 1   # t1 alone: held
    assert publisher.confirmed == [free["id"]]
    assert db.things.find_one({"_id": "t1"})[PENDING] is True


def test_a_drain_of_many_batches_publishes_each_document_in_order_once(db):
    """Batches are marked sent while the next one goes out: none is taken twice."""
    outboxes = {f"t{n}": [envelope(), envelope("thing.changed")] for n in range(7)}
    for _id, events in outboxes.items():
        db.things.insert_one({"_id": _id, **outbox_fields(events)})
    publisher = StandInPublisher()
    sender = relay(db, publisher, batch=2)
    assert sender.publish_pending() == 14
    assert sorted(publisher.confirmed) == sorted(e["id"] for es in outboxes.values() for e in es)
    for events in outboxes.values():   # each document's events in its order
        first, second = (publisher.confirmed.index(e["id"]) for e in events)
        assert first < second
    assert db.things.count_documents({PENDING: True}) == 0
    assert sender.leases(db.things).count_documents({}) == 0


def test_a_named_document_another_relay_holds_stays_named_until_it_is_free(db):
    event = envelope()
    db.things.insert_one({"_id": "t1", **outbox_fields([event])})
    holder = relay(db, StandInPublisher())
    assert holder._lease_next(db.things) is not None   # leased, then the holder died
    publisher = StandInPublisher()
    api_relay = relay(db, publisher, interval=None)
    api_relay.hint("things", ["t1"])
    assert api_relay.publish_hinted() == 0   # held: kept for the next call
    holder.leases(db.things).update_one(   # the dead holder's lease runs out
        {"_id": "t1"}, {"$set": {"until": utcnow() - timedelta(seconds=1)}})
    assert api_relay.publish_hinted() == 1
    assert publisher.confirmed == [event["id"]]
    assert api_relay.publish_hinted() == 0   # and named no more
