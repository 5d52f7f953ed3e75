"""A service's start-up storage work (crmkit.service.prepare_storage): every store's
indexes, then its own start-up step; a busy database is asked again, anything else
fails the start."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from pymongo.errors import OperationFailure

from crmkit import service
from crmkit.service import ServiceDefinition, prepare_storage


class Store:
    def __init__(self, failures: list[Exception] = ()):
        self.failures = list(failures)
        self.calls = 0

    def ensure_indexes(self):
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)


def run(stores, start_up=None):
    idempotency = Store()
    definition = ServiceDefinition(name="t", title="t", blueprints=[], stores=tuple(stores),
                                   start_up=start_up)
    prepare_storage(SimpleNamespace(idempotency=idempotency), definition)
    return idempotency


@pytest.fixture(autouse=True)
def no_pause(monkeypatch):
    monkeypatch.setattr(service.time, "sleep", lambda seconds: None)


def test_every_store_then_the_start_up_step():
    done = []
    first, second = Store(), Store()
    idempotency = run([first, second], start_up=lambda: done.append("start"))
    assert (first.calls, second.calls, idempotency.calls, done) == (1, 1, 1, ["start"])


def test_a_busy_database_is_asked_again():
    busy = Store([OperationFailure("... database is locked (261)")] * 2)
    run([busy])
    assert busy.calls == 3


def test_a_database_busy_for_too_long_or_another_failure_fails_the_start():
    with pytest.raises(OperationFailure, match="locked"):
        run([Store([OperationFailure("database is locked")] * service.START_UP_ATTEMPTS)])
    with pytest.raises(OperationFailure, match="bad index"):
        run([Store([OperationFailure("bad index")])])
