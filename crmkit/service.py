"""The service kit: what every service's composition root hands over, and how it runs.

A service's `app.py` builds its adapters on a `ServiceRuntime` (database, publisher,
tokens) and describes itself with a `ServiceDefinition` (blueprints, subscriptions,
outbox collections, scheduled jobs). From that, `build_app` makes the Flask app (API,
health, OpenAPI, event catalog, metrics, dead letters) and `Worker` runs the background
components: consumers, the outbox relay, schedulers, heartbeats. The same components
run in the API process (embedded mode) or in worker processes of their own.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from flask import Flask
from marshmallow import Schema, fields, validate

from crmkit.auth import TokenService
from crmkit.bus.consumer import EventConsumer, Subscriptions
from crmkit.bus.connection import connect
from crmkit.bus.deadletters import list_parked, replay_parked
from crmkit.bus.outbox import OutboxRelay
from crmkit.bus.publisher import Publisher
from crmkit.catalog import producer_events
from crmkit.config import SERVICES, Settings
from crmkit.health import Heartbeats
from crmkit.idempotency import IdempotencyStore
from crmkit.metrics import EVENTS_HANDLED, install_metrics
from crmkit.mongo import get_database
from crmkit.problems import problem_response
from crmkit.scheduling import PeriodicJob, run_periodic
from crmkit.web import (ApiBlueprint, install_authentication, install_error_handlers,
                        install_request_id, json_response, openapi_document, parse_body,
                        require_role)

log = logging.getLogger(__name__)

HEARTBEAT_EVERY_S = 10.0   # three beats per crmkit.health.STALE_AFTER


class ServiceRuntime:
    """Infrastructure shared by a service's adapters (one per process)."""

    def __init__(self, name: str, settings: Settings):
        self.name = name
        self.settings = settings
        self.db = get_database(settings.mongo_url, settings.database_name(name))
        self.tokens = TokenService(settings.jwt_secret)
        self.publisher = Publisher(settings.amqp_url)
        self.heartbeats = Heartbeats(self.db)
        self.idempotency = IdempotencyStore(self.db["_idempotency"])


@dataclass
class ServiceDefinition:
    name: str
    title: str
    blueprints: list[ApiBlueprint]
    subscriptions: Subscriptions | None = None
    outbox_collections: list[str] = field(default_factory=list)
    jobs: list[PeriodicJob] = field(default_factory=list)
    # whatever keeps indexes (repositories, the user directory, attachment stores): each
    # one's ensure_indexes() runs at start, before `start_up` (other idempotent work)
    stores: tuple = ()
    start_up: Callable[[], None] | None = None
    public_paths: tuple[str, ...] = ()   # under /api/ but authenticated otherwise
    load_demo: Callable[..., object] | None = None
    # also admits these callers to /metrics besides the metrics token (the gateway: admins)
    metrics_authorize: Callable[[str], None] | None = None
    # installs /healthz and /readyz instead of the service's own (the gateway: the system's)
    health_routes: Callable[[Flask, "Readiness"], None] | None = None


