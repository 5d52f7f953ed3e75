"""`crm backup` while the demo system runs, then `crm restore` into an empty data folder:
every list and report reads the same as before."""
from __future__ import annotations

import signal
import subprocess
import tempfile

from crm_process import CRM, RunningCrm
from crm_testing import Org, http_transport, reports_caught_up

READS = ("/api/v1/customers?scope=all&per_page=100&sort=number",
         "/api/v1/pool?per_page=100&sort=number",
         "/api/v1/opportunities?scope=all&per_page=100&sort=name",
         "/api/v1/tasks?scope=team&per_page=100&sort=due_at",
         "/api/v1/users?per_page=100&sort=username",
         "/api/v1/reports/summary",
         "/api/v1/reports/funnel",
         "/api/v1/pipeline")


def _reads(base_url: str) -> dict:
    admin = Org(http_transport(base_url)).admin
    return {path: admin.get(path).json for path in READS}


def test_backup_wipe_restore_reads_the_same():
    original = RunningCrm(amqp_url=None, args=("--demo",))
    try:
        original.wait_healthy()
        original.wait_for_output("Demo logins", timeout=300)   # the demo is loaded
        reports_caught_up(original.base_url)
        before = _reads(original.base_url)
        assert before[READS[0]]["total"] > 0 and before[READS[2]]["total"] > 0
        folder = tempfile.mkdtemp(prefix="crm-backup-") + "/b"
        subprocess.run([*CRM, "backup", "--out", folder], env=original.env, check=True,
                       timeout=120)
        assert original.stop(signal.SIGTERM) == 0
    finally:
        original.kill_leftovers()

    restored = RunningCrm(amqp_url=None, start=False)   # an empty data folder of its own
    try:
        subprocess.run([*CRM, "restore", folder], env=restored.env, check=True, timeout=120)
        restored.start()
        restored.wait_healthy()
        assert _reads(restored.base_url) == before
        assert restored.stop(signal.SIGTERM) == 0
    finally:
        restored.kill_leftovers()
