"""The consumer's batches (Projector.handle_many, the repository's summing of pending
deltas): the same figures as one event at a time, duplicates and redeliveries counted
once; no server."""
from __future__ import annotations

from services.reporting.memstore import MemoryStore
from services.reporting.projections import SINGLE_EVENTS, Projector
from services.reporting.repository import summed_pending
from reporting_world import SHANGHAI, project
from test_reporting_projections import a_busy_history, counters


def project_in_batches(events, size: int) -> MemoryStore:
    """As ReportingHandlers.on_events feeds the projector: runs of entity events
    together, a user's or the pipeline's event alone."""
    store = MemoryStore()
    projector = Projector(store, tz=SHANGHAI)
    for start in range(0, len(events), size):
        run = []
        for envelope in events[start:start + size] + [None]:
            if envelope is not None and envelope["type"] not in SINGLE_EVENTS:
                run.append(envelope)
                continue
            projector.handle_many(run)
            run = []
            if envelope is not None:
                projector.handle(envelope)
    return store


def test_batches_of_any_size_give_the_figures_of_one_event_at_a_time(ev):
    events = a_busy_history(ev)
    expected = counters(project(events))
    for size in (2, 3, 7, len(events)):
        store = project_in_batches(events, size)
        assert counters(store) == expected, size
        assert store.members == project(events).members


def test_a_duplicate_inside_a_batch_and_a_redelivered_batch_count_once(ev):
    events = a_busy_history(ev)
    expected = counters(project(events))
    entity_events = [e for e in events if e["type"] not in SINGLE_EVENTS]
    doubled = events + entity_events[:5] + entity_events[3:9]  # twice in one batch, too
    assert counters(project_in_batches(doubled, len(doubled))) == expected
    again = events + events   # the whole history redelivered, batch by batch
    assert counters(project_in_batches(again, 6)) == expected


def test_an_entitys_events_in_one_batch_save_it_once(ev):
    saves = []

    class Recording(MemoryStore):
        def save_states(self, batch):
            saves.append([state["_id"] for state, _, _ in batch])
            return super().save_states(batch)

    user = ev.user("rep1")
    batch = [ev.opportunity("o1", "rep1", "100.00"), ev.stage("o1", "lead", "proposal"),
             ev.customer("c9", "rep1"), ev.stage("o1", "proposal", "negotiation")]
    store = Recording()
    projector = Projector(store, tz=SHANGHAI)
    projector.handle(user)
    projector.handle_many(batch)
    assert saves == [["opportunity:o1", "customer:c9"]]
    assert counters(store) == counters(project([user] + batch))


def test_a_conflicting_entity_is_projected_again_one_by_one(ev):
    """A state another writer changed between the batch's read and write: the batch
    saves the others and hands that entity's events to `handle`."""
    events = a_busy_history(ev)
    expected = counters(project(events))

    class Conflicting(MemoryStore):
        refused = set()

        def save_states(self, batch):
            # the first save of each opportunity "conflicts": nothing of it is written
            refused = [s["_id"] for s, _, _ in batch if s["_id"].startswith("opportunity")
                       and s["_id"] not in self.refused]
            self.refused.update(refused)
            for state, delta, homes in batch:
                if state["_id"] not in refused:
                    self.save_state(state, delta, homes)
            return refused

    store = Conflicting()
    projector = Projector(store, tz=SHANGHAI)
    for envelope in events:
        if envelope["type"] in SINGLE_EVENTS:
            projector.handle(envelope)
    projector.handle_many([e for e in events if e["type"] not in SINGLE_EVENTS])
    assert store.refused and counters(store) == expected


def pending(op: str, *rows) -> dict:
    return {"op": op, "members": [],
            "counters": [{"kind": k, "segment": s, "bucket": b, "field": f, "n": n}
                         for k, s, b, f, n in rows]}


def test_pending_deltas_of_one_counter_document_are_summed():
    summed = summed_pending([
        pending("op1", ("perf", "u:rep1", "2026-11", "won_c", 100),
                ("perf", "o:", "2026-11", "won_c", 100), ("now", "u:rep1", "-", "open", 1)),
        pending("op2", ("perf", "u:rep2", "2026-11", "won_c", 50),
                ("perf", "o:", "2026-11", "won_c", 50), ("perf", "o:", "2026-11", "won", 1)),
        pending("op3", ("now", "u:rep1", "-", "open", -1)),
    ])
    assert summed == {
        ("perf", "u:rep1", "2026-11"): {"won_c": 100},
        ("perf", "u:rep2", "2026-11"): {"won_c": 50},
        ("perf", "o:", "2026-11"): {"won_c": 150, "won": 1},
        # nothing to add, but still written under the batch's guard (_bulk_bump): a
        # state finished alone there meanwhile must make the sum fail, not vanish
        ("now", "u:rep1", "-"): {"open": 0},
    }


def test_the_consumer_takes_batches_only_when_the_settings_ask():
    from types import SimpleNamespace

    from crmkit.config import Settings
    from services.reporting.consumers import BATCH_SIZE, subscriptions

    handlers = SimpleNamespace(on_event=lambda e: None, on_events=lambda es: None)
    assert Settings.from_env({}).consumer_batch == 1
    assert subscriptions(handlers).batch is None
    assert subscriptions(handlers, 1).batch is None
    taken = subscriptions(handlers, Settings.from_env({"CRM_CONSUMER_BATCH": "50"})
                          .consumer_batch)
    assert taken.batch is handlers.on_events and taken.batch_size == 50
    assert subscriptions(handlers, 10_000).batch_size == BATCH_SIZE
