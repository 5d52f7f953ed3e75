"""Shared by the benchmarks: start `crm up` on the real broker and the real database
(its own FerretDB on a fresh temporary data folder), load, CPU accounting and percentiles.
The in-process benchmarks get their database server from bench/_database.py.

Everything a benchmark starts here is stopped when it ends: `crm up` runs in a process
group (session) of its own; after SIGTERM and the supervisor's orderly stop, whatever of
that group is still alive is killed, and the temporary data folder is removed.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
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


def _stop_on_sigterm() -> None:
    """SIGTERM to a benchmark runs its `finally` blocks (and so stops what it started)."""
    def handler(signum, _frame):
        raise SystemExit(128 + signum)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


_stop_on_sigterm()


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _ports(port: int, port_base: int, services: int) -> tuple[int, int]:
    """The preferred gateway port and service port block, else free ones nearby."""
    for shift in range(0, 2000, 50):
        wanted = [port + shift] + [port_base + shift + n for n in range(1, services + 1)]
        if all(port_free(p) for p in wanted):
            return port + shift, port_base + shift
    raise SystemExit("no free ports for crm up")


def kill_group(process: subprocess.Popen, *, grace: float) -> None:
    """SIGTERM the leader of a group this benchmark started, wait, then SIGKILL whatever
    of its process group is left (the group id is the leader's pid)."""
    group = process.pid
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            print(f"bench: {process.args[:4]} did not stop in {grace:.0f} s; killing it",
                  file=sys.stderr, flush=True)
    deadline, killed = time.monotonic() + 5, 0
    while killed < 3:
        try:
            os.killpg(group, 0)          # anyone of the group still alive?
        except ProcessLookupError:
            break
        if time.monotonic() > deadline:
            print(f"bench: killing what is left of process group {group}", file=sys.stderr,
                  flush=True)
            os.killpg(group, signal.SIGKILL)
            killed += 1
            deadline = time.monotonic() + 2
        time.sleep(0.1)
    if process.poll() is None:
        process.kill()
    process.wait()


class System:
    """`crm up` with AMQP_URL, its own FerretDB on a fresh temporary CRM_DATA_DIR (or on
    `data_dir`, a loaded data set such as bench/dataset.py's, kept at stop), fixed
    service ports (moved if taken), a known token secret and any `extra_env` (say
    CRM_API_WORKERS)."""

    def __init__(self, port: int = 18080, port_base: int = 18100, *,
                 data_dir: str | None = None, extra_env: dict | None = None):
        from crmkit.config import SERVICES

        self.port, self.port_base = _ports(port, port_base, len(SERVICES))
        self.secret = secrets.token_urlsafe(48)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.keep_data = data_dir is not None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="crm-bench-data-")
        env = {k: v for k, v in os.environ.items() if k != "MONGO_URL"}  # its own FerretDB
        env.update(extra_env or {})
        env.update({"AMQP_URL": AMQP_URL, "CRM_JWT_SECRET": self.secret,
                    "CRM_DATA_DIR": self.data_dir, "CRM_ADMIN_PASSWORD": ADMIN_PASSWORD,
                    "CRM_SERVICE_PORT_BASE": str(self.port_base), "CRM_LOG_LEVEL": "WARNING"})
        self.env = env
        self.log_path = f"/tmp/crm-bench-{os.getpid()}-{self.port}.log"
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "crm.cli", "up", "--port", str(self.port)], env=env,
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL, start_new_session=True,
            cwd=ROOT)  # not bench/: its gateway.py would shadow the package
        began = time.monotonic()
        try:
            self._wait_healthy(180)
            print(f"bench: crm up (FerretDB on {self.data_dir}) healthy in "
                  f"{time.monotonic() - began:.1f} s", file=sys.stderr, flush=True)
            self.org = Org(http_transport(self.base_url), "admin", ADMIN_PASSWORD)
        except BaseException:
            self.stop()
            raise

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"crm up exited with {self.process.returncode}; see "
                                 f"{self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise SystemExit(f"crm up did not become healthy in {timeout:.0f} s; see "
                         f"{self.log_path}")

    def service_url(self, name: str) -> str:
        from crmkit.config import SERVICES

        return f"http://127.0.0.1:{self.port_base + SERVICES.index(name) + 1}"

    def api_workers(self) -> int:
        """The gunicorn worker count `crm up` gives each service API."""
        from crm.supervisor import api_workers

        return api_workers(self.env)

    def stop(self) -> None:
        if self.process is None:
            return
        began = time.monotonic()
        kill_group(self.process, grace=45)   # supervisor: children, then FerretDB
        print(f"bench: crm up stopped in {time.monotonic() - began:.1f} s", file=sys.stderr,
              flush=True)
        self.process = None
        self.log.close()
        if not self.keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def _role(command: str) -> str:
    """What a process of `crm up` (or of the anchor) is, from its command line."""
    words = command.split()
    if words and "ferretdb" in os.path.basename(words[0]):
        return "ferretdb"
    for verb in ("serve", "worker"):
        if verb in words and words.index(verb) + 1 < len(words):
            name = words[words.index(verb) + 1]
            return f"{name} api" if verb == "serve" else f"{name} worker"
    if "_anchor.py" in command:
        return "anchor api"
    return "other"


