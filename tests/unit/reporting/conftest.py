"""Fixtures for the reporting unit tests: event envelopes, a projector over memory."""
from __future__ import annotations

import pytest

from reporting_world import PEOPLE, SHANGHAI, Events, feed, identity
from services.reporting.memstore import MemoryStore
from services.reporting.projections import Projector


@pytest.fixture
def ev() -> Events:
    return Events()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def projector(store) -> Projector:
    return Projector(store, tz=SHANGHAI)


@pytest.fixture
def org(ev, projector):
    """Every person of PEOPLE known to the read models."""
    for user_id in PEOPLE:
        projector.handle(ev.user(user_id))
    return projector


@pytest.fixture
def who():
    """who("rep1") -> the Identity of a person of PEOPLE."""
    return identity


@pytest.fixture
def feed_all(projector):
    def feed_events(events):
        feed(projector, events)
        return projector.store

    return feed_events
