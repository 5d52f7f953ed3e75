"""Poison messages: retried with a delay, parked after max_attempts, listed with their
attempts and error, and replayed once the handler is fixed; through the kernel and
through the gateway's admin API."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from bus_kit import make_envelope
from crm_testing import consumers_of, eventually, handled
from crmkit.bus.consumer import ATTEMPTS_HEADER, ERROR_HEADER, FAILED_AT_HEADER, Subscriptions
from crmkit.bus.deadletters import list_parked, replay_parked
from crmkit.bus.idempotent import apply_once
from crmkit.bus.publisher import Publisher
from crmkit.clock import isoformat, utcnow

SHIPPED = "bustest.parking.shipped"
RETRY_DELAY_MS = 300
MAX_ATTEMPTS = 3


def test_a_poison_message_is_retried_with_a_delay_parked_listed_and_replayed(bus):
    service = "bustest_parking"
    names = bus.fresh_service(service, [SHIPPED])
    bus.db.orders.insert_many([{"_id": "o1", "shipped": 0}, {"_id": "o2", "shipped": 0}])
    broken = {"o1", "o2"}
    attempts: dict[str, list[float]] = {}

    def on_shipped(envelope):
        order = envelope["aggregate_id"]
        attempts.setdefault(order, []).append(time.monotonic())
        if order in broken:
            raise ValueError(f"poison: cannot ship {order}")
        apply_once(bus.db.orders, {"_id": order}, {"$inc": {"shipped": 1}}, envelope["id"])

    subscriptions = Subscriptions()
    subscriptions.on(SHIPPED)(on_shipped)
    bus.start_consumer(bus.consumer(service, subscriptions, max_attempts=MAX_ATTEMPTS,
                                    retry_delay_ms=RETRY_DELAY_MS))
    first, second = make_envelope(SHIPPED, "o1"), make_envelope(SHIPPED, "o2")
    bus.publisher.publish(first)
    bus.publisher.publish(second)

    parked = eventually(lambda: len(list_parked(bus.url, service)) == 2 and
                        list_parked(bus.url, service), timeout=10, message="both parked")
    # Tried exactly max_attempts times, each retry after the delay (not at once).
    for order in ("o1", "o2"):
        times = attempts[order]
        assert len(times) == MAX_ATTEMPTS
        gaps = [later - earlier for earlier, later in zip(times, times[1:])]
        assert all(gap >= 0.8 * RETRY_DELAY_MS / 1000 for gap in gaps), gaps
    by_id = {item["id"]: item for item in parked}
    assert set(by_id) == {first["id"], second["id"]}
    item = by_id[first["id"]]
    assert item["attempts"] == MAX_ATTEMPTS and item["type"] == SHIPPED
    assert "poison: cannot ship o1" in item["error"] and item["failed_at"]
    assert item["envelope"] == first
    # Listing does not consume; nothing is left to retry.
    assert len(list_parked(bus.url, service)) == 2
    assert bus.depth(names.main) == 0 and bus.depth(names.retry) == 0

    broken.clear()  # the handler is fixed
    assert replay_parked(bus.url, service, [first["id"]]) == [first["id"]]
    eventually(lambda: bus.db.orders.find_one({"_id": "o1"})["shipped"] == 1,
               message="replayed message applied")
    assert len(attempts["o1"]) == MAX_ATTEMPTS + 1
    assert [i["id"] for i in list_parked(bus.url, service)] == [second["id"]]  # still parked
    assert bus.db.orders.find_one({"_id": "o2"})["shipped"] == 0

    assert replay_parked(bus.url, service) == [second["id"]]   # no ids: all of them
    eventually(lambda: bus.db.orders.find_one({"_id": "o2"})["shipped"] == 1,
               message="second replayed message applied")
    assert list_parked(bus.url, service) == []
    assert bus.db.orders.find_one({"_id": "o1"})["shipped"] == 1


def _park(amqp_url: str, service: str, envelope: dict) -> None:
    """Put a message into a service's parking queue as its consumer would have."""
    publisher = Publisher(amqp_url)
    try:
        from crmkit.bus.publisher import encode

        publisher.send_to_queue(encode(envelope), f"crm.{service}.parking",
                                message_id=envelope["id"], type_=envelope["type"],
                                headers={ATTEMPTS_HEADER: 3,
                                         ERROR_HEADER: "ValueError('bustest: poison')",
                                         FAILED_AT_HEADER: isoformat(utcnow())})
    finally:
        publisher.close()


