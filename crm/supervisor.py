"""`crm up` with a real broker: the gateway and each service as separate processes.

Per service an API process (gunicorn, `CRM_API_WORKERS` workers, default one per core)
and a worker process (consumers, outbox relay, schedulers), all on the same database, as
compose and Kubernetes run them. A child that dies is started again after a back-off
(1 s, doubling to 30 s; reset once it has stayed up a minute); the database loses
nothing, since every state change and its events are one write. SIGTERM / SIGINT stop
everything; children die with the supervisor even if it is killed (PDEATHSIG).
"""
from __future__ import annotations

import ctypes
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass

from crmkit.config import SERVICES, Settings

PR_SET_PDEATHSIG = 1
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
STABLE_AFTER_S = 60.0     # a child up this long starts its back-off afresh


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux: the supervisor's signal handler still stops children
        pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def say(text: str) -> None:
    print(f"crm: {text}", file=sys.stderr, flush=True)


@dataclass
class Child:
    label: str
    args: tuple[str, ...]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    failures: int = 0          # deaths in a row without a stable run
    restart_at: float | None = None

    def backoff(self) -> float:
        return min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** max(0, self.failures - 1))


class Supervisor:
    def __init__(self, port: int, env: dict, database=None):
        self.port = port
        self.env = env
        self.database = database      # the local FerretDB this supervisor runs, if any
        self.children: list[Child] = []
        self.stop_requested = threading.Event()

    def spawn(self, label: str, *args: str) -> None:
        child = Child(label, args)
        self.children.append(child)
        self._start(child)

    def _start(self, child: Child) -> None:
        command = [sys.executable, "-m", "crm.cli", *child.args]
        child.process = subprocess.Popen(command, env=self.env, preexec_fn=_die_with_parent)
        child.started_at = time.monotonic()
        child.restart_at = None

    def request_stop(self, *_) -> None:
        """Signal handler: only a flag, so a stop never races the watch loop."""
        self.stop_requested.set()

    def tend(self) -> None:
        """Start again whatever died, each after its back-off."""
        now = time.monotonic()
        if self.database is not None and self.database.process.poll() is not None:
            say(f"the database server exited with {self.database.process.returncode}; "
                "starting it again")
            self.database.stop()
            self.database.start()
        for child in self.children:
            if child.restart_at is None and child.process.poll() is not None:
                if now - child.started_at >= STABLE_AFTER_S:
                    child.failures = 0
                child.failures += 1
                child.restart_at = now + child.backoff()
                say(f"{child.label} exited with {child.process.returncode}; starting it "
                    f"again in {child.backoff():.0f} s")
            elif child.restart_at is not None and now >= child.restart_at:
                self._start(child)

    def stop(self) -> None:
        for child in self.children:
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for child in self.children:
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()

    def wait_healthy(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.port}/healthz"
        while time.monotonic() < deadline and not self.stop_requested.is_set():
            self.tend()
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return True
            except OSError:
                pass
            self.stop_requested.wait(0.3)
        return False

    def watch(self) -> int:
        """Tend the children until SIGTERM / SIGINT, then stop them all."""
        while not self.stop_requested.wait(0.5):
            self.tend()
        self.stop()
        return 0


def api_workers(env: dict) -> int:
    return max(1, int(env.get("CRM_API_WORKERS") or os.cpu_count() or 1))


def run_distributed(port: int, *, demo: bool, database) -> int:
    from crm.system import declare_topology

    env = dict(os.environ)
    env.setdefault("CRM_JWT_SECRET", secrets.token_urlsafe(48))
    env["MONGO_URL"] = database.url
    settings = Settings.from_env(env)
    declare_topology(settings)
    supervisor = Supervisor(port, env, database.server)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    signal.signal(signal.SIGINT, supervisor.request_stop)
    workers = str(api_workers(env))
    port_base = int(env.get("CRM_SERVICE_PORT_BASE", 0))  # fixed ports, else free ones
    for number, name in enumerate(SERVICES, start=1):
        service_port = port_base + number if port_base else free_port()
        env[f"{name.upper()}_SERVICE_URL"] = f"http://127.0.0.1:{service_port}"
        supervisor.spawn(f"{name} api", "serve", name, "--bind", f"127.0.0.1:{service_port}",
                         "--quiet", "--workers", workers)
        supervisor.spawn(f"{name} worker", "worker", name)
    supervisor.spawn("gateway", "serve", "gateway", "--bind", f"127.0.0.1:{port}",
                     "--workers", workers)
    supervisor.spawn("gateway worker", "worker", "gateway")
    if not supervisor.wait_healthy(120):
        say("the system did not become healthy; stopping")
        supervisor.stop()
        return 0 if supervisor.stop_requested.is_set() else 1
    print(f"CRM is ready at http://127.0.0.1:{port}  (RabbitMQ bus; database "
          f"{settings.mongo_url.split('@')[-1]}; {len(supervisor.children)} processes)",
          flush=True)
    if demo:
        from crm.demo import load_demo

        load_demo(f"http://127.0.0.1:{port}", settings)
    return supervisor.watch()
