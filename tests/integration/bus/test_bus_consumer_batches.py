"""The reporting consumer's batches on the real broker and FerretDB (Subscriptions.batch,
ReportingHandlers.on_events): a duplicate inside a batch counts once, a batch redelivered
after a crash between its writes and its acks counts once, and a poison event is parked
alone while the rest of its batch is kept. "The same figures" means: what projecting each
distinct event once in memory (the reference store) gives."""
from __future__ import annotations

import uuid

from bus_kit import Crash
from crm_testing import eventually, handled
from crmkit.bus.consumer import Subscriptions
from event_data import envelope
from services.reporting.handlers import ReportingHandlers
from services.reporting.memstore import MemoryStore
from services.reporting.projections import Projector
from services.reporting.repository import ReportingRepository, unescape

TYPES = ("customer.created", "opportunity.created", "interaction.logged")


def a_history(owner: str, customers: int = 5) -> list[dict]:
    """Customers of one rep, an opportunity and a follow-up on each."""
    events = []
    for n in range(customers):
        cid, oid = f"c-{uuid.uuid4().hex[:8]}", f"o-{uuid.uuid4().hex[:8]}"
        events.append(envelope("customer.created", {
            "customer_id": cid, "id": cid, "owner_id": owner, "owner_team": "east/t1",
            "owner_region": "east"}, aggregate_id=cid, actor_id=owner))
        events.append(envelope("opportunity.created", {
            "opportunity_id": oid, "customer_id": cid, "owner_id": owner,
            "amount": f"{100 + n}.00"}, aggregate_id=oid, actor_id=owner))
        events.append(envelope("interaction.logged", {
            "interaction_id": uuid.uuid4().hex, "customer_id": cid, "owner_id": owner,
            "owner_team": None, "owner_region": None, "occurred_at": events[-1]["occurred_at"],
            "method": "call", "subject": "跟进", "contact_ids": [], "created_by": owner},
            aggregate_id=cid, actor_id=owner))
    return events


def reference(handlers: ReportingHandlers, events: list[dict]) -> dict:
    store = MemoryStore()
    projector = Projector(store, tz=handlers.tz)
    for event in {e["id"]: e for e in events}.values():
        projector.handle(event)
    return {(kind, segment, bucket): dict(fields)
            for (kind, segment), buckets in store.counters.items()
            for bucket, fields in buckets.items() if fields}


def figures(repository: ReportingRepository) -> dict:
    found = {}
    for doc in repository.counters.find({}):
        fields = {unescape(f): n for f, n in (doc.get("c") or {}).items() if n}
        if fields:
            found[(doc["kind"], doc["segment"], doc["bucket"])] = fields
    return found


def reporting_on(bus, service: str, batch=None, one=None):
    repository = ReportingRepository(bus.db)
    repository.ensure_indexes()
    handlers = ReportingHandlers(repository)
    subscriptions = Subscriptions(batch=batch or handlers.on_events, batch_size=50)
    for event_type in TYPES:
        subscriptions.on(event_type)(one or handlers.on_event)
    names = bus.fresh_service(service, TYPES)
    return handlers, subscriptions, names


def test_a_duplicate_inside_a_batch_counts_once(bus):
    handlers, subscriptions, names = reporting_on(bus, "bustest_batch_duplicates")
    events = a_history("rep-b1")
    sent = events[:7] + [events[3]] + events[7:] + [events[0]]   # two sent twice
    consumer = bus.consumer("bustest_batch_duplicates", subscriptions)
    bus.start_consumer(consumer)
    with handled([consumer], count=len(sent)):
        for event in sent:
            bus.publisher.publish(event)
    assert figures(handlers.repository) == reference(handlers, events) != {}
    assert handlers.repository.count_events() == len(events)
    assert bus.depth(names.parking) == 0


def test_a_batch_redelivered_after_a_crash_between_its_writes_and_acks_counts_once(bus):
    service = "bustest_batch_crash"
    handlers, _, names = reporting_on(bus, service)
    calls = []

    def dies_after_the_first_batchs_writes(envelopes):
        handlers.on_events(envelopes)
        calls.append(len(envelopes))
        if len(calls) == 1:
            raise Crash("died after the batch's writes, before its acks")

    subscriptions = Subscriptions(batch=dies_after_the_first_batchs_writes, batch_size=50)
    for event_type in TYPES:
        subscriptions.on(event_type)(handlers.on_event)
    events = a_history("rep-b2")
    for event in events:   # queued before a consumer runs: one batch takes them all
        bus.publisher.publish(event)
    eventually(lambda: bus.depth(names.main) == len(events), message="all queued")
    dying = bus.start_consumer(bus.consumer(service, subscriptions))
    eventually(lambda: dying.crashed is not None, message="the consumer crashed")
    dying.thread.join(5)
    assert figures(handlers.repository) == reference(handlers, events)   # written ...
    eventually(lambda: bus.depth(names.main) == len(events),   # ... but never acked
               message="the batch back in the queue")

    successor = bus.consumer(service, subscriptions)
    with handled([successor], count=len(events)):
        bus.start_consumer(successor)
    assert sum(calls[1:]) == len(events)   # the crashed batch's events handled again ...
    assert figures(handlers.repository) == reference(handlers, events)   # ... counted once
    assert handlers.repository.count_events() == len(events)
    eventually(lambda: bus.depth(names.main) == 0, message="acknowledged this time")


def test_a_poison_event_is_parked_while_the_rest_of_its_batch_is_kept(bus):
    service = "bustest_batch_poison"
    events = a_history("rep-b3")
    poison = events[4]

    def refuses_poison(handle):
        def wrapped(arg):
            batch = arg if isinstance(arg, list) else [arg]
            if any(e["id"] == poison["id"] for e in batch):
                raise ValueError("this event's projection fails")
            handle(arg)
        return wrapped

    handlers, _, names = reporting_on(bus, service)
    subscriptions = Subscriptions(batch=refuses_poison(handlers.on_events), batch_size=50)
    for event_type in TYPES:
        subscriptions.on(event_type)(refuses_poison(handlers.on_event))
    consumer = bus.consumer(service, subscriptions)   # 3 attempts, then parked
    bus.start_consumer(consumer)
    with handled([consumer], lambda e: e["id"] == poison["id"], outcome="parked"):
        with handled([consumer], count=len(events) - 1):
            for event in events:
                bus.publisher.publish(event)
    rest = [e for e in events if e["id"] != poison["id"]]
    assert figures(handlers.repository) == reference(handlers, rest)
    assert handlers.repository.count_events() == len(rest)
    parked, _ = bus.take(names.parking)
    assert parked["id"] == poison["id"] and bus.depth(names.parking) == 0
