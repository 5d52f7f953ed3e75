"""`crm reporting rebuild`: drop the reporting read models and replay the kept events.

The command works on the database directly; other reporting processes hold back while
the rebuild flag is up (see ReportingHandlers.rebuild).
"""
from __future__ import annotations

from crmkit.config import Settings


def rebuild(settings: Settings) -> dict:
    from crmkit.mongo import get_database
    from services.reporting.handlers import ReportingHandlers
    from services.reporting.repository import ReportingRepository

    repository = ReportingRepository(get_database(settings.mongo_url,
                                                  settings.database_name("reporting")))
    repository.ensure_indexes()
    handlers = ReportingHandlers(repository, settings.timezone)
    handlers.recover()
    return handlers.rebuild()
