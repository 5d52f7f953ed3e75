"""The one command runner (a unit of work) every service changes an aggregate through.

    runner = CommandRunner(load=repo.load_for(actor) ..., save=repo.save, producer="tasks",
                           noun=Noun("task", "任务"))
    task, result = runner.run(task_id, lambda task: task.start(actor, now), actor_id=...,
                              expected_version=if_match_version())

One run: load fresh state, check the client's If-Match, run the domain method, turn the
events it recorded into outbox envelopes, save conditionally on the version loaded (the
state and its outbox in one write), clear the recorded events. A lost race loads and runs
again (bounded, with a short random back-off); a client that named its version with
If-Match gets 412 instead, because what it saw is no longer what it would change.

The aggregate owns `version`: its domain method raises it (once per command) when it
changes something; the runner only compares it with the version it loaded. An aggregate
whose version did not move and that recorded nothing is not written at all.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Generic, Protocol, TypeVar

from crmkit.errors import Conflict, PreconditionFailed, VersionConflict
from crmkit.events import to_envelopes


class Aggregate(Protocol):
    version: int
    events: list   # DomainEvents recorded by the domain since the last save


A = TypeVar("A", bound=Aggregate)

ATTEMPTS = 5           # loads and runs before a busy aggregate gets 409
BACKOFF_S = 0.002      # random back-off grows by this per lost race


@dataclass(frozen=True)
class Noun:
    """How messages name the aggregate, in English and Chinese."""
    en: str
    zh: str


class CommandRunner(Generic[A]):
    """`load(id)` returns the aggregate or raises (404 for one the caller may not see, so
    that visibility is checked before any version is compared); `save(aggregate,
    loaded_version, envelopes)` writes conditionally and raises VersionConflict when the
    stored version is no longer `loaded_version`."""

    def __init__(self, *, load: Callable[[str], A],
                 save: Callable[[A, int, list[dict]], None], producer: str, noun: Noun,
                 attempts: int = ATTEMPTS):
        self._load, self._save = load, save
        self.producer, self.noun, self.attempts = producer, noun, attempts

    def run(self, aggregate_id: str, action: Callable[[A], Any], *, actor_id: str | None,
            expected_version: int | None = None) -> tuple[A, Any]:
        """Run `action(aggregate)` on fresh state and save what it changed.
        Returns (aggregate, what action returned)."""
        for attempt in range(self.attempts):
            aggregate = self._load(aggregate_id)
            if expected_version is not None and aggregate.version != expected_version:
                raise self._stale(aggregate.version)
            loaded = aggregate.version
            result = action(aggregate)
            if aggregate.version == loaded and not aggregate.events:
                return aggregate, result   # nothing changed: nothing to write
            envelopes = to_envelopes(aggregate.events, producer=self.producer,
                                     actor_id=actor_id)
            try:
                self._save(aggregate, loaded, envelopes)
            except VersionConflict:
                if expected_version is not None:
                    raise self._stale(None) from None
                time.sleep(random.uniform(0, BACKOFF_S * (attempt + 1)))
                continue
            aggregate.events.clear()
            return aggregate, result
        raise Conflict(f"The {self.noun.en} is being changed by others; try again. "
                       f"/ {self.noun.zh}正被他人修改,请重试。", code="version_conflict")

    def create(self, aggregate: A, insert: Callable[[A, list[dict]], Any], *,
               actor_id: str | None) -> Any:
        """Write a new aggregate with the events its making recorded (`insert(aggregate,
        envelopes)`, one write), then clear them. Returns what `insert` returned."""
        envelopes = to_envelopes(aggregate.events, producer=self.producer, actor_id=actor_id)
        result = insert(aggregate, envelopes)
        aggregate.events.clear()
        return result

    def _stale(self, current: int | None) -> PreconditionFailed:
        at = f" (now at version {current})" if current is not None else " meanwhile"
        return PreconditionFailed(f"The {self.noun.en} changed{at}; reload it. "
                                  f"/ {self.noun.zh}已被修改,请刷新。", code="stale_version")
