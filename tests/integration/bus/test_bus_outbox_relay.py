"""The outbox relay on the real broker: no event is lost whenever the relay dies, a
republished event is applied once, and an event nobody listens to is kept, not dropped."""
from __future__ import annotations

import pytest

from bus_kit import Crash, make_envelope
from crm_testing import eventually
from crmkit.bus.consumer import Subscriptions
from crmkit.bus.idempotent import apply_once
from crmkit.bus.outbox import OUTBOX, PENDING, outbox_fields, pending_envelopes, with_outbox
from crmkit.bus.publisher import Unroutable

MADE = "bustest.relay.made"
CHANGED = "bustest.relay.changed"


def outbox_of(collection, _id):
    doc = collection.find_one({"_id": _id})
    return pending_envelopes(doc), doc.get(PENDING)


def test_an_event_written_while_no_relay_runs_is_published_when_one_starts(bus):
    names = bus.fresh_service("bustest_relay", [MADE, CHANGED])
    made, changed = make_envelope(MADE, "t1"), make_envelope(CHANGED, "t1")
    # The write and its events, in one document, and no relay alive (it was killed).
    bus.db.things.insert_one({"_id": "t1", "name": "first", "version": 1,
                              **outbox_fields([made])})
    bus.db.things.update_one({"_id": "t1", "version": 1}, with_outbox(
        {"$set": {"name": "second"}, "$inc": {"version": 1}}, [changed]))
    assert bus.depth(names.main) == 0

    bus.start("relay", bus.relay(["things"]).run)   # the relay restarts

    first = eventually(lambda: bus.take(names.main), message="first event published")
    second = eventually(lambda: bus.take(names.main), message="second event published")
    assert [first[0], second[0]] == [made, changed]   # whole envelopes, in write order
    properties = first[1].properties
    assert properties["message_id"] == made["id"] and properties["type"] == MADE
    assert properties["delivery_mode"] == 2 and properties["content_type"] == "application/json"
    eventually(lambda: outbox_of(bus.db.things, "t1") == ([], False),
               message="outbox marked sent")


def test_a_relay_killed_after_leasing_but_before_publishing_hands_over(bus):
    names = bus.fresh_service("bustest_relay", [MADE])
    made = make_envelope(MADE, "t2")
    bus.db.things.insert_one({"_id": "t2", **outbox_fields([made])})
    killed = bus.relay(["things"], lease_seconds=1.0)
    assert killed._lease_next(bus.db.things) is not None   # leased ... and then died
    assert killed.leases(bus.db.things).find_one({"_id": "t2"}) is not None

    bus.start("relay", bus.relay(["things"]).run)

    envelope, _ = eventually(lambda: bus.take(names.main), timeout=5,
                             message="event published once the dead relay's lease expired")
    assert envelope == made
    eventually(lambda: outbox_of(bus.db.things, "t2") == ([], False), message="marked sent")


class DiesBeforeMarkingSent:
    """The relay's database as seen by a process that dies right after the broker
    confirmed: the write that would pull the sent events never reaches MongoDB."""

    def __init__(self, database):
        self._database = database

    def __getitem__(self, name):
        collection = self._database[name]

        class Collection:
            def __getattr__(self, item):
                return getattr(collection, item)

            def update_one(self, filter_, update, *args, **kwargs):
                if "$pullAll" in update:
                    raise Crash("relay died after the confirm, before marking sent")
                return collection.update_one(filter_, update, *args, **kwargs)

            def update_many(self, filter_, update, *args, **kwargs):
                if "$pullAll" in update or OUTBOX in update.get("$set", {}):
                    raise Crash("relay died after the confirm, before marking sent")
                return collection.update_many(filter_, update, *args, **kwargs)

        return Collection()


def test_a_relay_that_dies_after_the_confirm_republishes_and_the_consumer_applies_once(bus):
    service = "bustest_relay_once"
    bus.fresh_service(service, [MADE])
    bus.db.counters.insert_one({"_id": "t3", "applied": 0})
    deliveries, outcomes = [], []

    def count(envelope):
        deliveries.append(envelope["id"])
        outcomes.append(apply_once(bus.db.counters, {"_id": envelope["aggregate_id"]},
                                   {"$inc": {"applied": 1}}, envelope["id"]))

    subscriptions = Subscriptions()
    subscriptions.on(MADE)(count)
    made = make_envelope(MADE, "t3")
    bus.db.things.insert_one({"_id": "t3", **outbox_fields([made])})

    dying = bus.relay(["things"], database=DiesBeforeMarkingSent(bus.db), lease_seconds=1.0)
    with pytest.raises(Crash):
        dying.publish_pending()
    # The broker has the event, the outbox still has it too.
    assert bus.depth(f"crm.{service}") == 1
    assert outbox_of(bus.db.things, "t3") == ([made], True)

    bus.start_consumer(bus.consumer(service, subscriptions))
    bus.start("relay", bus.relay(["things"]).run)   # the restarted relay

    eventually(lambda: len(outcomes) == 2, message="the event delivered twice")
    assert deliveries == [made["id"], made["id"]]
    assert outcomes == [True, False]
    assert bus.db.counters.find_one({"_id": "t3"})["applied"] == 1
    eventually(lambda: outbox_of(bus.db.things, "t3") == ([], False), message="marked sent")


