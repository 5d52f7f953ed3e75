"""`crm backup` while the demo system runs (the session's `crm up --demo`, shared with
the browser tests), then `crm restore` into an empty data folder: every list and report
reads the same as before."""
from __future__ import annotations

import signal
import subprocess
import tempfile

from crm_process import CRM, crm_up
from crm_testing import Org, eventually, http_transport, reports_caught_up

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


def _backup_of_a_still_moment(crm):
    """A backup with the reads it holds: taken between two equal reads, once reporting
    has caught up, so that nothing the system does meanwhile (a reminder firing, the
    browser tests' last events) makes the reads differ."""
    def attempt():
        reports_caught_up(crm.base_url)
        before = _reads(crm.base_url)
        folder = tempfile.mkdtemp(prefix="crm-backup-") + "/b"
        subprocess.run([*CRM, "backup", "--out", folder], env=crm.env, check=True,
                       timeout=120)
        return (folder, before) if _reads(crm.base_url) == before else None
    return eventually(attempt, interval=1.0, message="a backup with no change during it")


def test_backup_wipe_restore_reads_the_same(demo_crm):
    folder, before = _backup_of_a_still_moment(demo_crm)
    assert before[READS[0]]["total"] > 0 and before[READS[2]]["total"] > 0

    def restore(restored):   # into an empty data folder of its own
        subprocess.run([*CRM, "restore", folder], env=restored.env, check=True, timeout=120)

    with crm_up(amqp_url=None, prepare=restore) as restored:
        # events the backup caught still pending in an outbox are published again by
        # the restored relay (consumers dedupe them): compare once they are through
        differing: set = set()

        def same_as_before() -> bool:
            after = _reads(restored.base_url)
            differing.clear()
            differing.update(path for path in READS if after[path] != before[path])
            return not differing

        try:
            eventually(same_as_before, interval=1.0, message="the same reads as before")
        except AssertionError:
            raise AssertionError(f"reads that differ after the restore: {sorted(differing)}")
        assert restored.stop(signal.SIGTERM) == 0
