"""`crm reporting rebuild`: drop the reporting read models and replay the kept events.

With a real MongoDB the command works on the database directly (other reporting
processes hold back while the rebuild flag is up, see ReportingHandlers.rebuild). With
mongomock the data lives inside the running reporting process, so the command asks it
through the gateway instead (`POST /api/v1/reports/rebuild`, as the admin named by
CRM_ADMIN_USERNAME / CRM_ADMIN_PASSWORD; the gateway at CRM_URL or 127.0.0.1:CRM_PORT).
"""
from __future__ import annotations

import os
import time

from crmkit.config import Settings

REMOTE_TIMEOUT = 3600  # seconds to wait for a rebuild run by the service


def rebuild(settings: Settings) -> dict:
    if settings.mongo_url.startswith("mongomock://"):
        return _rebuild_remotely(settings)
    from crmkit.mongo import get_database
    from services.reporting.handlers import ReportingHandlers
    from services.reporting.repository import ReportingRepository

    repository = ReportingRepository(get_database(settings.mongo_url,
                                                  settings.database_name("reporting")))
    repository.ensure_indexes()
    handlers = ReportingHandlers(repository, settings.timezone)
    handlers.recover()
    return handlers.rebuild()


def _rebuild_remotely(settings: Settings) -> dict:
    from crm.client import Session, http_transport

    base = os.environ.get("CRM_URL") or f"http://127.0.0.1:{os.environ.get('CRM_PORT', '8080')}"
    password = settings.admin_password
    if not password:
        raise SystemExit("crm reporting rebuild: the read models live inside the running "
                         "system (mongomock); set CRM_ADMIN_PASSWORD (and CRM_ADMIN_USERNAME) "
                         "so the command can ask it through the gateway at " + base)
    transport = http_transport(base.rstrip("/"))
    try:
        login = Session(transport).post("/api/v1/auth/login", json={
            "username": settings.admin_username, "password": password})
    except OSError as error:
        raise SystemExit(f"crm reporting rebuild: no CRM answers at {base} ({error})")
    if login.status_code != 200:
        raise SystemExit(f"crm reporting rebuild: admin login failed ({login.status_code})")
    admin = Session(transport, login.json["access_token"])
    reply = admin.post("/api/v1/reports/rebuild")
    if reply.status_code != 202:
        raise SystemExit(f"crm reporting rebuild failed: {reply.status_code} "
                         f"{reply.data[:300]!r}")
    deadline = time.monotonic() + REMOTE_TIMEOUT
    while time.monotonic() < deadline:
        status = admin.get("/api/v1/reports/rebuild").json or {}
        if status.get("status") == "done":
            return status
        if status.get("status") == "failed":
            raise SystemExit(f"crm reporting rebuild failed: {status.get('error')}")
        time.sleep(0.5)
    raise SystemExit("crm reporting rebuild: still running after "
                     f"{REMOTE_TIMEOUT} s; see GET /api/v1/reports/rebuild")
