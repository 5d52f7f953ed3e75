"""Starting and stopping `crm up` as a user does, and finding its processes."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from crm_testing import ADMIN_PASSWORD

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
        if start:
            self.start()

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen([*CRM, "up", "--port", str(self.port), *self.args],
                                        env=self.env, stdout=self._log,
                                        stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_healthy(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"crm up exited early:\n{self.output()[-4000:]}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"crm up not healthy in {timeout}s:\n{self.output()[-4000:]}")

    def wait_for_output(self, text: str, timeout: float = 120) -> None:
        """Until `text` appears in the output (e.g. the demo's "Demo logins" line, printed
        once the demo data is loaded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.process.poll() is not None:
                raise AssertionError(f"crm up exited early:\n{self.output()[-4000:]}")
            time.sleep(0.2)
        raise AssertionError(f"no {text!r} from crm up in {timeout}s:\n{self.output()[-4000:]}")

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