def test_an_event_no_queue_is_bound_to_stays_in_the_outbox_until_one_is(bus):
    lonely = "bustest.relay.nobody_listens"
    names = bus.fresh_service("bustest_relay", [MADE])   # bound to MADE only
    orphan, made = make_envelope(lonely, "t4"), make_envelope(MADE, "t5")
    bus.db.things.insert_one({"_id": "t4", **outbox_fields([orphan])})
    bus.db.things.insert_one({"_id": "t5", **outbox_fields([made])})

    relay = bus.relay(["things"])
    with pytest.raises(Unroutable):
        relay.publish_pending()
    # The routable event of another document went out regardless ...
    assert bus.take(names.main)[0] == made
    assert outbox_of(bus.db.things, "t5") == ([], False)
    # ... and the orphan is still pending, not lost; retried passes keep it.
    for _ in range(3):
        with pytest.raises(Unroutable):
            relay.publish_pending()
    assert outbox_of(bus.db.things, "t4") == ([orphan], True)
    assert relay.leases(bus.db.things).find_one({"_id": "t4"}) is None

    bus.start("relay", relay.run)                   # keeps retrying with back-off
    bus.fresh_service("bustest_relay", [MADE, lonely])   # someone subscribes at last
    envelope, _ = eventually(lambda: bus.take(names.main), timeout=10,
                             message="the kept event published once a queue is bound")
    assert envelope == orphan
    eventually(lambda: outbox_of(bus.db.things, "t4") == ([], False), timeout=10,
               message="orphan marked sent")


def test_a_batch_with_one_unroutable_event_leaves_exactly_that_one_pending(bus):
    lonely = "bustest.relay.nobody_listens"
    names = bus.fresh_service("bustest_relay", [MADE, CHANGED])
    first, orphan, second = (make_envelope(MADE, "b1"), make_envelope(lonely, "b2"),
                             make_envelope(CHANGED, "b3"))
    bus.db.things.insert_many([{"_id": "b1", **outbox_fields([first])},
                               {"_id": "b2", **outbox_fields([orphan])},
                               {"_id": "b3", **outbox_fields([second])}])
    relay = bus.relay(["things"])
    with pytest.raises(Unroutable):   # one batch, one confirm wait, one refusal
        relay.publish_pending()
    assert relay.published == 2
    assert {bus.take(names.main)[0]["id"], bus.take(names.main)[0]["id"]} == \
        {first["id"], second["id"]}
    assert outbox_of(bus.db.things, "b1") == ([], False)
    assert outbox_of(bus.db.things, "b3") == ([], False)
    assert outbox_of(bus.db.things, "b2") == ([orphan], True)
    assert relay.leases(bus.db.things).find_one({"_id": "b2"}) is None


def test_a_connection_dropped_mid_batch_loses_nothing(bus):
    import socket

    names = bus.fresh_service("bustest_relay", [MADE])
    envelopes = {f"d{n}": make_envelope(MADE, f"d{n}") for n in range(20)}
    bus.db.things.insert_many([{"_id": _id, **outbox_fields([envelope])}
                               for _id, envelope in envelopes.items()])
    relay = bus.relay(["things"])
    publisher = relay._publisher
    send = publisher._send

    def dropping_while_confirming(messages):
        publisher._ensure_producer()
        connection = publisher._connection
        wait_for_confirms = connection.drain_events

        def broker_goes_away(**kwargs):   # every message sent, no confirm read yet
            # the socket goes and the wait fails, as it does when the broker's confirms
            # had not arrived; reading on after the shutdown still found them at times
            # (already in the socket's buffer), and the drop was then no drop
            connection.drain_events = wait_for_confirms
            connection.connection.sock.shutdown(socket.SHUT_RDWR)
            raise ConnectionResetError("the broker went away before confirming")

        connection.drain_events = broker_goes_away
        publisher._send = send
        return send(messages)

    publisher._send = dropping_while_confirming
    try:
        relay.publish_pending()
        dropped = False
    except ConnectionResetError:
        dropped = True
    # only what the broker confirmed before the drop is marked sent (confirms are read
    # while publishing too, so at times all of them before the wait: then no drop):
    # every other event is still in its outbox, with the lease freed
    kept = set()
    for _id, envelope in envelopes.items():
        assert outbox_of(bus.db.things, _id) in (([envelope], True), ([], False))
        assert relay.leases(bus.db.things).find_one({"_id": _id}) is None
        if outbox_of(bus.db.things, _id)[1]:
            kept.add(_id)
    assert dropped == bool(kept)   # the wait failed exactly when confirms were missing

    assert relay.publish_pending() == len(kept)   # the next pass, reconnected
    received = set()

    def all_received():
        while (message := bus.take(names.main)) is not None:
            received.add(message[0]["id"])
        return received >= {envelope["id"] for envelope in envelopes.values()}

    eventually(all_received, message="every event delivered (duplicates allowed)")
    assert all(outbox_of(bus.db.things, _id) == ([], False) for _id in envelopes)


def test_a_relay_that_does_not_scan_publishes_what_writers_name(bus):
    from crmkit.bus.outbox import notify_outbox

    names = bus.fresh_service("bustest_relay", [MADE])
    made = make_envelope(MADE, "h1")
    relay = bus.relay(["things"], interval=None)
    running = bus.start("api relay", relay.run)
    bus.db.things.insert_one({"_id": "h1", **outbox_fields([made])})
    notify_outbox("things", ["h1"])

    envelope, _ = eventually(lambda: bus.take(names.main), message="hinted event published")
    assert envelope == made
    eventually(lambda: outbox_of(bus.db.things, "h1") == ([], False), message="marked sent")
    running.stop.set()
    relay.wake()
    running.halt()
