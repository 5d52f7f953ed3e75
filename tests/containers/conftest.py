"""The testcontainers suite: real MongoDB (a single-node replica set) and real RabbitMQ
(loaded with deploy/rabbitmq/, as docker-compose loads it) in containers, and the CRM's
own processes (`crm serve ...`, `crm worker ...`) on this machine pointed at them.

Where no Docker engine answers, every test that needs one is skipped with the reason;
where one does, the same tests run unchanged.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RABBITMQ_CONF = REPO / "deploy" / "rabbitmq" / "rabbitmq.conf"
RABBITMQ_DEFINITIONS = REPO / "deploy" / "rabbitmq" / "definitions.json"

MONGO_IMAGE = os.environ.get("CRM_TEST_MONGO_IMAGE", "mongo:7.0")
RABBITMQ_IMAGE = os.environ.get("CRM_TEST_RABBITMQ_IMAGE", "rabbitmq:3.13-management")
# The application user that deploy/rabbitmq/definitions.json creates (the broker makes
# no guest user when it imports definitions at boot).
RABBITMQ_USER, RABBITMQ_PASSWORD = "crm", "crm"

SERVICES = ("customer", "opportunity", "tasks", "reporting", "contracts")
STARTUP_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 40.0  # gunicorn drains for its graceful timeout (30 s) at most


def docker_engine_problem() -> str | None:
    """Why no Docker engine can be used here, or None when one answers."""
    try:
        import docker
    except ImportError as error:
        return f"Docker engine not available: the docker SDK is missing ({error})"
    try:
        client = docker.from_env(timeout=5)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as error:  # no socket, refused, bad DOCKER_HOST, ...: all mean "no"
        return f"Docker engine not available: {error}"
    return None


@pytest.fixture(scope="session")
def docker_engine() -> None:
    problem = docker_engine_problem()
    if problem:
        pytest.skip(problem)


# --- containers ------------------------------------------------------------------------

def _mongo_container_class():
    try:
        from testcontainers.community.mongodb import MongoDbContainer
    except ImportError:  # testcontainers before the community split
        from testcontainers.mongodb import MongoDbContainer

    class ReplicaSetMongoContainer(MongoDbContainer):
        """MongoDB as a one-member replica set "rs0", as docker-compose runs it.

        Without authentication: a replica set with users needs a shared key file, which
        adds nothing to what this suite checks. The driver connects directly to the one
        member (its configured host name is only meaningful inside the container)."""

        def __init__(self, image: str):
            super().__init__(image)
            self.with_command("--replSet rs0 --bind_ip_all")

        def _configure(self) -> None:
            pass  # no MONGO_INITDB_ROOT_* variables: no users, no --auth

        def get_connection_url(self) -> str:
            host = self.get_container_host_ip()
            return f"mongodb://{host}:{self.get_exposed_port(27017)}/?directConnection=true"

        def _connect(self) -> None:
            import pymongo

            deadline = time.monotonic() + 60
            client = pymongo.MongoClient(self.get_connection_url(),
                                         serverSelectionTimeoutMS=2000)
            try:
                while True:
                    try:
                        client.admin.command("replSetInitiate", {
                            "_id": "rs0", "members": [{"_id": 0, "host": "localhost:27017"}]})
                    except pymongo.errors.OperationFailure as error:
                        if error.code != 23:  # 23 AlreadyInitialized: a retry after success
                            raise
                    except pymongo.errors.PyMongoError:
                        pass  # not accepting connections yet
                    try:
                        if client.admin.command("hello").get("isWritablePrimary"):
                            return
                    except pymongo.errors.PyMongoError:
                        pass
                    if time.monotonic() > deadline:
                        raise TimeoutError("MongoDB did not become replica-set primary in 60 s")
                    time.sleep(0.5)
            finally:
                client.close()

    return ReplicaSetMongoContainer


def _with_file(container, source: Path, destination: str):
    """Put a file into the container before it starts (copied, so a remote engine works
    too; older testcontainers can only bind-mount)."""
    if hasattr(container, "with_copy_into_container"):
        return container.with_copy_into_container(source.read_bytes(), destination)
    return container.with_volume_mapping(str(source), destination, "ro")


def _rabbitmq_container():
    try:
        from testcontainers.community.rabbitmq import RabbitMqContainer
    except ImportError:
        try:
            from testcontainers.rabbitmq import RabbitMqContainer
        except ImportError:  # its readiness probe needs pika (testcontainers[rabbitmq])
            RabbitMqContainer = None
    if RabbitMqContainer is not None:
        container = RabbitMqContainer(RABBITMQ_IMAGE, username=RABBITMQ_USER,
                                      password=RABBITMQ_PASSWORD)
    else:
        from testcontainers.core.container import DockerContainer

        container = DockerContainer(RABBITMQ_IMAGE).with_exposed_ports(5672)
    _with_file(container, RABBITMQ_CONF, "/etc/rabbitmq/rabbitmq.conf")
    _with_file(container, RABBITMQ_DEFINITIONS, "/etc/rabbitmq/definitions.json")
    return container


def _wait_for_broker(url: str, timeout: float = 90.0) -> None:
    from kombu import Connection

    deadline = time.monotonic() + timeout
    while True:
        try:
            with Connection(url, connect_timeout=3) as connection:
                connection.ensure_connection(max_retries=1)
                return
        except Exception as error:
            if time.monotonic() > deadline:
                raise TimeoutError(f"RabbitMQ at {url} did not answer: {error}") from error
            time.sleep(1)


@pytest.fixture(scope="module")
def mongo_container_url(docker_engine) -> str:
    container = _mongo_container_class()(MONGO_IMAGE)
    container.start()
    try:
        yield container.get_connection_url()
    finally:
        container.stop()


@pytest.fixture(scope="module")
def broker_container_url(docker_engine) -> str:
    container = _rabbitmq_container()
    container.start()
    try:
        host = container.get_container_host_ip()
        url = (f"amqp://{RABBITMQ_USER}:{RABBITMQ_PASSWORD}@{host}:"
               f"{container.get_exposed_port(5672)}//")
        _wait_for_broker(url)
        yield url
    finally:
        container.stop()


# --- the CRM's processes ---------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def crm_command() -> str:
    beside_python = Path(sys.executable).with_name("crm")
    found = str(beside_python) if beside_python.exists() else shutil.which("crm")
    if not found:
        pytest.fail("the `crm` command is not installed (pip install -e .[test])")
    return found


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Processes:
    """The CRM's processes, each in its own process group with its output in a file."""

    log_dir: Path
    env: dict
    running: list[Process] = field(default_factory=list)

    def start(self, name: str, *args: str) -> Process:
        log = self.log_dir / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen([crm_command(), *args], env=self.env, cwd=REPO,
                                     stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        process = Process(name, popen, log)
        self.running.append(process)
        return process

    def report(self) -> str:
        return "\n\n".join(f"--- {p.name} (exit {p.popen.poll()}) ---\n{p.tail()}"
                           for p in self.running)

    def stop_all(self, timeout: float = STOP_TIMEOUT_S) -> dict[str, int | None]:
        """SIGTERM every process; SIGKILL what is still there after `timeout`.
        Returns each one's exit code (None: it had to be killed)."""
        for process in self.running:
            if process.popen.poll() is None:
                process.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        codes: dict[str, int | None] = {}
        for process in self.running:
            try:
                codes[process.name] = process.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                codes[process.name] = None
            # Whatever is left of its group (gunicorn workers, helpers) goes too.
            try:
                os.killpg(process.popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            if codes[process.name] is None:
                process.popen.wait(5)
        return codes


def wait_healthy(url: str, processes: Processes, timeout: float = STARTUP_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        exited = [p.name for p in processes.running if p.popen.poll() is not None]
        if exited:
            pytest.fail(f"{', '.join(exited)} exited during start-up\n{processes.report()}")
        try:
            with urllib.request.urlopen(url, timeout=3) as reply:
                if reply.status == 200:
                    return
                last = f"HTTP {reply.status}"
        except urllib.error.HTTPError as error:
            last = f"HTTP {error.code}"
        except OSError as error:
            last = repr(error)
        time.sleep(0.5)
    pytest.fail(f"{url} not healthy within {timeout:.0f} s (last: {last})\n{processes.report()}")


@dataclass
class RunningSystem:
    base_url: str
    admin_username: str
    admin_password: str
    processes: Processes


@pytest.fixture(scope="module")
def crm_system(mongo_container_url, broker_container_url, tmp_path_factory) -> RunningSystem:
    """The gateway, each service's API (2 gunicorn workers) and worker as separate
    processes on the containers, the way docker-compose runs them; reporting has two
    worker replicas competing on its queue."""
    ports = {name: free_port() for name in ("gateway", *SERVICES)}
    admin_password = "Admin#" + secrets.token_urlsafe(12)
    env = {
        **os.environ,
        "AMQP_URL": broker_container_url,
        "MONGO_URL": mongo_container_url,
        "CRM_JWT_SECRET": secrets.token_urlsafe(48),
        "CRM_ADMIN_USERNAME": "admin",
        "CRM_ADMIN_PASSWORD": admin_password,
        "CRM_QUEUE_TYPE": "quorum",  # as deploy/rabbitmq/definitions.json declares them
        "CRM_TIMEZONE": "Asia/Shanghai",
        "CRM_PORT": str(ports["gateway"]),
        "PYTHONUNBUFFERED": "1",
        **{f"{name.upper()}_SERVICE_URL": f"http://127.0.0.1:{ports[name]}"
           for name in SERVICES},
    }
    processes = Processes(tmp_path_factory.mktemp("crm-processes"), env)
    try:
        for name in SERVICES:
            processes.start(f"{name}-api", "serve", name, "--bind",
                            f"127.0.0.1:{ports[name]}", "--workers", "2", "--threads", "4")
            processes.start(f"{name}-worker", "worker", name)
        processes.start("reporting-worker-2", "worker", "reporting")
        processes.start("gateway", "serve", "gateway", "--bind",
                        f"127.0.0.1:{ports['gateway']}", "--workers", "2", "--threads", "4")
        processes.start("gateway-worker", "worker", "gateway")
        for name in (*SERVICES, "gateway"):
            wait_healthy(f"http://127.0.0.1:{ports[name]}/healthz", processes)
        yield RunningSystem(f"http://127.0.0.1:{ports['gateway']}", "admin", admin_password,
                            processes)
    finally:
        processes.stop_all()
