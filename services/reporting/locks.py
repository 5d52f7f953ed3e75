"""The lock between projecting and rebuilding in one process: consumers share it, a
rebuild takes it alone (other processes hold back on the rebuild flag instead)."""
from __future__ import annotations

import threading
from contextlib import contextmanager


class SharedExclusiveLock:
    """Consumers share it; a rebuild in this process takes it alone."""

    def __init__(self):
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    @contextmanager
    def shared(self):
        with self._cond:
            while self._writer:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self):
        with self._cond:
            while self._writer:
                self._cond.wait()
            self._writer = True
            while self._readers:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


_locks: dict[str, SharedExclusiveLock] = {}
_locks_guard = threading.Lock()


def lock_for(name: str) -> SharedExclusiveLock:
    """One lock per reporting database in this process."""
    with _locks_guard:
        return _locks.setdefault(name, SharedExclusiveLock())
