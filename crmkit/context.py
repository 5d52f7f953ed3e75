"""Per-request / per-message context: the correlation id that follows a change around."""
from __future__ import annotations

import contextvars
from contextlib import contextmanager

_correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None)


def current_correlation_id() -> str | None:
    return _correlation_id.get()


@contextmanager
def correlation(correlation_id: str | None):
    token = _correlation_id.set(correlation_id)
    try:
        yield
    finally:
        _correlation_id.reset(token)


def set_correlation_id(correlation_id: str | None) -> None:
    _correlation_id.set(correlation_id)
