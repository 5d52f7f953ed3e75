"""Schedulers safe to run in several replicas: a lease per job, and once-only run keys."""
from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from crmkit.clock import utcnow

log = logging.getLogger(__name__)

STANDBY_CHECK_S = 1.0   # how often a replica without a job's lease asks for it again


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


class Lease:
    """At most one holder at a time for `ttl`; a crashed holder's lease simply expires."""

    def __init__(self, collection, name: str, *, ttl: timedelta, holder: str | None = None):
        self._collection = collection
        self.name = name
        self.ttl = ttl
        self.holder = holder or instance_name()

    def acquire(self, now: datetime | None = None) -> bool:
        now = now or utcnow()
        try:
            doc = self._collection.find_one_and_update(
                {"_id": self.name, "$or": [{"until": {"$lt": now}}, {"holder": self.holder}]},
                {"$set": {"holder": self.holder, "until": now + self.ttl}},
                upsert=True, return_document=ReturnDocument.AFTER)
        except DuplicateKeyError:  # someone else holds it (the upsert found no free one)
            return False
        return doc is not None and doc.get("holder") == self.holder

    def release(self) -> None:
        self._collection.update_one({"_id": self.name, "holder": self.holder},
                                    {"$set": {"until": utcnow() - timedelta(seconds=1)}})


def claim_once(collection, key: str, **fields) -> bool:
    """True for exactly one caller per key, across replicas and restarts."""
    try:
        collection.insert_one({"_id": key, "at": utcnow(), **fields})
        return True
    except DuplicateKeyError:
        return False


@dataclass
class PeriodicJob:
    """Runs `run(now)` every `interval` seconds in whichever replica holds its lease."""

    name: str
    interval: float
    run: Callable[..., object]
    lease_ttl: float = 30.0
    # a job that waits inside `run` is given the worker's stop event too, `run(now,
    # stop)`, and waits on it: a stopping worker then hands the lease over at once
    stoppable: bool = False


def run_periodic(job: PeriodicJob, leases, stop: threading.Event,
                 on_tick: Callable[[], None] | None = None) -> None:
    lease = Lease(leases, f"job:{job.name}", ttl=timedelta(seconds=max(job.lease_ttl, job.interval * 2)))
    while not stop.is_set():
        held = False
        try:
            held = lease.acquire()
            if held:
                job.run(utcnow(), stop) if job.stoppable else job.run(utcnow())
            if on_tick:
                on_tick()
        except Exception:
            log.exception("scheduled job %s failed", job.name)
        # a standby only waits for the holder's lease to lapse: no need to ask often
        stop.wait(job.interval if held else max(job.interval, STANDBY_CHECK_S))
    try:
        lease.release()   # a replica stopping in good order hands over at once
    except Exception:
        log.exception("could not release the lease of %s", job.name)
