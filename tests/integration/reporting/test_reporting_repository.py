"""The Mongo repository (on FerretDB) against the in-memory reference: same figures,
also with concurrent consumer threads, a crash half-way through, and a rebuild."""
from __future__ import annotations

import random
import threading

import pytest

from crmkit.identity import Identity
from people import person
from reporting_envelopes import (Producer, consumed, crash_once, in_memory, user_created,
                                 user_updated)
from services.reporting import reports
from services.reporting.handlers import ReportingHandlers
from services.reporting.repository import ReportingRepository
from crm_testing import fresh_database

PEOPLE = {"r1": ("张三", "rep", "east/a", "east"), "r2": ("李四", "rep", "east/a", "east"),
          "r3": ("王五", "rep", "east/b", "east"), "r4": ("赵六", "rep", "north/a", "north"),
          "boss": ("老板", "admin", "hq", "hq"), "m1": ("经理", "manager", "east", "east")}
TODAY = "2026-11-23"


def viewer(user_id: str) -> Identity:
    name, role, team, region = PEOPLE[user_id]
    return person(user_id, role, team, region, name=name)


def history(seed: int = 0, opportunities: int = 40) -> list[dict]:
    rnd = random.Random(seed)
    producer = Producer()
    events = [user_created(producer, uid, *p) for uid, p in PEOPLE.items()]
    reps = ["r1", "r2", "r3", "r4"]
    customers = []
    for i in range(12):
        owner = rnd.choice(reps + [None])
        cid = f"c{i}"
        customers.append((cid, owner))
        events.append(producer.customer_created(cid, owner, name=f"客户{i}",
                                                region="north" if owner == "r4" else "east"))
    for i in range(opportunities):
        if i == opportunities // 2:  # people move: their figures follow them
            events.append(user_updated(producer, "r2", "李四", "rep", "east/b", "east",
                                       was=("east/a", "east")))
            events.append(user_updated(producer, "r3", "王五", "rep", "north/a", "north",
                                       was=("east/b", "east")))
        cid, owner = rnd.choice(customers)
        owner = owner or rnd.choice(reps)
        oid = f"o{i}"
        events.append(producer.opportunity_created(
            oid, owner, f"{rnd.randint(1, 90000)}.{rnd.randint(0, 99):02d}", customer=cid,
            close=f"2026-{rnd.randint(11, 12)}-{rnd.randint(1, 28):02d}",
            region="north" if owner == "r4" else "east"))
        for stage in rnd.sample(["needs_analysis", "proposal", "negotiation", "contract"],
                                rnd.randint(0, 3)):
            events.append(producer.stage_changed(oid, stage))
        fate = rnd.random()
        if fate < 0.3:
            events.append(producer.won(oid, f"{rnd.randint(1, 90000)}.00",
                                       f"2026-{rnd.randint(9, 11):02d}-{rnd.randint(1, 20):02d}"))
        elif fate < 0.5:
            events.append(producer.lost(oid, rnd.choice(["价格过高", "选择竞品", "预算取消"])))
        if rnd.random() < 0.5:
            events.append(producer.interaction(cid, owner, rnd.choice(["call", "visit"])))
    for i in range(10):
        owner = rnd.choice(reps)
        events.append(producer.task("task.created", f"t{i}", owner, "todo", 1))
        if i % 2:
            events.append(producer.task("task.completed", f"t{i}", owner, "done", 2,
                                        result="ok", counts_as_followup=False))
    return events


def every_report(store) -> dict:
    from datetime import date
    today = date.fromisoformat(TODAY)
    out = {}
    for uid in ("r1", "m1", "boss"):
        who = viewer(uid)
        out[uid] = {
            "summary": reports.summary(store, who),
            "funnel": reports.funnel(store, who),
            "funnel_nov": reports.funnel(store, who, start=date(2026, 11, 1),
                                         end=date(2026, 11, 30)),
            "performance": reports.performance(store, who, group_by="team", period="year",
                                               today=today),
            "activity": reports.activity(store, who, period="quarter", today=today),
            "forecast": reports.forecast(store, who, period="month"),
            "abc": reports.customer_value(store, who, model="abc", as_of=today),
            "rfm": reports.customer_value(store, who, model="rfm", as_of=today),
            "win_loss": reports.win_loss(store, who),
        }
    return out


@pytest.fixture
def repository():
    db = fresh_database("reporting")
    repo = ReportingRepository(db)
    repo.ensure_indexes()
    return repo


def reference(events) -> dict:
    return every_report(in_memory(events))