class Worker:
    """Background components of one service in this process."""

    def __init__(self, runtime: ServiceRuntime, definition: ServiceDefinition):
        self.runtime = runtime
        self.definition = definition
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        settings = runtime.settings
        self.relay = OutboxRelay(runtime.db, definition.outbox_collections,
                                 Publisher(settings.amqp_url), interval=settings.relay_interval,
                                 name=definition.name) if definition.outbox_collections else None
        self.consumers = []
        if definition.subscriptions is not None:
            for _ in range(max(1, settings.consumer_threads)):
                self.consumers.append(EventConsumer(
                    settings.amqp_url, definition.name, definition.subscriptions,
                    max_attempts=settings.max_attempts, retry_delay_ms=settings.retry_delay_ms,
                    prefetch=settings.prefetch, queue_type=settings.queue_type,
                    on_handled=self._count_handled))

    @property
    def jobs(self) -> list[PeriodicJob]:
        """The service's own jobs, and the kernel's housekeeping that every worker runs."""
        sweep = PeriodicJob(f"{self.definition.name}-expire-idempotency-keys", 600,
                            self.runtime.idempotency.sweep)
        return [*self.definition.jobs, sweep]

    def _count_handled(self, envelope: dict) -> None:
        EVENTS_HANDLED.labels(self.definition.name, envelope.get("type", "?")).inc()

    def declare_topology(self) -> None:
        """Declare this service's queues before anything is published to them."""
        if self.consumers:
            with connect(self.runtime.settings.amqp_url) as connection:
                self.consumers[0].declare(connection)

    def start(self) -> "Worker":
        prepare_storage(self.runtime, self.definition)
        if self.relay:
            self.relay.ensure_indexes()
            self._spawn("relay", self.relay.run, self.stop_event)
        for number, consumer in enumerate(self.consumers):
            self._spawn(f"consumer-{number}", consumer.run, self.stop_event)
        leases = self.runtime.db["_leases"]
        for job in self.jobs:
            self._spawn(f"job-{job.name}", run_periodic, job, leases, self.stop_event)
        self._spawn("heartbeat", self._heartbeat)
        return self

    def _spawn(self, name, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True,
                                  name=f"{self.definition.name}-{name}")
        thread.start()
        self.threads.append(thread)

    def components(self) -> list[str]:
        parts = []
        if self.relay:
            parts.append("relay")
        if self.consumers:
            parts.append("consumer")
        parts.append("scheduler")
        return parts

    def _heartbeat(self) -> None:
        while not self.stop_event.is_set():
            consuming = all(c.ready.is_set() for c in self.consumers)
            try:
                alive = [part for part in self.components()
                         if part != "consumer" or consuming]
                self.runtime.heartbeats.beat(alive)
            except Exception:
                log.exception("heartbeat failed")
            if consuming:
                self.stop_event.wait(HEARTBEAT_EVERY_S)
            else:   # starting: beat again as soon as the consumers are (readiness waits)
                self._until_consuming(HEARTBEAT_EVERY_S)

    def _until_consuming(self, timeout: float) -> None:
        """Wait until every consumer is ready, for at most `timeout`, or until stopped."""
        deadline = time.monotonic() + timeout
        while not self.stop_event.is_set() and time.monotonic() < deadline:
            if self.wait_ready(timeout=0.2):
                return

    def wait_ready(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        for consumer in self.consumers:
            if not consumer.ready.wait(max(0.0, deadline - time.monotonic())):
                return False
        return True

    def request_stop(self) -> None:
        """Tell every component to stop, without waiting (several workers of one process
        then wind down together: a consumer notices within its drain timeout)."""
        self.stop_event.set()
        if self.relay:
            self.relay.wake()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop every component and wait for them (one deadline for all, inside the
        supervisor's 20 s): a consumer handles and acknowledges what the broker already
        handed it before returning; a process leaving earlier cut handlers short."""
        self.request_stop()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def expected_components(definition: ServiceDefinition) -> list[str]:
    parts = []
    if definition.outbox_collections:
        parts.append("relay")
    if definition.subscriptions is not None:
        parts.append("consumer")
    parts.append("scheduler")   # every worker runs at least the kernel's housekeeping
    return parts


class Readiness:
    """What /readyz reports: the database, the broker, and each background component."""

    def __init__(self, runtime: ServiceRuntime, definition: ServiceDefinition):
        self.runtime = runtime
        self.definition = definition
        self._broker_checked_at = 0.0
        self._broker_ok = False

    def report(self) -> dict:
        checks = {"mongo": self._check(lambda: self.runtime.db.command("ping")),
                  "broker": "ok" if self._broker() else "unreachable"}
        for component in expected_components(self.definition):
            checks[component] = "ok" if self.runtime.heartbeats.alive(component) else "down"
        ready = all(state == "ok" for state in checks.values())
        return {"service": self.definition.name, "ready": ready, "checks": checks}

    @staticmethod
    def _check(probe) -> str:
        try:
            probe()
            return "ok"
        except Exception as error:
            return f"error: {error.__class__.__name__}"

    def _broker(self) -> bool:
        if time.monotonic() - self._broker_checked_at > 5:
            try:   # one short attempt: /readyz answers within a second, broker up or down
                with connect(self.runtime.settings.amqp_url, timeout=0.5) as connection:
                    connection.ensure_connection(max_retries=1, interval_start=0, timeout=0.8)
                self._broker_ok = True
            except Exception:
                self._broker_ok = False
            self._broker_checked_at = time.monotonic()
        return self._broker_ok


def build_app(runtime: ServiceRuntime, definition: ServiceDefinition) -> Flask:
    app = Flask(definition.name)
    app.config["MAX_CONTENT_LENGTH"] = 20 * 1024 * 1024
    app.json.ensure_ascii = False
    install_request_id(app)
    install_error_handlers(app)
    install_metrics(app, definition.name, token=runtime.settings.metrics_token,
                    authorize=definition.metrics_authorize)
    install_authentication(app, runtime.tokens, public_paths=definition.public_paths)
    for blueprint in definition.blueprints:
        app.register_blueprint(blueprint)
    documented = list(definition.blueprints)
    if definition.subscriptions is not None:   # what consumes nothing parks nothing
        admin = dead_letters_blueprint(runtime, definition.name)
        app.register_blueprint(admin)
        documented.append(admin)
    readiness = Readiness(runtime, definition)
    openapi = {}

    @app.get("/livez")
    def livez():  # the process answers; dependencies are /readyz's business
        return json_response({"status": "alive", "service": definition.name})

    (definition.health_routes or service_health_routes)(app, readiness)

    @app.get("/openapi.json")
    def openapi_json():
        if not openapi:
            openapi.update(openapi_document(definition.title, documented))
        return json_response(openapi)

    @app.get("/events/catalog.json")
    def event_catalog():
        return json_response({"producer": definition.name,
                              "events": producer_events(definition.name)})

    app.extensions["crm.readiness"] = readiness
    app.extensions["crm.definition"] = definition
    return app


def service_health_routes(app: Flask, readiness: Readiness) -> None:
    name = readiness.definition.name

    @app.get("/healthz")
    def healthz():
        report = readiness.report()
        if report["ready"]:
            return json_response({"status": "ok", "service": name})
        return problem_response(503, "not_ready", f"{name} is not ready",
                                checks=report["checks"])

    @app.get("/readyz")
    def readyz():
        report = readiness.report()
        return json_response(report, 200 if report["ready"] else 503)


class ReplayIn(Schema):
    # as many as GET lists at most (crmkit.bus.deadletters.list_parked)
    ids = fields.List(fields.String(), allow_none=True, validate=validate.Length(max=1000),
                      metadata={"description": "left out: every parked message"})
    service = fields.String(metadata={"description": "the gateway routes by it"})


class DeadLettersQuery(Schema):
    service = fields.String(required=True, validate=validate.OneOf(SERVICES),
                            metadata={"description": "whose parking queue; the gateway "
                                                     "routes by it"})


class ParkedMessageOut(Schema):   # crmkit.bus.deadletters._describe
    id = fields.String(allow_none=True)
    type = fields.String(allow_none=True)
    attempts = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    failed_at = fields.String(allow_none=True)
    envelope = fields.Dict(allow_none=True, metadata={"description": "the event as parked "
                                                      "(null when it is not JSON)"})


class DeadLettersOut(Schema):
    service = fields.String(required=True)
    items = fields.List(fields.Nested(ParkedMessageOut), required=True)
    total = fields.Integer(required=True)


class ReplayedOut(Schema):
    service = fields.String(required=True)
    replayed = fields.List(fields.String(), required=True)


def dead_letters_blueprint(runtime: ServiceRuntime, service: str) -> ApiBlueprint:
    blueprint = ApiBlueprint(f"{service}_dead_letters", __name__, tag="admin",
                             url_prefix="/api/v1/admin/dead-letters")

    @blueprint.operation("", "GET", summary="List messages parked after too many failures",
                         query=DeadLettersQuery, response=DeadLettersOut)
    def list_dead_letters():
        require_role("admin")
        items = list_parked(runtime.settings.amqp_url, service)
        return json_response({"service": service, "items": items, "total": len(items)})

    @blueprint.operation("/replay", "POST", summary="Send parked messages back to the queue",
                         body=ReplayIn, response=ReplayedOut)
    def replay_dead_letters():
        require_role("admin")
        body = parse_body(ReplayIn)
        replayed = replay_parked(runtime.settings.amqp_url, service, body.get("ids"),
                                 runtime.publisher)
        return json_response({"service": service, "replayed": replayed})

    return blueprint


Bootstrap = Callable[[Settings], tuple[ServiceRuntime, ServiceDefinition]]


START_UP_ATTEMPTS = 5


def prepare_storage(runtime: ServiceRuntime, definition: ServiceDefinition) -> None:
    """Indexes of every store of the service (idempotency keys included), then its own
    start-up work; each step is idempotent, so API and worker processes may both run it.
    A database server that says it is busy (SQLite under FerretDB answers "database is
    locked" when another connection holds the file past its busy timeout, e.g. while
    several processes create their databases at once) is asked again after a pause,
    rather than failing the process's start."""
    from pymongo.errors import OperationFailure

    for attempt in range(1, START_UP_ATTEMPTS + 1):
        try:
            for store in (*definition.stores, runtime.idempotency):
                store.ensure_indexes()
            if definition.start_up:
                definition.start_up()
            return
        except OperationFailure as error:
            if "database is locked" not in str(error) or attempt == START_UP_ATTEMPTS:
                raise
            log.warning("%s: the database is busy at start (%s); trying again",
                        definition.name, attempt)
            time.sleep(attempt)


def service_app(bootstrap: Bootstrap, settings: Settings | None = None, *,
                with_workers: bool | None = None) -> Flask:
    """WSGI app of a service; with_workers also runs its background components here
    (the embedded mode: one process for everything)."""
    import os

    settings = settings or Settings.from_env()
    runtime, definition = bootstrap(settings)
    app = build_app(runtime, definition)
    if with_workers is None:
        with_workers = os.environ.get("CRM_WITH_WORKERS") == "1"
    prepare_storage(runtime, definition)
    if with_workers:
        worker = Worker(runtime, definition)
        worker.declare_topology()
        app.extensions["crm.worker"] = worker.start()
    elif definition.outbox_collections:
        app.extensions["crm.relay"] = start_hinted_relay(runtime, definition)
    return app


def start_hinted_relay(runtime: ServiceRuntime, definition: ServiceDefinition) -> OutboxRelay:
    """An API process publishes its own writes' events at once (the writers name the
    documents they changed): the worker's relay, in another process, hears of no hint,
    and polling it often cost latency and idle CPU. The worker still scans, as the
    safety net for whatever this relay leaves (a crash, a refused or failed publish)."""
    relay = OutboxRelay(runtime.db, definition.outbox_collections, runtime.publisher,
                        interval=None, name=f"{definition.name}-api")
    threading.Thread(target=relay.run, args=(threading.Event(),), daemon=True,
                     name=f"{definition.name}-api-relay").start()
    return relay


def service_worker(bootstrap: Bootstrap, settings: Settings | None = None) -> Worker:
    runtime, definition = bootstrap(settings or Settings.from_env())
    return Worker(runtime, definition)
