"""Long operations a request starts and later requests follow: 202 Accepted, then a
status resource (a 50,000-row import runs minutes; held as one request it would hold a
gateway slot and a thread that long, and its client would see nothing until the end).

`BackgroundRuns` keeps each run's state in the service's own database (`background_runs`),
so whichever process of the service a status request reaches answers it; the work runs in
a thread of the process that accepted it, one at a time, with at most `max_waiting` more
waiting behind it (past that: 429 and Retry-After).

A run is `queued`, `running`, then `done` (with its `result`) or `failed` (with its
`error`, a problem's code and detail). The process holding a run stamps `heartbeat_at`
every HEARTBEAT_SECONDS while it does; a run that is neither done nor failed and whose
stamp is older than STALE_SECONDS is shown as failed with the code `interrupted` (the
process stopped: a deploy, a crash). What such a run had written stays written; its
caller may start it again (an import then reports what it already created as
duplicates).
"""
from __future__ import annotations

import atexit
import contextvars
import logging
import queue
import threading
import time
import uuid
from datetime import datetime, timedelta
from typing import Callable

from marshmallow import Schema, fields

from crmkit.clock import as_utc, isoformat, utcnow
from crmkit.errors import DomainError, Invalid, TooManyRequests

log = logging.getLogger(__name__)

RUNS = "background_runs"
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
UNFINISHED = (QUEUED, RUNNING)
HEARTBEAT_SECONDS = 15.0
STALE_SECONDS = 90.0        # six missed heartbeats: the process holding the run is gone
PROGRESS_SECONDS = 1.0      # progress written at most this often (one small update)
MAX_WAITING = 2             # runs one process accepts behind the one it is running
RETRY_AFTER = "30"


class Progress:
    """What the work reports as it goes: `progress(phase, done, total)`; written to the
    run at most every PROGRESS_SECONDS, and always when the phase changes."""

    def __init__(self, runs: "BackgroundRuns", run_id: str):
        self._runs = runs
        self._run_id = run_id
        self._phase: str | None = None
        self._written_at = 0.0

    def __call__(self, phase: str, done: int, total: int | None = None) -> None:
        moment = time.monotonic()
        if phase == self._phase and moment - self._written_at < PROGRESS_SECONDS:
            return
        self._phase, self._written_at = phase, moment
        self._runs.runs.update_one({"_id": self._run_id, "state": RUNNING}, {"$set": {
            "phase": phase, "done": done, "total": total}})