def in_four_threads(deliveries, consume) -> list:
    """`consume` of a quarter of the deliveries in each of four threads at once (as
    competing consumers get them); returns what they raised."""
    errors = []

    def run(part):
        try:
            consume(part)
        except Exception as error:  # shown by the caller's assertion
            errors.append(error)

    threads = [threading.Thread(target=run, args=(deliveries[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_the_repository_gives_the_reference_figures(repository):
    events = history(1)
    handlers = ReportingHandlers(repository)
    for event in events:
        handlers.on_event(event)
    assert every_report(repository) == reference(events)
    assert every_report(repository)["boss"]["funnel"]["won"]["count"] > 0


def rollup_documents(repository) -> dict:
    return {(d["kind"], d["segment"], d["bucket"]): {f: n for f, n in d["c"].items() if n}
            for d in repository.counters.find({"segment": {"$regex": "^[tro]:"}})}


def test_rollup_documents_are_the_reference_ones_and_a_rebuild_makes_them_again(
        repository):
    """Every rollup document (team, region, organisation) as the in-memory reference
    has it, people having moved; a rebuild drops and makes them again, identical."""
    events = history(9)
    handlers = consumed(repository, events)
    store = in_memory(events)
    expected = {(kind, segment, bucket): fields
                for (kind, segment), buckets in store.counters.items()
                if segment[:2] in ("t:", "r:", "o:")
                for bucket, fields in buckets.items()}
    held = rollup_documents(repository)
    assert {k: v for k, v in held.items() if v} == {k: v for k, v in expected.items() if v}
    assert ("perf", "t:east/b", "Y:2026") in held and ("now", "o:", "-") in held
    handlers.rebuild(grace=0)
    assert rollup_documents(repository) == held


def test_concurrent_consumers_with_redeliveries_in_any_order(repository):
    events = history(2)
    deliveries = events + random.Random(3).sample(events, len(events) // 2)
    random.Random(4).shuffle(deliveries)
    handlers = ReportingHandlers(repository)
    assert not in_four_threads(deliveries, lambda part: [handlers.on_event(event)
                                                         for event in part])
    assert every_report(repository) == reference(events)


@pytest.mark.parametrize("step, after", [("_finish", False), ("_bump_all", True)],
                         ids=["before-the-counters", "after-the-counters-bulk"])
def test_a_crash_while_finishing_an_event_is_finished_once(repository, monkeypatch, step,
                                                          after):
    """The state is saved with its pending delta, then the process dies: before any
    counter was written, or after the event's counters went in one bulk write (members
    and the state not finished yet: the bulk finished again meets documents holding its
    operation already, and each update then goes alone and skips them). Start-up
    finishes it, the broker redelivers the message, and every figure counts it once."""
    events = history(8, opportunities=10)
    handlers = consumed(repository, events[:-3])
    crashed = crash_once(monkeypatch, repository, step, after)
    with pytest.raises(RuntimeError):
        handlers.on_event(events[-3])
    monkeypatch.undo()
    assert crashed and repository.unfinished()
    assert handlers.recover() == 1     # what start-up does
    for event in events[-3:]:          # the unacknowledged message first
        handlers.on_event(event)
    assert not repository.unfinished()
    assert every_report(repository) == reference(events)


def test_concurrent_consumers_in_batches_with_redeliveries_in_any_order(repository):
    """The consumer's batches (ReportingHandlers.on_events) from four threads at once:
    entities saved by two batches at a time (a state conflict: projected again one by
    one), a state finished by another thread's read while its batch sums its counters,
    duplicates inside a batch and across batches; every figure counts each event once."""
    events = history(5)
    deliveries = events + random.Random(5).sample(events, len(events) // 2)
    random.Random(6).shuffle(deliveries)
    handlers = ReportingHandlers(repository)
    assert not in_four_threads(deliveries, lambda part: [
        handlers.on_events(part[start:start + 25]) for start in range(0, len(part), 25)])
    assert not repository.unfinished()
    assert every_report(repository) == reference(events)


@pytest.mark.parametrize("step, after", [("_finish_batch", False),
                                         ("_set_members_batch", True),
                                         ("_bump_all", True)],
                         ids=["before-the-counters", "after-the-counters",
                              "after-the-summed-counters"])
def test_a_crash_while_finishing_a_batch_is_finished_once(repository, monkeypatch, step,
                                                          after):
    """A batch's states are saved with their pending deltas, then the process dies:
    before any counter was written, after the summed counters (members and the states
    not done), or after the first summed bulk write. Start-up finishes each state alone
    (a document holding the batch's id took its part already), the broker redelivers
    the batch, and every figure counts each event once."""
    events = history(9, opportunities=10)
    handlers = ReportingHandlers(repository)
    handlers.on_events(events[:-20])
    crashed = crash_once(monkeypatch, repository, step, after)
    with pytest.raises(RuntimeError):
        handlers.on_events(events[-20:])
    monkeypatch.undo()
    assert crashed and repository.unfinished()
    assert handlers.recover() >= 1     # what start-up does
    handlers.on_events(events[-20:])   # the unacknowledged batch again
    assert not repository.unfinished()
    assert every_report(repository) == reference(events)


def test_rebuild_drops_and_replays_to_identical_figures(repository):
    events = history(6)
    handlers = ReportingHandlers(repository)
    for event in events + events[:30]:
        handlers.on_event(event)
    repository.put_target("team", "east/a", "2026", 10_000_00, "east")
    before = every_report(repository)
    result = handlers.rebuild(grace=0)
    assert result["events"] == len(events)
    assert every_report(repository) == before
    assert repository.targets("team")  # targets are input, not projections: kept


def test_events_arriving_while_a_rebuild_runs_are_not_lost(repository):
    events = history(7, opportunities=15)
    handlers = ReportingHandlers(repository)
    for event in events[:-10]:
        handlers.on_event(event)
    repository.set_rebuilding(True)      # another process is rebuilding
    consumer = threading.Thread(target=lambda: [handlers.on_event(e) for e in events[-10:]])
    consumer.start()
    consumer.join(0.5)
    assert consumer.is_alive()           # held: the event is kept, not yet projected
    handlers.rebuild(grace=0)            # replays the kept ones, lowers the flag
    consumer.join(10)
    assert not consumer.is_alive()
    assert every_report(repository) == reference(events)


def test_a_rebuild_flag_left_by_a_crash_does_not_hold_consumers(repository, monkeypatch):
    import services.reporting.repository as module

    repository.set_rebuilding(True)
    monkeypatch.setattr(module, "FLAG_STALE", 0)
    repository._flag_cache = (0.0, True)
    assert repository.rebuilding() is False


def test_an_event_holding_arrays_in_arrays_is_kept_and_replayed(repository):
    """A customer.updated's change log pairs a list field's old and new value ([[..],
    [..]]) and may name a field with a dot: the event store keeps it as it came
    (FerretDB refuses arrays in arrays and dotted field names)."""
    producer = Producer()
    created = producer.customer_created("c1", "r1", name="甲公司")
    snapshot = {key: value for key, value in created["data"].items() if key != "in_pool"}
    updated = producer.envelope("customer.updated", "c1", {
        **snapshot, "tags": ["重点", "制造"], "level": "A", "version": 2,
        "changes": {"tags": [["重点"], ["重点", "制造"]], "level": [None, "A"],
                    "contacts.k1": [{"phone": "1"}, {"phone": "2"}]},
        "reason": "edited"})
    handlers = ReportingHandlers(repository)
    for event in (created, updated):
        handlers.on_event(event)
    assert list(repository.kept_events()) == [created, updated]
    state = repository.get_state("customer:c1")
    assert state["f"]["level"] == "A" and state["pending"] is None
    assert handlers.rebuild(grace=0)["events"] == 2
    assert repository.get_state("customer:c1")["f"] == state["f"]


def test_the_operation_lists_of_counters_stay_bounded(repository):
    import services.reporting.repository as module

    producer = Producer()
    events = [user_created(producer, "r1", *PEOPLE["r1"]),
              producer.customer_created("c1", "r1", name="甲公司")]
    events += [producer.interaction("c1", "r1") for _ in range(3 * module.OPS_WINDOW)]
    handlers = ReportingHandlers(repository)
    for event in events:
        handlers.on_event(event)
    longest = max(len(doc.get("ops") or []) for doc in repository.counters.find({}))
    assert module.OPS_WINDOW <= longest < module.OPS_WINDOW + module.OPS_SLACK
    assert every_report(repository) == reference(events)


def test_a_reader_keeps_the_directory_for_a_moment_and_a_writer_sees_its_own(repository,
                                                                             monkeypatch):
    import services.reporting.repository as module

    monkeypatch.setattr(module, "DIRECTORY_TTL", 3600)
    reader = ReportingRepository(repository.db)   # an API process beside the consumer's
    assert reader.list_directory() == []
    repository.put_directory({"_id": "u:r1", "owner_id": "r1", "team": "east/a",
                              "region": "east", "source": "user"})
    assert [e["_id"] for e in repository.list_directory()] == ["u:r1"]
    assert reader.list_directory() == []           # its copy, for DIRECTORY_TTL
    assert [e["_id"] for e in reader.list_directory(fresh=True)] == ["u:r1"]   # a write's
    monkeypatch.setattr(module, "DIRECTORY_TTL", 0)
    assert [e["team"] for e in reader.list_directory()] == ["east/a"]


def test_after_its_moment_a_reader_reads_the_directory_again_only_if_it_changed(
        repository, monkeypatch):
    """2,000 users cost a report far more than its figures: past DIRECTORY_TTL a reader
    checks the directory's version (one document) and reads the entries again only when
    a writer in any process changed one."""
    import services.reporting.repository as module

    monkeypatch.setattr(module, "DIRECTORY_TTL", 0)
    reader = ReportingRepository(repository.db)
    repository.put_directory({"_id": "u:r1", "owner_id": "r1", "team": "east/a",
                              "region": "east", "source": "user"})
    assert [e["team"] for e in reader.list_directory()] == ["east/a"]
    entries_read = []
    real_find = reader.directory.find
    monkeypatch.setattr(reader, "directory", type("Spy", (), {
        "find": lambda self, *a, **k: entries_read.append(1) or real_find(*a, **k)})())
    assert [e["team"] for e in reader.list_directory()] == ["east/a"]
    assert entries_read == []                      # unchanged: the copy, checked
    repository.put_directory({"_id": "u:r1", "owner_id": "r1", "team": "east/b",
                              "region": "east", "source": "user"})
    assert [e["team"] for e in reader.list_directory()] == ["east/b"]
    assert entries_read == [1]