def test_admins_list_and_replay_parked_messages_through_the_gateway(system, org):
    rep = org.user("rep")
    parked = make_envelope("bustest.parking.via_http", "x1")
    with handled(consumers_of(system, "reporting"),
                 lambda envelope: envelope["id"] == parked["id"]) as replays:
        _park(system.settings.amqp_url, "reporting", parked)

        listing = org.admin.get("/api/v1/admin/dead-letters?service=reporting")
        assert listing.status_code == 200, listing
        assert listing.json["service"] == "reporting"
        items = {item["id"]: item for item in listing.json["items"]}
        assert items[parked["id"]]["attempts"] == 3
        assert "bustest: poison" in items[parked["id"]]["error"]
        assert items[parked["id"]]["envelope"] == parked

        assert rep.get("/api/v1/admin/dead-letters?service=reporting").status_code == 403
        refused = rep.post("/api/v1/admin/dead-letters/replay",
                           json={"service": "reporting", "ids": [parked["id"]]})
        assert refused.status_code == 403
        assert refused.headers["Content-Type"].startswith("application/problem+json")
        unknown = org.admin.get("/api/v1/admin/dead-letters?service=nobody")
        assert unknown.status_code == 422
        assert parked["id"] not in [envelope["id"] for envelope in replays]

        replayed = org.admin.post("/api/v1/admin/dead-letters/replay",
                                  json={"service": "reporting", "ids": [parked["id"]]})
        assert replayed.status_code == 200, replayed
        assert replayed.json["replayed"] == [parked["id"]]
    # reporting handled the replay
    after = org.admin.get("/api/v1/admin/dead-letters?service=reporting").json
    assert parked["id"] not in {item["id"] for item in after["items"]}


def test_a_message_that_is_not_json_is_parked_instead_of_looping(bus):
    # Some other system put garbage on the exchange: it can never be handled, and it
    # must not stop the consumer from handling what comes after it.
    service = "bustest_garbage"
    names = bus.fresh_service(service, [SHIPPED])
    bus.db.orders.insert_one({"_id": "o3", "shipped": 0})
    shipped = []

    def on_shipped(envelope):
        shipped.append(envelope["id"])
        apply_once(bus.db.orders, {"_id": "o3"}, {"$inc": {"shipped": 1}}, envelope["id"])

    subscriptions = Subscriptions()
    subscriptions.on(SHIPPED)(on_shipped)
    consumer = bus.consumer(service, subscriptions)
    bus.start_consumer(consumer)
    bus.publisher.send_to_queue(b"{not json", names.main, message_id="garbage-1",
                                type_=SHIPPED, headers={})
    good = make_envelope(SHIPPED, "o3")
    bus.publisher.publish(good)

    eventually(lambda: shipped == [good["id"]], message="the good message handled")
    parked = eventually(lambda: list_parked(bus.url, service), message="garbage parked")
    assert [item["id"] for item in parked] == ["garbage-1"]
    assert parked[0]["envelope"] is None and parked[0]["error"]
    assert bus.db.orders.find_one({"_id": "o3"})["shipped"] == 1
    assert consumer.ready.is_set()           # never lost its connection over it
    eventually(lambda: bus.depth(names.main) == 0, message="main queue drained")


def test_concurrent_lists_and_a_replay_each_see_every_parked_message(bus):
    # Listing takes each message off the queue to read it and puts it back: without
    # taking turns, six concurrent lists of five parked messages saw 5, 1, 3, 0, 1, 0,
    # and a replay during a listing replayed 0 of 4.
    service = "bustest_parking_turns"
    bus.fresh_service(service, [SHIPPED])
    envelopes = [make_envelope(SHIPPED, f"t{i}") for i in range(5)]
    for envelope in envelopes:
        _park(bus.url, service, envelope)
    eventually(lambda: len(list_parked(bus.url, service)) == 5, message="five parked")

    with ThreadPoolExecutor(max_workers=7) as pool:
        lists = [pool.submit(list_parked, bus.url, service) for _ in range(6)]
        replay = pool.submit(replay_parked, bus.url, service, [e["id"] for e in envelopes[:4]])
        more = [pool.submit(list_parked, bus.url, service) for _ in range(3)]
        assert sorted(replay.result(timeout=60)) == sorted(e["id"] for e in envelopes[:4])
        counts = [len(future.result(timeout=60)) for future in lists + more]
    assert all(count in (5, 1) for count in counts), counts
    assert [item["id"] for item in list_parked(bus.url, service)] == [envelopes[4]["id"]]
