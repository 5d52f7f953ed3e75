"""Composition root of the reporting service."""
from __future__ import annotations

from crmkit.background import BackgroundRuns
from crmkit.config import Settings
from crmkit.mongo import get_database
from crmkit.service import ServiceDefinition, ServiceRuntime, service_app, service_worker

from services.reporting import api, consumers, schemas  # noqa: F401  (schemas: registry)
from services.reporting.handlers import ReportingHandlers
from services.reporting.repository import ReportingRepository

NAME = "reporting"


def bootstrap(settings: Settings) -> tuple[ServiceRuntime, ServiceDefinition]:
    runtime = ServiceRuntime(NAME, settings)
    repository = ReportingRepository(runtime.db)
    runs = BackgroundRuns(runtime.db)   # POST /reports/rebuild
    handlers = ReportingHandlers(repository, settings.timezone, runs=runs)

    definition = ServiceDefinition(
        name=NAME, title="Reporting service",
        blueprints=[api.blueprint(handlers)],
        subscriptions=consumers.subscriptions(handlers, settings.consumer_batch),
        stores=(repository, runs),
        start_up=handlers.recover,  # finish counter updates a crash left half-done
    )
    return runtime, definition


def create_app(settings: Settings | None = None, *, with_workers: bool | None = None):
    return service_app(bootstrap, settings, with_workers=with_workers)


def create_worker(settings: Settings | None = None):
    return service_worker(bootstrap, settings)


def rebuild(settings: Settings) -> dict:
    """`crm reporting rebuild`: drop the read models and replay the kept events, on the
    database directly (no broker); other reporting processes hold back while the
    rebuild flag is up (see ReportingHandlers.rebuild)."""
    repository = ReportingRepository(get_database(settings.mongo_url,
                                                  settings.database_name(NAME)))
    repository.ensure_indexes()
    handlers = ReportingHandlers(repository, settings.timezone)
    handlers.recover()
    return handlers.rebuild()
