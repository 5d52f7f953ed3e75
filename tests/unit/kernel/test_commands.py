"""crmkit.commands.CommandRunner, over an in-memory aggregate and repository: when it
writes, what it clears, how it answers a lost race (retry, 412, 409) and a missing one."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from marshmallow import Schema, fields

from crmkit.commands import CommandRunner, Noun
from crmkit.errors import Conflict, NotFound, PreconditionFailed, VersionConflict
from crmkit.events import DomainEvent, EventSpec, registry

TYPE = "counter.bumped"


class CounterBumped(Schema):
    value = fields.Integer(required=True)


@pytest.fixture(autouse=True)
def counter_event(monkeypatch):
    """The test event's schema, registered for these tests only (the catalog and the
    contract tests see the real events alone)."""
    monkeypatch.setitem(registry._specs, (TYPE, 1),
                        EventSpec(TYPE, 1, CounterBumped, "test", "A test counter went up."))


@dataclass
class Counter:
    id: str
    value: int = 0
    version: int = 1
    events: list = field(default_factory=list)

    def bump(self) -> int:
        self.value += 1
        self.version += 1          # the domain owns the version: once per command
        self.events.append(DomainEvent(TYPE, self.id, {"value": self.value}))
        return self.value

    def look(self) -> int:
        return self.value


class Store:
    """Counters by id as (value, version); `rivals` writes of others land just before
    the runner's own save, as a lost race."""

    def __init__(self, **counters):
        self.rows = {cid: (value, 1) for cid, value in counters.items()}
        self.saves: list[tuple[str, int, list]] = []
        self.rivals = 0
        self.loads = 0

    def load(self, counter_id: str) -> Counter:
        self.loads += 1
        if counter_id not in self.rows:
            raise NotFound("no such counter")
        value, version = self.rows[counter_id]
        return Counter(counter_id, value, version)

    def save(self, counter: Counter, loaded_version: int, envelopes: list[dict]) -> None:
        if self.rivals:
            self.rivals -= 1
            value, version = self.rows[counter.id]
            self.rows[counter.id] = (value + 1, version + 1)
        if self.rows[counter.id][1] != loaded_version:
            raise VersionConflict("changed meanwhile")
        self.rows[counter.id] = (counter.value, counter.version)
        self.saves.append((counter.id, loaded_version, envelopes))


def runner(store: Store, attempts: int = 5) -> CommandRunner:
    return CommandRunner(load=store.load, save=store.save, producer="test",
                         noun=Noun("counter", "计数器"), attempts=attempts)


def test_nothing_changed_means_nothing_written():
    store = Store(c1=3)
    counter, seen = runner(store).run("c1", Counter.look, actor_id="u1")
    assert seen == 3 and counter.version == 1
    assert store.saves == []


def test_a_change_is_saved_with_its_events_then_they_are_cleared():
    store = Store(c1=3)
    counter, value = runner(store).run("c1", Counter.bump, actor_id="u1")
    assert value == 4 and store.rows["c1"] == (4, 2)
    [(counter_id, loaded, envelopes)] = store.saves
    assert counter_id == "c1" and loaded == 1
    assert [(e["type"], e["data"], e["actor_id"], e["producer"]) for e in envelopes] == [
        (TYPE, {"value": 4}, "u1", "test")]
    assert counter.events == []


def test_a_lost_race_runs_again_on_fresh_state():
    store = Store(c1=3)
    store.rivals = 2
    counter, value = runner(store).run("c1", Counter.bump, actor_id="u1")
    assert value == 6 and store.rows["c1"] == (6, 4)   # two rivals' bumps, then ours
    assert store.loads == 3 and len(store.saves) == 1
    assert counter.events == []


def test_a_lost_race_with_a_named_version_is_412():
    store = Store(c1=3)
    store.rivals = 1
    with pytest.raises(PreconditionFailed) as caught:
        runner(store).run("c1", Counter.bump, actor_id="u1", expected_version=1)
    assert caught.value.code == "stale_version"
    assert store.loads == 1 and store.saves == []


def test_a_version_other_than_the_named_one_is_412_before_anything_runs():
    store = Store(c1=3)
    with pytest.raises(PreconditionFailed) as caught:
        runner(store).run("c1", Counter.bump, actor_id="u1", expected_version=7)
    assert caught.value.code == "stale_version"
    assert store.rows["c1"] == (3, 1) and store.saves == []


def test_the_named_version_when_current_is_saved():
    store = Store(c1=3)
    counter, _ = runner(store).run("c1", Counter.bump, actor_id="u1", expected_version=1)
    assert counter.version == 2 and store.rows["c1"] == (4, 2)


def test_a_race_lost_every_time_ends_in_409():
    store = Store(c1=0)
    store.rivals = 10
    with pytest.raises(Conflict) as caught:
        runner(store, attempts=3).run("c1", Counter.bump, actor_id="u1")
    assert caught.value.code == "version_conflict"
    assert store.loads == 3 and store.saves == []


def test_what_load_raises_reaches_the_caller():
    store = Store()
    with pytest.raises(NotFound):
        runner(store).run("missing", Counter.bump, actor_id="u1")
    assert store.saves == []