def group_processes(groups) -> list[tuple[int, str, float]]:
    """(pid, command line, CPU seconds so far) of every live process whose process group
    is one of `groups` (Linux /proc)."""
    hz = os.sysconf("SC_CLK_TCK")
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as handle:
                stat = handle.read()
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[2]) in groups:
            found.append((int(pid), command, (int(fields[11]) + int(fields[12])) / hz))
    return found


class CpuMeter:
    """CPU time by role of the processes in some process groups (Linux /proc), and the
    whole machine's busy time: where a load's cycles went, and how much others used."""

    def __init__(self, groups: list[int]):
        self.groups = set(groups)
        self.hz = os.sysconf("SC_CLK_TCK")

    def _sample(self) -> tuple[dict, float, float]:
        by_role: dict[str, float] = {}
        for _, command, seconds in group_processes(self.groups):
            role = _role(command)
            by_role[role] = by_role.get(role, 0) + seconds
        with open("/proc/stat") as handle:
            cpu = [int(n) for n in handle.readline().split()[1:]]
        idle = cpu[3] + cpu[4]
        return by_role, (sum(cpu[:8]) - idle) / self.hz, sum(cpu[:8]) / self.hz

    def __enter__(self) -> "CpuMeter":
        self._before = self._sample()
        return self

    def __exit__(self, *_) -> None:
        after = self._sample()
        roles = set(after[0]) | set(self._before[0])
        self.seconds = {r: after[0].get(r, 0) - self._before[0].get(r, 0) for r in roles}
        self.machine_busy = after[1] - self._before[1]
        self.machine_total = after[2] - self._before[2]


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def run_load(call, *, threads: int, seconds: float) -> dict:
    """Call `call()` from `threads` threads for `seconds`; latency in ms. A call that
    raises (a client timeout, say) counts as an error, with its latency."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads
    stop_at = time.monotonic() + seconds

    def loop(slot: int):
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            try:
                ok = call()
            except Exception:  # noqa: BLE001 - a failed request is a figure, not a crash
                ok = False
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


RESULT_MARKER = "BENCH "


def result(name: str, value: float, unit: str, *, anchor: str | None = None,
           anchor_value: float | None = None, target: str = "", passed: bool | None = None,
           **details) -> None:
    """One figure as one line that bench/run.py collects into its table: the measured
    value, its anchor measured in the same run and their ratio, the target it answers."""
    import json

    ratio = (value / anchor_value) if anchor_value else None
    print(RESULT_MARKER + json.dumps({
        "name": name, "value": value, "unit": unit, "anchor": anchor,
        "anchor_value": anchor_value, "ratio": ratio, "target": target, "passed": passed,
        **details}, ensure_ascii=False, default=str), flush=True)


def show(label: str, figures: dict) -> None:
    print(f"{label:<34} " + "  ".join(
        f"{k}={v:,.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()),
        flush=True)
