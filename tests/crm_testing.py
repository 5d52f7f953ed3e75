"""Helpers shared by the integration and e2e tests: polling, waiting on consumers,
sessions over Flask, the test session's database server, the system in this process."""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

from crm.client import USER_PASSWORD, Org as _Org, Response, Session, http_transport  # noqa: F401

ADMIN_PASSWORD = "Admin#Pass-2026"


GENEROUS_WAIT_S = 180.0


def eventually(probe: Callable[[], Any], timeout: float = GENEROUS_WAIT_S,
               interval: float = 0.02, message: str = "condition"):
    """Poll until `probe()` returns something truthy; fail with the last value at the deadline.

    A deadline here only bounds the wait for something that must happen, so it is never
    shorter than GENEROUS_WAIT_S: a loaded CI machine must not turn a slow pass into a
    failure (latency against the contract is measured by the benches under bench/). After
    a bulk load (the demo) reporting works through a backlog on FerretDB; a wait covers
    that."""
    timeout = max(timeout, GENEROUS_WAIT_S)
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{message} not met within {timeout}s (last: {last!r})")


def consumers_of(system, service: str) -> list:
    """The event consumers of one service of a system running in this process."""
    return system.services[service].extensions["crm.worker"].consumers


@contextmanager
def handled(consumers, where: Callable[[dict], bool] = lambda envelope: True, *,
            count: int = 1, outcome: str = "handled", timeout: float = GENEROUS_WAIT_S):
    """Waits, when the block ends, until `consumers` have acknowledged `count` deliveries
    of envelopes matching `where` with `outcome` (crmkit.bus.consumer.OUTCOMES), counting
    from when the block began; yields the list of those envelopes as they come.

    The waiter sits on the consumers' own hook (as nameko's entrypoint_waiter does), so
    a test that must show something did NOT happen waits for the delivery that could
    have made it happen, then looks: no fixed sleep."""
    seen: list[dict] = []
    enough = threading.Event()
    lock = threading.Lock()

    def watcher(envelope, result):
        if envelope is None or result != outcome or not where(envelope):
            return
        with lock:
            seen.append(envelope)
            if len(seen) >= count:
                enough.set()

    stops = [consumer.watch(watcher) for consumer in consumers]
    try:
        yield seen
        timeout = max(timeout, GENEROUS_WAIT_S)
        if not enough.wait(timeout):
            raise AssertionError(f"{count} deliveries {outcome} not seen within {timeout}s "
                                 f"(saw {len(seen)})")
    finally:
        for stop in stops:
            stop()


CAUGHT_UP = "crmtest.caught_up"


def caught_up(system, service: str) -> None:
    """Waits until `service` has dealt with every message published to it before this
    call (duplicates and redeliveries included), so that a test may then show that
    something did NOT happen.

    A service runs several consumers on one queue (Settings.consumer_threads), so one
    marker handled says nothing of what the others still hold. Each consumer handles
    what it receives in order, and the queue hands out in order: markers go straight
    into the service's queue until every consumer has handled one; by then each has
    handled what it took before. (The marker is a registered test event: handlers that
    do not subscribe to it ack it; reporting, which keeps every event, keeps it.)"""
    from crmkit.bus.publisher import Publisher, encode
    from crmkit.bus.topology import QueueNames
    from crmkit.events import DomainEvent, event_schema, make_envelope, registry
    from marshmallow import Schema

    if registry.latest(CAUGHT_UP) is None:
        event_schema(CAUGHT_UP, producer="crmtest",
                     summary="Test only: a barrier through a service's queue.")(
            type("CaughtUpData", (Schema,), {}))
    consumers = consumers_of(system, service)
    markers: set[str] = set()    # sent
    through: set[str] = set()    # handled (whatever the outcome)
    reached: set[int] = set()    # the consumers that handled one

    def watcher_of(number):
        def watcher(envelope, outcome):
            if envelope is not None and envelope.get("id") in markers:
                through.add(envelope["id"])
                reached.add(number)
        return watcher

    stops = [consumer.watch(watcher_of(n)) for n, consumer in enumerate(consumers)]
    publisher = Publisher(system.settings.amqp_url)
    try:
        def every_consumer_reached() -> bool:
            if len(reached) == len(consumers):
                return True
            if markers - through:   # one at a time: the queue hands them round
                return False
            marker = make_envelope(DomainEvent(CAUGHT_UP, uuid.uuid4().hex, {}),
                                   producer="crmtest", actor_id=None)
            markers.add(marker["id"])
            publisher.send_to_queue(encode(marker), QueueNames(service).main,
                                    message_id=marker["id"], type_=CAUGHT_UP, headers={})
            return False
        eventually(every_consumer_reached, interval=0.05,
                   message=f"every consumer of {service} past a marker")
    finally:
        publisher.close()
        for stop in stops:
            stop()


TESTS = Path(__file__).resolve().parent
LAST_OF_GROUP: dict[str, Any] = {}   # group -> its last test item
RELEASE_AFTER: dict[str, list] = {}  # group -> what to stop once its last test is done


