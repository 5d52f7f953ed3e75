"""Shared by the benchmarks: start `crm up` on the real broker, load, and percentiles."""
from __future__ import annotations

import os
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crm.client import Org, http_transport  # noqa: E402

BROKER = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
ADMIN_PASSWORD = "Bench#Admin-2026"


def _private_vhost() -> str:
    """A virtual host of this run's own, so tests or a running `crm up` don't interfere."""
    vhost = f"crm-bench-{os.getpid()}"
    try:
        made = subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], capture_output=True,
                              timeout=60).returncode == 0 and subprocess.run(
            ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
            capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        made = False
    if not made:
        return BROKER
    import atexit

    atexit.register(subprocess.run, ["rabbitmqctl", "-q", "delete_vhost", vhost],
                    capture_output=True, timeout=60)
    return BROKER.rstrip("/") + "/" + vhost


AMQP_URL = _private_vhost()


class System:
    """`crm up` with AMQP_URL, fixed service ports and a known token secret."""

    def __init__(self, port: int = 18080, port_base: int = 18100):
        self.port, self.port_base = port, port_base
        self.secret = secrets.token_urlsafe(48)
        self.base_url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "AMQP_URL": AMQP_URL, "CRM_JWT_SECRET": self.secret,
               "CRM_ADMIN_PASSWORD": ADMIN_PASSWORD, "CRM_SERVICE_PORT_BASE": str(port_base),
               "CRM_LOG_LEVEL": "WARNING"}
        self.log = open(f"/tmp/crm-bench-{port}.log", "wb")
        self.process = subprocess.Popen([sys.executable, "-m", "crm.cli", "up", "--port",
                                         str(port)], env=env, stdout=self.log, stderr=self.log,
                                        cwd=ROOT)  # not bench/: its gateway.py would shadow the package
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        else:
            self.stop()
            raise SystemExit("crm up did not become healthy")
        self.org = Org(http_transport(self.base_url), "admin", ADMIN_PASSWORD)

    def service_url(self, name: str) -> str:
        from crmkit.config import SERVICES

        return f"http://127.0.0.1:{self.port_base + SERVICES.index(name) + 1}"

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def run_load(call, *, threads: int, seconds: float) -> dict:
    """Call `call()` from `threads` threads for `seconds`; latency in ms."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads
    stop_at = time.monotonic() + seconds

    def loop(slot: int):
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            ok = call()
            latencies[slot].append((time.perf_counter() - started) * 1000)
            errors[slot] += 0 if ok else 1

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    began = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - began
    flat = [x for slot in latencies for x in slot]
    return {"requests": len(flat), "errors": sum(errors), "rps": len(flat) / elapsed,
            "p50_ms": percentile(flat, 0.50), "p99_ms": percentile(flat, 0.99),
            "mean_ms": statistics.fmean(flat) if flat else float("nan")}


def show(label: str, figures: dict) -> None:
    print(f"{label:<34} " + "  ".join(
        f"{k}={v:,.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()),
        flush=True)
