"""The database server of the in-process benchmarks (reporting.py, tasks.py): MONGO_URL
(or an explicit URL) when given, else FerretDB 1.24 -- the server `crm up` runs, started
with crm.ferretdb.FerretServer on a temporary folder and removed afterwards."""
from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _stop_on_sigterm(signum, _frame):
    raise SystemExit(128 + signum)   # so the `finally` below stops and removes the server


@contextmanager
def local_database(url: str | None = None, *, say=print):
    """A MongoDB URL: `url`, else MONGO_URL, else a FerretDB
    (crm.ferretdb.FerretServer, the server `crm up` runs) on a temporary folder, stopped
    and removed when the block ends."""
    url = url or os.environ.get("MONGO_URL")
    if url:
        yield url
        return
    from crm.ferretdb import VERSION, FerretServer

    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    folder = tempfile.mkdtemp(prefix="crm-bench-ferretdb-")
    try:
        with FerretServer(Path(folder)) as server:
            say(f"database: FerretDB {VERSION} on {server.url} (temporary folder {folder})",
                flush=True)
            yield server.url
    finally:
        shutil.rmtree(folder, ignore_errors=True)
