"""An import makes its next chunk while it writes the one before
(services/customer/handlers/imports.py `made_ahead`)."""
from __future__ import annotations

import contextvars
import threading

import pytest

from services.customer.handlers.imports import made_ahead

WAIT_S = 60.0


def test_items_come_in_order_and_the_next_is_made_while_the_caller_holds_one():
    made: dict[int, threading.Event] = {n: threading.Event() for n in range(4)}

    def make(n: int) -> int:
        made[n].set()
        return n * 10

    got = []
    for value in made_ahead(make, range(4)):
        n = value // 10
        if n + 1 in made:   # made before the caller is done with this one
            assert made[n + 1].wait(WAIT_S)
        got.append(value)
    assert got == [0, 10, 20, 30]
    assert list(made_ahead(make, [])) == []


def test_the_thread_runs_in_the_callers_context():
    request = contextvars.ContextVar("request", default=None)
    request.set("correlation-1")
    assert list(made_ahead(lambda n: (n, request.get()), [1, 2])) == [
        (1, "correlation-1"), (2, "correlation-1")]


def test_a_failure_to_make_one_reaches_the_caller_after_the_ones_before():
    def make(n: int) -> int:
        if n == 2:
            raise ValueError("bad chunk")
        return n

    got = []
    with pytest.raises(ValueError, match="bad chunk"):
        for value in made_ahead(make, range(4)):
            got.append(value)
    assert got == [0, 1]
