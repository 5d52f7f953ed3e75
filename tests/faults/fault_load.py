"""What the fault tests share: a bounded write load through the gateway that records
every 2xx answer, an outside subscriber on `crm.events`, the checks run after a fault,
and a RabbitMQ node of the test's own (to restart a broker nobody else uses)."""
from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import urllib.error
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from crm_process import free_port, processes_marked
from crm_testing import Org, Response, eventually

STAGES = ("lead", "needs_analysis", "proposal", "negotiation", "contract")
OPEN_TASK_STATUSES = ("todo", "in_progress")


def pids_running(marker: str, *words: str) -> list[int]:
    """Pids of the system whose command line has all these words."""
    found = []
    for pid in processes_marked(marker):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if all(word.encode() in argv for word in words):
            found.append(pid)
    return found


def kill_all(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# --- the load ------------------------------------------------------------------------

NOT_SENT = "not sent"      # refused before the request went out: nothing happened
UNKNOWN = "unknown"        # it may or may not have been applied (a reset, a 502, ...)
REFUSED = "refused"        # a definite no (4xx)
DONE = "done"              # a 2xx


def outcome(send) -> tuple[str, Response | None]:
    try:
        reply = send()
    except urllib.error.URLError as error:
        if isinstance(error.reason, ConnectionRefusedError):
            return NOT_SENT, None
        return UNKNOWN, None
    except OSError:  # reset, timeout, a closed connection mid-answer
        return UNKNOWN, None
    if 200 <= reply.status_code < 300:
        return DONE, reply
    if 400 <= reply.status_code < 500 and reply.status_code not in (408, 429):
        return REFUSED, reply
    return UNKNOWN, reply


@dataclass
class Record:
    """One entity the load created: the fields of its writes answered 2xx, the version
    of the last of them, and values of writes whose outcome is unknown (either may show)."""
    kind: str                # customer | opportunity | task
    id: str
    owner: object            # the Session that wrote it
    fields: dict
    version: int
    maybe: dict = field(default_factory=dict)  # field -> values that may have won
    events: list = field(default_factory=list)  # (type, version) each 2xx write caused

    @property
    def path(self) -> str:
        plural = {"customer": "customers", "opportunity": "opportunities", "task": "tasks"}
        return f"/api/v1/{plural[self.kind]}/{self.id}"


class Load:
    """A few threads, each a rep of its own, creating and updating customers,
    opportunities and tasks through the gateway until stopped; every 2xx is recorded."""

    def __init__(self, base_url: str, org: Org, reps: list):
        self.base_url = base_url
        self.org = org
        self.reps = reps
        self.records: list[Record] = []
        self.lock = threading.Lock()
        self.done = 0            # 2xx answers so far
        self.failed = 0          # everything else
        self.unexpected: list[str] = []  # 4xx that a correct system never answers here
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._serial = itertools.count(1)

    def start(self) -> "Load":
        self._stop.clear()
        self._threads = [threading.Thread(target=self._run, args=(rep, number), daemon=True)
                         for number, rep in enumerate(self.reps)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in self._threads), "load threads hung"

    def done_count(self) -> int:
        with self.lock:
            return self.done

    def run_until(self, condition, timeout: float = 120, message: str = "load condition"):
        """Keep the load going until `condition()` holds (bounded)."""
        eventually(condition, timeout=timeout, interval=0.1, message=message)

    # the writes

    def _run(self, rep, number: int) -> None:
        mine: dict[str, list[Record]] = {"customer": [], "opportunity": [], "task": []}
        steps = itertools.cycle((self._create_customer, self._create_task,
                                 self._update_customer, self._create_opportunity,
                                 self._move_opportunity, self._update_task))
        for step in steps:
            if self._stop.is_set():
                return
            failed_before = self.failed
            try:
                step(rep, mine)
            except Exception as error:  # a bug in the load itself must show
                with self.lock:
                    self.unexpected.append(f"{step.__name__}: {error!r}")
                return
            if self.failed != failed_before:  # a client's back-off, not a wait for anything
                self._stop.wait(0.05)

    def _count(self, status: str, reply, what: str) -> None:
        with self.lock:
            if status == DONE:
                self.done += 1
            else:
                self.failed += 1
                if status == REFUSED:
                    self.unexpected.append(f"{what}: {reply!r}")

    def _add(self, record: Record, mine) -> None:
        with self.lock:
            self.records.append(record)
        mine[record.kind].append(record)

    def _create_customer(self, rep, mine) -> None:
        serial = next(self._serial)
        body = {"name": f"故障测试客户{serial}-{uuid.uuid4().hex[:6]}", "industry": "制造业",
                "status": "intent",
                "primary_contact": {"name": "王五", "phone": "13800000000"}}
        status, reply = outcome(lambda: rep.post("/api/v1/customers", json=body))
        self._count(status, reply, "create customer")
        if status == DONE:
            self._add(Record("customer", reply.json["id"], rep,
                             {"name": body["name"], "industry": "制造业"},
                             reply.json["version"],
                             events=[("customer.created", reply.json["version"])]), mine)

    def _update_customer(self, rep, mine) -> None:
        record = _writable(mine["customer"])
        if record is None:
            return
        industry = f"行业{next(self._serial)}"
        status, reply = outcome(lambda: rep.patch(record.path, json={"industry": industry}))
        self._count(status, reply, "update customer")
        self._settle(record, status, reply, {"industry": industry}, "customer.updated")

    def _create_opportunity(self, rep, mine) -> None:
        customers = [r for r in mine["customer"] if not r.maybe]
        if not customers:
            return
        customer = customers[next(self._serial) % len(customers)]
        amount = f"{1000 + next(self._serial)}.00"
        body = {"name": f"故障测试商机{next(self._serial)}", "customer_id": customer.id,
                "amount": amount, "expected_close_date": "2030-06-30"}
        status, reply = outcome(lambda: rep.post("/api/v1/opportunities", json=body))
        if status == REFUSED and reply.status_code == 422 and \
                "customer" in reply.data.decode(errors="replace"):
            with self.lock:  # not known to opportunities yet: an ordinary, eventual no
                self.failed += 1
            return
        self._count(status, reply, "create opportunity")
        if status == DONE:
            self._add(Record("opportunity", reply.json["id"], rep,
                             {"name": body["name"], "amount": amount, "stage": "lead"},
                             reply.json["version"],
                             events=[("opportunity.created", reply.json["version"])]), mine)

    def _move_opportunity(self, rep, mine) -> None:
        record = _writable(mine["opportunity"],
                           lambda r: r.fields["stage"] != STAGES[-1])
        if record is None:
            return
        stage = STAGES[STAGES.index(record.fields["stage"]) + 1]
        status, reply = outcome(lambda: rep.post(f"{record.path}/stage", json={
            "stage": stage, "note": "推进"}))
        self._count(status, reply, "move opportunity")
        self._settle(record, status, reply, {"stage": stage}, "opportunity.stage_changed")

    def _create_task(self, rep, mine) -> None:
        title = f"回访{next(self._serial)}"
        body = {"type": "call", "title": title, "due_at": "2030-01-02T10:00:00+08:00"}
        status, reply = outcome(lambda: rep.post("/api/v1/tasks", json=body))
        self._count(status, reply, "create task")
        if status == DONE:
            self._add(Record("task", reply.json["id"], rep, {"title": title},
                             reply.json["version"],
                             events=[("task.created", reply.json["version"])]), mine)

    def _update_task(self, rep, mine) -> None:
        record = _writable(mine["task"])
        if record is None:
            return
        title = f"再次回访{next(self._serial)}"
        status, reply = outcome(lambda: rep.patch(record.path, json={"title": title}))
        self._count(status, reply, "update task")
        self._settle(record, status, reply, {"title": title}, "task.updated")

    def _settle(self, record: Record, status: str, reply, values: dict,
                event_type: str) -> None:
        if status == DONE:
            with self.lock:
                record.fields.update(values)
                record.version = reply.json["version"]
                record.events.append((event_type, record.version))
        elif status == UNKNOWN:  # not written to again: it may hold either value
            with self.lock:
                for key, value in values.items():
                    record.maybe.setdefault(key, []).append(value)


_pick = itertools.count()


def _writable(records, extra=lambda r: True):
    candidates = [r for r in records if not r.maybe and extra(r)]
    return candidates[next(_pick) % len(candidates)] if candidates else None


# --- the outside subscriber ----------------------------------------------------------

class Observer:
    """A durable queue of our own bound to every event on `crm.events`: what an outside
    subscriber receives. Declared before the load; read (and acknowledged) when checked,
    so a broker restart in between loses nothing that was confirmed to the publisher."""

    def __init__(self, amqp_url: str):
        self.url = amqp_url
        self.queue = f"faults.observer.{uuid.uuid4().hex[:8]}"
        self.seen: set[tuple[str, str, int]] = set()   # (type, aggregate id, version)
        self.ids: set[str] = set()
        self._declare()

    def _queue(self):
        from kombu import Queue, binding

        from crmkit.bus.topology import events_exchange

        return Queue(self.queue, bindings=[binding(events_exchange, routing_key="#")],
                     durable=True, auto_delete=False)

    def _declare(self) -> None:
        from crmkit.bus.connection import connect
        from crmkit.bus.topology import declare_exchanges

        with connect(self.url) as connection:
            connection.ensure_connection(max_retries=5)
            declare_exchanges(connection)
            self._queue()(connection.default_channel).declare()

    def collect(self) -> bool:
        """Take in what has arrived; False if the broker could not be read now."""
        from kombu import Consumer

        from crmkit.bus.connection import connect

        def take(body, message):
            envelope = body if isinstance(body, dict) else json.loads(body)
            self.ids.add(envelope["id"])
            self.seen.add((envelope["type"], envelope["aggregate_id"],
                           (envelope.get("data") or {}).get("version")))
            message.ack()

        try:
            with connect(self.url) as connection:
                connection.ensure_connection(max_retries=1)
                queue = self._queue()
                with Consumer(connection.channel(), queues=[queue], callbacks=[take],
                              accept=["json", "application/json"], prefetch_count=500):
                    while True:
                        try:
                            connection.drain_events(timeout=0.3)
                        except socket.timeout:
                            return True
        except Exception:
            return False

    def delete(self) -> None:
        from crmkit.bus.connection import connect

        try:
            with connect(self.url) as connection:
                connection.default_channel.queue_delete(self.queue)
        except Exception:
            pass


# --- the checks ----------------------------------------------------------------------

def check_every_write_readable(load: Load) -> None:
    """Each entity a 2xx created reads back with the values its 2xx writes left (or a
    value of a later write whose answer never came), at least at their version."""
    problems = []
    for record in load.records:
        reply = record.owner.get(record.path)
        if reply.status_code != 200:
            problems.append(f"{record.kind} {record.id}: GET {reply.status_code}")
            continue
        body = reply.json
        if body["version"] < record.version:
            problems.append(f"{record.kind} {record.id}: version {body['version']} < "
                            f"{record.version} answered")
        for key, value in record.fields.items():
            if body.get(key) != value and body.get(key) not in record.maybe.get(key, ()):
                problems.append(f"{record.kind} {record.id}: {key}={body.get(key)!r}, "
                                f"written {value!r}")
    assert not problems, "writes answered 2xx are not readable as written:\n" + \
        "\n".join(problems[:30])


def check_every_event_arrived(load: Load, observer: Observer) -> None:
    """Every 2xx write's event reached the outside subscriber (at least once)."""
    expected = {(event_type, record.id, version)
                for record in load.records for event_type, version in record.events}

    def missing():
        observer.collect()
        return expected - observer.seen

    try:
        eventually(lambda: not missing(), interval=0.5,
                   message="every event of a 2xx write at the outside subscriber")
    except AssertionError:
        raise AssertionError(f"{len(missing())} of {len(expected)} events never arrived, "
                             f"e.g. {sorted(missing())[:10]}") from None


def truth(admin) -> dict:
    """The figures counted from the owning services, as the admin sees them."""

    def total(path):
        reply = admin.get(path)
        assert reply.status_code == 200, (path, reply)
        return reply.json["total"]

    open_tasks = "&".join(f"status={s}" for s in OPEN_TASK_STATUSES)
    return {
        "customers": total("/api/v1/customers?scope=all&per_page=1"),
        "opportunities_open": total("/api/v1/opportunities?scope=all&status=open&per_page=1"),
        "tasks_open": total(f"/api/v1/tasks?scope=all&{open_tasks}&per_page=1"),
        "funnel": {stage: total(f"/api/v1/opportunities?scope=all&status=open&stage={stage}"
                                "&per_page=1") for stage in STAGES},
    }


def reported(admin) -> dict:
    summary = admin.get("/api/v1/reports/summary").json
    funnel = admin.get("/api/v1/reports/funnel").json
    return {"customers": summary["customers"],
            "opportunities_open": summary["opportunities_open"],
            "tasks_open": summary["tasks_open"],
            "funnel": {s["stage"]: s["count"] for s in funnel["stages"]}}


def check_reports_converge(admin, load: Load) -> None:
    """Reports equal the truth counted from the owning services (which hold at least
    what the load created), both read again at each look."""
    facts = truth(admin)
    created = {kind: sum(r.kind == kind for r in load.records)
               for kind in ("customer", "opportunity", "task")}
    assert facts["customers"] >= created["customer"], (facts, created)
    assert facts["opportunities_open"] >= created["opportunity"], (facts, created)
    assert facts["tasks_open"] >= created["task"], (facts, created)
    last = {}

    def agree():
        last["reported"], last["truth"] = reported(admin), truth(admin)
        return last["reported"] == last["truth"]

    try:
        eventually(agree, interval=0.5, message="reports equal the services' counts")
    except AssertionError:
        raise AssertionError(f"reports {last.get('reported')} never equalled the truth "
                             f"{last.get('truth')}") from None


def check_after_fault(load: Load, observer: Observer, admin) -> None:
    assert not load.unexpected, "refused writes:\n" + "\n".join(load.unexpected[:20])
    check_every_write_readable(load)
    check_every_event_arrived(load, observer)
    check_reports_converge(admin, load)


def ready_reps(org: Org, count: int) -> list:
    return [org.user("rep", team="east/shanghai/faults", region="east") for _ in range(count)]


# --- a RabbitMQ node of our own ------------------------------------------------------

def _rabbit_bin(name: str) -> str | None:
    """The broker's own scripts: Debian's wrappers under /usr/sbin switch to the rabbitmq
    user and its files; the scripts they call run as anyone with our own folders."""
    for folder in ("/usr/lib/rabbitmq/bin",):
        candidate = Path(folder) / name
        if candidate.exists():
            return str(candidate)
    return shutil.which(name)


class RabbitNode:
    """A separate RabbitMQ node (its own name, ports, data and cookie) that a test may
    stop and start without disturbing the shared broker other tests use."""

    def __init__(self):
        self.folder = tempfile.mkdtemp(prefix="crm-faults-rabbit-")
        self.name = f"crm-faults-{uuid.uuid4().hex[:8]}@localhost"
        self.port = free_port()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        self.env = {**os.environ, "HOME": self.folder, "RABBITMQ_NODENAME": self.name,
                    "RABBITMQ_NODE_PORT": str(self.port),
                    "RABBITMQ_DIST_PORT": str(free_port()),
                    "RABBITMQ_MNESIA_BASE": f"{self.folder}/mnesia",
                    "RABBITMQ_LOG_BASE": f"{self.folder}/log",
                    "RABBITMQ_ENABLED_PLUGINS_FILE": f"{self.folder}/enabled_plugins",
                    "RABBITMQ_CONFIG_FILE": f"{self.folder}/rabbitmq",
                    "RABBITMQ_ADVANCED_CONFIG_FILE": f"{self.folder}/advanced.config",
                    "RABBITMQ_CONF_ENV_FILE": f"{self.folder}/rabbitmq-env.conf",
                    "RABBITMQ_PID_FILE": f"{self.folder}/pid"}
        self.process: subprocess.Popen | None = None

    @staticmethod
    def available() -> str | None:
        """None if a node can be started here, else why not."""
        if not (_rabbit_bin("rabbitmq-server") and _rabbit_bin("rabbitmqctl")):
            return "rabbitmq-server is not installed"
        return None

    def ctl(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([_rabbit_bin("rabbitmqctl"), "-q", "-n", self.name, *args],
                              env=self.env, capture_output=True, text=True, timeout=timeout)

    def start(self) -> "RabbitNode":
        self._log = open(f"{self.folder}/server.out", "ab")
        self.process = subprocess.Popen([_rabbit_bin("rabbitmq-server")], env=self.env,
                                        stdout=self._log, stderr=subprocess.STDOUT,
                                        cwd=self.folder, start_new_session=True)
        self.wait_answering()
        return self

    def wait_answering(self) -> None:
        def answers():
            if self.process.poll() is not None:
                raise AssertionError("the test's RabbitMQ node exited:\n" + Path(
                    f"{self.folder}/server.out").read_text(errors="replace")[-3000:])
            return _amqp_answers(self.url)

        eventually(answers, interval=0.5, message="the test's RabbitMQ node answers")

    def stop_app(self) -> None:
        result = self.ctl("stop_app")
        assert result.returncode == 0, result.stderr

    def start_app(self) -> None:
        result = self.ctl("start_app")
        assert result.returncode == 0, result.stderr
        self.wait_answering()

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.ctl("stop", timeout=60)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _amqp_answers(url: str) -> bool:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1)
        return True
    except Exception:
        return False
