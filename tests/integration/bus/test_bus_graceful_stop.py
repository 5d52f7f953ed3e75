"""A graceful stop leaves nothing half-consumed: told to stop, a consumer takes no new
message but handles and acknowledges every one the broker already handed it (its
prefetch), then returns. (Under load a stopped worker left messages in its queue that
the next run applied.)"""
from __future__ import annotations

import threading

from bus_kit import PAID, make_envelope
from crm_testing import eventually
from crmkit.bus.consumer import Subscriptions

HELD = 6


def test_a_stopped_consumer_handles_what_it_holds_then_returns(bus):
    service = "bustest_graceful"
    names = bus.fresh_service(service, [PAID])
    handled: list[str] = []
    first_inside, release = threading.Event(), threading.Event()

    def on_paid(envelope):
        first_inside.set()
        release.wait(30)        # the stop arrives while the first message is handled
        handled.append(envelope["id"])

    subscriptions = Subscriptions()
    subscriptions.on(PAID)(on_paid)
    running = bus.start_consumer(bus.consumer(service, subscriptions, prefetch=HELD))
    sent = [make_envelope(PAID, f"acc{i}", {"cents": i}) for i in range(HELD)]
    for envelope in sent:
        bus.publisher.publish(envelope)
    assert first_inside.wait(30), "the first message reached its handler"
    eventually(lambda: bus.depth(names.main) == 0, message="the broker handed over all")

    running.stop.set()
    release.set()
    running.thread.join(60)
    assert not running.thread.is_alive()
    assert sorted(handled) == sorted(e["id"] for e in sent)
    assert bus.depth(names.main) == 0 and bus.take(names.main) is None   # none requeued
