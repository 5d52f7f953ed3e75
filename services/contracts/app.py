"""Composition root of the contracts service: quotes, contracts, payment plans, payments,
costs and receivables (CONTRACT §9)."""
from __future__ import annotations

from crmkit.attachments import AttachmentStore
from crmkit.config import Settings
from crmkit.directory import UserDirectory
from crmkit.service import ServiceDefinition, ServiceRuntime, service_app, service_worker

from services.contracts import api, attachments, consumers, schemas  # noqa: F401 (registers events)
from services.contracts.handlers import ContractsHandlers
from services.contracts.repository import ContractsRepository

NAME = "contracts"


def bootstrap(settings: Settings) -> tuple[ServiceRuntime, ServiceDefinition]:
    runtime = ServiceRuntime(NAME, settings)
    repository = ContractsRepository(runtime.db)
    directory = UserDirectory(runtime.db)
    handlers = ContractsHandlers(repository, directory)
    directory.when_changed(handlers.on_user_changed)
    files = AttachmentStore(runtime.db)
    definition = ServiceDefinition(
        name=NAME, title="Contracts service",
        blueprints=[api.blueprint(handlers, runtime.idempotency),
                    attachments.blueprint(handlers, files, runtime.idempotency)],
        subscriptions=consumers.subscriptions(handlers, directory),
        outbox_collections=repository.outbox_collections,
        stores=(repository, directory, files),
    )
    return runtime, definition


def create_app(settings: Settings | None = None, *, with_workers: bool | None = None):
    return service_app(bootstrap, settings, with_workers=with_workers)


def create_worker(settings: Settings | None = None):
    return service_worker(bootstrap, settings)