def test_group(item) -> str | None:
    """The tests that share a running system: the browser tests and the e2e tests of the
    demo share `crm up --demo` ("demo"), the other e2e tests one `crm up` on the real
    broker ("e2e"; an e2e test that starts its own is a group of its own), the fault
    tests one ("faults": each module starts its own system), an integration module
    shares one system; unit tests need none (None)."""
    path = Path(str(item.fspath)).resolve()
    layer = path.relative_to(TESTS).parts[0]
    if "demo_crm" in item.fixturenames:
        return "demo"
    if layer == "faults":  # systems of their own, killed and restarted: one at a time
        return "faults"
    if layer == "e2e" and "crm" not in item.fixturenames:
        return item.nodeid
    if layer in ("e2e", "browser", "containers"):
        return layer
    if layer == "integration":
        return str(path.relative_to(TESTS))
    return None


test_group.__test__ = False  # a helper, not a test


def release_after_group(group: str, stop: Callable[[], Any]) -> None:
    """Have `stop` called once the last test of `group` is done rather than at the end
    of the session: an idle system left running takes CPU from every test after it.
    (The fixture's own teardown then stops it a second time, which must be harmless.)"""
    RELEASE_AFTER.setdefault(group, []).append(stop)


def Org(transport, admin_username: str = "admin", admin_password: str = ADMIN_PASSWORD):
    return _Org(transport, admin_username, admin_password)


def flask_transport(client):
    def send(method, path, json_body, headers, data, content_type):
        kwargs = {"headers": headers}
        if json_body is not None:
            kwargs["json"] = json_body
        elif data is not None:
            kwargs["data"] = data
            if content_type:
                kwargs["content_type"] = content_type
        reply = client.open(path, method=method, **kwargs)
        return Response(reply.status_code, reply.headers, reply.get_data())
    return send


def purge_crm_queues(url: str) -> None:
    """Recreate every queue of the system empty, so no test sees another's messages
    (deleting also clears queues a previous run declared with other arguments)."""
    from crm.system import subscriptions
    from crmkit.bus.connection import connect
    from crmkit.bus.topology import QueueNames, declare_service

    with connect(url) as connection:
        for service, keys in subscriptions().items():
            names = QueueNames(service)
            channel = connection.channel()
            for queue in (names.main, names.retry, names.parking):
                channel.queue_delete(queue)
            channel.close()
            declare_service(connection, service, keys)


_database_server = None


def session_mongo_url() -> str:
    """The database server of this test session: CRM_TEST_MONGO_URL (e.g. a real MongoDB),
    else one local FerretDB, started on first use (unit tests never start it) on tmpfs
    and stopped when the session ends. Every test takes databases of its own on it."""
    global _database_server
    url = os.environ.get("CRM_TEST_MONGO_URL")
    if url:
        return url
    if _database_server is None:
        from pathlib import Path

        from crm.ferretdb import FerretServer

        folder = tempfile.mkdtemp(prefix="crm-test-db-",
                                  dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
        _database_server = FerretServer(Path(folder)).start()
        atexit.register(shutil.rmtree, folder, True)
        atexit.register(_database_server.stop)
    return _database_server.url


def fresh_database(purpose: str = "t"):
    """An empty database of its own on the session's server."""
    from crmkit.mongo import get_database

    return get_database(session_mongo_url(), f"{purpose}_{uuid.uuid4().hex[:10]}")


def integration_settings(amqp_url: str):
    """Settings of a system on the real broker with fresh databases of its own."""
    from crmkit.config import Settings

    return Settings(amqp_url=amqp_url, mongo_url=session_mongo_url(),
                    db_prefix=f"t{uuid.uuid4().hex[:10]}_", admin_password=ADMIN_PASSWORD,
                    retry_delay_ms=200, max_attempts=3, relay_interval=0.05, embedded=False,
                    jwt_secret="integration-test-secret-" + "x" * 24)


@contextmanager
def running_system(settings, healthy_within: float = 20):
    """The whole system in this process (gateway + four services), healthy, on empty
    queues; stopped and its queues emptied afterwards."""
    from crm.system import EmbeddedSystem

    purge_crm_queues(settings.amqp_url)
    running = EmbeddedSystem(settings)
    client = running.gateway.test_client()
    try:
        eventually(lambda: client.get("/healthz").status_code == 200,
                   timeout=healthy_within, message="system healthy")
        yield running
    finally:
        running.stop()
        purge_crm_queues(settings.amqp_url)


def reports_caught_up(base_url: str, timeout: float = 600) -> None:
    """Wait until reporting has taken in the events so far: the admin's summary counts
    the open opportunities the opportunity service holds (after a bulk load, e.g. the
    demo, the projections work through a backlog)."""
    admin = Org(http_transport(base_url)).admin

    def agree():
        summary = admin.get("/api/v1/reports/summary").json
        truth = admin.get("/api/v1/opportunities?scope=all&status=open&per_page=1").json
        return summary["opportunities_open"] == truth["total"]

    eventually(agree, timeout=timeout, interval=1.0, message="reports caught up")


def plan_of(collection, command: dict) -> str:
    """The server's query plan of a read command (find, count...), as text."""
    explained = collection.database.command("explain", command)
    return str(explained.get("queryPlanner"))


def uses_an_index(plan: str, index: str) -> bool:
    """Whether `plan` reads through the index named `index` and scans no table."""
    import re

    # FerretDB (SQLite) reports SQLite's plan (a SCAN of the table reads every row; one of
    # `e VIRTUAL TABLE`, an array's elements, does not), MongoDB its own stages
    table_scan = re.search(r"SCAN (?!e VIRTUAL TABLE)", plan)
    return ("USING INDEX" in plan and f"_{index}" in plan and not table_scan) or (
        "COLLSCAN" not in plan and ("IDHACK" in plan or "IXSCAN" in plan or "EXPRESS" in plan))