class BackgroundRuns:
    def __init__(self, db, *, clock: Callable[[], datetime] = utcnow,
                 max_waiting: int = MAX_WAITING):
        self.runs = db[RUNS]
        self.clock = clock
        self.max_waiting = max_waiting
        self._lock = threading.Lock()
        self._held: set[str] = set()      # this process's runs, waiting or running
        self._work: queue.SimpleQueue = queue.SimpleQueue()
        self._threads_started = False

    def ensure_indexes(self) -> None:
        self.runs.create_index([("kind", 1), ("owner_id", 1), ("created_at", -1)])

    # ---- starting and running

    def start(self, kind: str, owner_id: str, work: Callable[[Progress], dict], *,
              details: dict | None = None) -> dict:
        """Accept a run of `work(progress) -> result` (a plain dict); its status now.
        The work runs in this request's context (its correlation id goes into events)."""
        run_id = uuid.uuid4().hex
        with self._lock:
            if len(self._held) > self.max_waiting:
                raise TooManyRequests(
                    "此服务进程已有任务在排队，请稍后再试 / This service process already has "
                    "runs waiting; try again shortly.", code="runs_busy",
                    headers={"Retry-After": RETRY_AFTER})
            self._held.add(run_id)
            self._start_threads()
        now = as_utc(self.clock())
        doc = {"_id": run_id, "kind": kind, "owner_id": owner_id, "state": QUEUED,
               "phase": None, "done": 0, "total": None, "created_at": now,
               "heartbeat_at": now, "details": details or {}}
        try:
            self.runs.insert_one(doc)
        except Exception:
            self._release(run_id)
            raise
        self._work.put((run_id, work, contextvars.copy_context()))
        return self.view(doc)

    def _start_threads(self) -> None:
        """The worker and the heartbeat, started with the first run (after any fork)."""
        if self._threads_started:
            return
        self._threads_started = True
        # daemons: a stopping process does not wait for a run; `_abandon` marks its runs
        # interrupted at once instead of leaving them to go stale
        threading.Thread(target=self._serve, name="background-run", daemon=True).start()
        threading.Thread(target=self._beat, name="background-heartbeat", daemon=True).start()
        atexit.register(self._abandon)

    def _serve(self) -> None:
        while True:
            run_id, work, context = self._work.get()
            try:
                context.run(self._run, run_id, work)
            except Exception:   # noqa: BLE001 -- its state could not be written: the
                # heartbeat stops and it shows as interrupted; the next run still runs
                log.exception("background run %s: its state could not be written", run_id)
            finally:
                self._release(run_id)

    def _run(self, run_id: str, work: Callable[[Progress], dict]) -> None:
        self._set(run_id, RUNNING, started_at=as_utc(self.clock()))
        try:
            result = work(Progress(self, run_id))
        except DomainError as error:   # the input was refused: the caller's to fix
            problem = {"code": error.code, "detail": error.detail}
            if isinstance(error, Invalid):
                problem["errors"] = error.errors
            self._finish(run_id, FAILED, error=problem)
        except Exception:   # noqa: BLE001 -- reported through the status, and logged
            log.exception("background run %s failed", run_id)
            self._finish(run_id, FAILED, error={
                "code": "internal_error",
                "detail": "任务意外中止，请重试 / The run failed unexpectedly; try again."})
        else:
            self._finish(run_id, DONE, result=result)

    def _set(self, run_id: str, state: str, **fields) -> None:
        self.runs.update_one({"_id": run_id, "state": {"$in": list(UNFINISHED)}},
                             {"$set": {"state": state, **fields}})

    def _finish(self, run_id: str, state: str, **fields) -> None:
        self._set(run_id, state, phase=None, finished_at=as_utc(self.clock()), **fields)

    def _release(self, run_id: str) -> None:
        with self._lock:
            self._held.discard(run_id)

    def _beat(self) -> None:
        while True:
            time.sleep(HEARTBEAT_SECONDS)
            with self._lock:
                held = list(self._held)
            if not held:
                continue
            try:
                self.runs.update_many({"_id": {"$in": held}, "state": {"$in": list(UNFINISHED)}},
                                      {"$set": {"heartbeat_at": as_utc(self.clock())}})
            except Exception:   # noqa: BLE001 -- the next beat tries again
                log.warning("could not stamp the background runs' heartbeat", exc_info=True)

    def _abandon(self) -> None:
        """At exit: this process's unfinished runs end now, as interrupted."""
        with self._lock:
            held = list(self._held)
        if held:
            self.runs.update_many(
                {"_id": {"$in": held}, "state": {"$in": list(UNFINISHED)}},
                {"$set": {"state": FAILED, "phase": None, "finished_at": as_utc(self.clock()),
                          "error": interrupted()}})

    # ---- reading

    def get(self, run_id: str) -> dict | None:
        doc = self.runs.find_one({"_id": run_id})
        return self.view(doc) if doc else None

    def recent(self, kind: str, owner_id: str | None = None, *, limit: int = 20) -> list[dict]:
        """The latest runs of a kind, newest first (one owner's, or everyone's)."""
        query = {"kind": kind, **({"owner_id": owner_id} if owner_id is not None else {})}
        docs = self.runs.find(query).sort([("created_at", -1)]).limit(limit)
        return [self.view(doc) for doc in docs]

    def view(self, doc: dict) -> dict:
        """The run as its status resource shows it (a stale unfinished run as failed)."""
        state, error = doc["state"], doc.get("error")
        stale_before = as_utc(self.clock()) - timedelta(seconds=STALE_SECONDS)
        if state in UNFINISHED and as_utc(doc["heartbeat_at"]) < stale_before:
            state, error = FAILED, interrupted()
        return {"id": doc["_id"], "kind": doc["kind"], "owner_id": doc["owner_id"],
                "state": state, "phase": doc.get("phase"), "done": doc.get("done", 0),
                "total": doc.get("total"), **doc.get("details", {}),
                "created_at": isoformat(doc["created_at"]),
                "started_at": isoformat(doc.get("started_at")),
                "finished_at": isoformat(doc.get("finished_at")),
                "result": doc.get("result"), "error": error}


class RunErrorOut(Schema):
    code = fields.String(metadata={"example": "interrupted"})
    detail = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class RunOut(Schema):
    """A background run's status; a service's own adds its details and `result`."""
    id = fields.String()
    kind = fields.String()
    owner_id = fields.String()
    state = fields.String(metadata={"enum": [QUEUED, RUNNING, DONE, FAILED]})
    phase = fields.String(allow_none=True, metadata={
        "description": "what the run is doing now (the kind names its phases)"})
    done = fields.Integer(metadata={"description": "items of the phase done so far"})
    total = fields.Integer(allow_none=True, metadata={"description": "the phase's items"})
    created_at = fields.String()
    started_at = fields.String(allow_none=True)
    finished_at = fields.String(allow_none=True)
    error = fields.Nested(RunErrorOut, allow_none=True)


def prefers_async(prefer_header: str | None) -> bool:
    """Whether a request's `Prefer` header (RFC 7240) asks for `respond-async`."""
    return any(part.split(";")[0].split("=")[0].strip().lower() == "respond-async"
               for part in (prefer_header or "").split(","))


def interrupted() -> dict:
    return {"code": "interrupted",
            "detail": "任务所在的服务进程已停止，已写入的部分保留，可重新提交 / The service "
                      "process running it stopped; what it wrote is kept. Start it again."}
