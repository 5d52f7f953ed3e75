"""Composition root of the reporting service."""
from __future__ import annotations

from crmkit.config import Settings
from crmkit.service import ServiceDefinition, ServiceRuntime, service_app, service_worker

from services.reporting import api, consumers, schemas  # noqa: F401  (schemas: registry)
from services.reporting.handlers import ReportingHandlers
from services.reporting.repository import ReportingRepository

NAME = "reporting"


def bootstrap(settings: Settings) -> tuple[ServiceRuntime, ServiceDefinition]:
    runtime = ServiceRuntime(NAME, settings)
    repository = ReportingRepository(runtime.db)
    handlers = ReportingHandlers(repository, settings.timezone)

    def ensure_indexes():
        repository.ensure_indexes()
        handlers.recover()  # finish counter updates a crash may have left half-done

    definition = ServiceDefinition(
        name=NAME, title="Reporting service",
        blueprints=[api.reports_blueprint(handlers)],
        subscriptions=consumers.subscriptions(handlers),
        ensure_indexes=ensure_indexes,
    )
    return runtime, definition


def create_app(settings: Settings | None = None, *, with_workers: bool | None = None):
    return service_app(bootstrap, settings, with_workers=with_workers)


def create_worker(settings: Settings | None = None):
    return service_worker(bootstrap, settings)
