"""Starting and stopping `crm up` as a user does, and finding its processes."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from crm_testing import ADMIN_PASSWORD, GENEROUS_WAIT_S, eventually, release_after_group

CRM = [sys.executable, "-m", "crm.cli"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def processes_marked(marker: str) -> list[int]:
    """Pids whose environment carries our marker: the started system and its children."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if f"CRM_TEST_INSTANCE={marker}".encode() in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


class RunningCrm:
    def __init__(self, *, amqp_url: str | None, extra_env: dict | None = None,
                 args: tuple = (), data_dir: str | None = None, start: bool = True):
        self.port = free_port()
        # its own data folder (the local FerretDB's), unless a test restarts on one
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="crm-e2e-data-")
        self.amqp_url = amqp_url
        self.marker = uuid.uuid4().hex
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items()
               if k not in ("AMQP_URL", "MONGO_URL", "CRM_JWT_SECRET")}
        env.update({"CRM_ADMIN_PASSWORD": ADMIN_PASSWORD, "CRM_TEST_INSTANCE": self.marker,
                    "CRM_LOG_LEVEL": "WARNING", "CRM_DATA_DIR": self.data_dir,
                    **(extra_env or {})})
        self.env = env
        if amqp_url:
            env["AMQP_URL"] = amqp_url
        self.args = args
        self.log_path = Path(f"/tmp/crm-e2e-{self.marker}.log")
        self.process: subprocess.Popen | None = None
        if start:
            self.start()

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen([*CRM, "up", "--port", str(self.port), *self.args],
                                        env=self.env, stdout=self._log,
                                        stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_healthy(self, timeout: float = GENEROUS_WAIT_S) -> None:
        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=2) as reply:
                    return reply.status == 200
            except OSError:
                return False
        self._wait(healthy, timeout, "crm up healthy")

    def wait_for_output(self, text: str, timeout: float = GENEROUS_WAIT_S) -> None:
        """Until `text` appears in the output (e.g. the demo's "Demo logins" line, printed
        once the demo data is loaded)."""
        self._wait(lambda: text in self.output(), timeout, f"{text!r} from crm up")

    def _wait(self, probe: Callable[[], bool], timeout: float, message: str) -> None:
        """`eventually(probe)`, failing at once if `crm up` exits; a failure carries the
        end of its output."""
        def alive_and_probe():
            if self.process.poll() is not None:
                raise AssertionError("crm up exited early")
            return probe()
        try:
            eventually(alive_and_probe, timeout=timeout, interval=0.2, message=message)
        except AssertionError as error:
            raise AssertionError(f"{error}:\n{self.output()[-4000:]}") from None

    def stop(self, sig=signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        finally:
            self._log.close()
        return code

    def kill_leftovers(self) -> None:
        for pid in processes_marked(self.marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@contextmanager
def crm_up(*, amqp_url: str | None, group: str | None = None,
           prepare: Callable[[RunningCrm], object] | None = None, **options):
    """`crm up` for a test or a fixture (the one way they start it): started (after `prepare(running)`, e.g. a restore
    into its data folder), healthy, yielded; stopped and whatever it left killed
    afterwards, or as soon as the last test of `group` is done (crm_testing.
    release_after_group). Stopping twice is harmless, so a test may stop it itself to
    check how it stops."""
    running = RunningCrm(amqp_url=amqp_url, start=False, **options)

    def stop():
        if running.process is not None:
            running.stop()
        running.kill_leftovers()

    if group is not None:
        release_after_group(group, stop)
    try:
        if prepare is not None:
            prepare(running)
        running.start()
        running.wait_healthy()
        yield running
    finally:
        stop()
