"""`crm up` with a real broker: the gateway and each service as separate processes.

With mongomock every service keeps its data inside its own process, so each service
runs its API and its workers together (`crm serve --with-workers`); with a real MongoDB
API and workers are separate processes, as in production. The supervisor stops them all
on Ctrl-C / SIGTERM, and children die with it even if it is killed (PDEATHSIG).
"""
from __future__ import annotations

import ctypes
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from crmkit.config import SERVICES, Settings

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux: the supervisor's signal handler still stops children
        pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Supervisor:
    def __init__(self, port: int, env: dict):
        self.port = port
        self.env = env
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.stopping = False

    def spawn(self, label: str, *args: str) -> None:
        command = [sys.executable, "-m", "crm.cli", *args]
        process = subprocess.Popen(command, env=self.env, preexec_fn=_die_with_parent)
        self.children.append((label, process))

    def stop(self, *_):
        if self.stopping:
            return
        self.stopping = True
        for _, process in self.children:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _, process in self.children:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def wait_healthy(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.port}/healthz"
        while time.monotonic() < deadline:
            if any(p.poll() is not None for _, p in self.children):
                return False
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.3)
        return False

    def watch(self) -> int:
        """Block until a signal or a child's death; then stop everything."""
        while not self.stopping:
            for label, process in self.children:
                if process.poll() is not None:
                    print(f"crm: {label} exited with {process.returncode}; stopping",
                          file=sys.stderr, flush=True)
                    self.stop()
                    return 1
            time.sleep(0.5)
        return 0


def run_distributed(port: int, *, demo: bool) -> int:
    from crm.system import declare_topology

    env = dict(os.environ)
    env.setdefault("CRM_JWT_SECRET", secrets.token_urlsafe(48))
    env.setdefault("MONGO_URL", "mongomock://")
    settings = Settings.from_env(env)
    declare_topology(settings)
    shared_process = settings.mongo_url.startswith("mongomock://")
    supervisor = Supervisor(port, env)
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGINT, supervisor.stop)
    port_base = int(env.get("CRM_SERVICE_PORT_BASE", 0))  # fixed ports, else free ones
    for number, name in enumerate(SERVICES, start=1):
        service_port = port_base + number if port_base else free_port()
        env[f"{name.upper()}_SERVICE_URL"] = f"http://127.0.0.1:{service_port}"
        serve_args = ["serve", name, "--bind", f"127.0.0.1:{service_port}", "--quiet"]
        if shared_process:
            supervisor.spawn(f"{name} (api+worker)", *serve_args, "--with-workers")
        else:
            supervisor.spawn(f"{name} api", *serve_args, "--workers", "2")
            supervisor.spawn(f"{name} worker", "worker", name)
    gateway_args = ["serve", "gateway", "--bind", f"127.0.0.1:{port}"]
    if shared_process:
        supervisor.spawn("gateway", *gateway_args, "--with-workers")
    else:
        supervisor.spawn("gateway", *gateway_args, "--workers", "2")
        supervisor.spawn("gateway worker", "worker", "gateway")
    if not supervisor.wait_healthy(90):
        print("crm: the system did not become healthy; stopping", file=sys.stderr, flush=True)
        supervisor.stop()
        return 1
    database = "in-memory databases (mongomock), one per service process; data is not kept" \
        if shared_process else settings.mongo_url.split("@")[-1]
    print(f"CRM is ready at http://127.0.0.1:{port}  (RabbitMQ bus, {database}; "
          f"{len(supervisor.children)} processes)", flush=True)
    if demo:
        from crm.demo import load_demo

        load_demo(f"http://127.0.0.1:{port}", settings)
    return supervisor.watch()
