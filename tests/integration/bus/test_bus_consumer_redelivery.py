"""Consumers on the real broker: a message is acknowledged only after the handler's own
write, so a consumer dying before its ack gets it again; apply_once makes the second
(and any duplicated) delivery change nothing."""
from __future__ import annotations

from bus_kit import Crash, make_envelope
from crm_testing import eventually, handled
from crmkit.bus.consumer import Subscriptions
from crmkit.bus.idempotent import apply_once

PAID = "bustest.consumer.paid"


def counting_handler(bus, deliveries, outcomes, crash_after_first_write=False):
    def on_paid(envelope):
        deliveries.append(envelope["id"])
        applied = apply_once(bus.db.accounts, {"_id": envelope["aggregate_id"]},
                             {"$inc": {"paid_cents": envelope["data"]["cents"]}},
                             envelope["id"])
        outcomes.append(applied)
        if crash_after_first_write and len(deliveries) == 1:
            raise Crash("consumer died after its write, before the ack")

    subscriptions = Subscriptions()
    subscriptions.on(PAID)(on_paid)
    return subscriptions


def test_a_consumer_killed_before_its_ack_gets_the_message_again_and_applies_it_once(bus):
    service = "bustest_consumer"
    names = bus.fresh_service(service, [PAID])
    bus.db.accounts.insert_one({"_id": "acc1", "paid_cents": 0})
    deliveries, outcomes = [], []
    subscriptions = counting_handler(bus, deliveries, outcomes, crash_after_first_write=True)

    dying = bus.start_consumer(bus.consumer(service, subscriptions))
    paid = make_envelope(PAID, "acc1", {"cents": 1250})
    bus.publisher.publish(paid)

    eventually(lambda: dying.crashed is not None, message="the first consumer crashed")
    dying.thread.join(5)
    assert not dying.thread.is_alive()
    assert bus.db.accounts.find_one({"_id": "acc1"})["paid_cents"] == 1250  # written ...
    # ... but never acknowledged: the broker holds the message for the next consumer.
    eventually(lambda: bus.depth(names.main) == 1, message="message back in the queue")

    successor_consumer = bus.consumer(service, subscriptions)
    with handled([successor_consumer]):   # redelivered to the new consumer
        successor = bus.start_consumer(successor_consumer)
    assert deliveries == [paid["id"], paid["id"]]
    assert outcomes == [True, False]
    assert bus.db.accounts.find_one({"_id": "acc1"})["paid_cents"] == 1250

    successor.halt()
    assert bus.depth(names.main) == 0          # acknowledged this time
    assert bus.depth(names.parking) == 0


def test_a_duplicated_delivery_changes_nothing(bus):
    service = "bustest_duplicates"
    names = bus.fresh_service(service, [PAID])
    bus.db.accounts.insert_one({"_id": "acc2", "paid_cents": 0})
    deliveries, outcomes = [], []
    consumer = bus.consumer(service, counting_handler(bus, deliveries, outcomes))
    bus.start_consumer(consumer)

    paid = make_envelope(PAID, "acc2", {"cents": 700})
    other = make_envelope(PAID, "acc2", {"cents": 5})
    with handled([consumer], count=3):   # all three deliveries acknowledged
        bus.publisher.publish(paid)
        bus.publisher.publish(paid)   # the same envelope again (a relay republish, say)
        bus.publisher.publish(other)  # a different event is still applied
    assert outcomes == [True, False, True]
    account = bus.db.accounts.find_one({"_id": "acc2"})
    assert account["paid_cents"] == 705
    assert account["_seen_events"] == [paid["id"], other["id"]]
    assert consumer.handled == 3                # both copies acknowledged as handled
    eventually(lambda: bus.depth(names.main) == 0, message="queue drained")
