"""Composition root of the opportunity service."""
from __future__ import annotations

from crmkit.attachments import AttachmentStore
from crmkit.config import Settings
from crmkit.directory import UserDirectory
from crmkit.service import ServiceDefinition, ServiceRuntime, service_app, service_worker
from crmkit.settings import OrgSettings

from services.opportunity import api, consumers, schemas  # noqa: F401 (registers events)
from services.opportunity import attachments
from services.opportunity.handlers import OpportunityHandlers
from services.opportunity.repository import OpportunityRepository

NAME = "opportunity"


def bootstrap(settings: Settings) -> tuple[ServiceRuntime, ServiceDefinition]:
    runtime = ServiceRuntime(NAME, settings)
    repository = OpportunityRepository(runtime.db)
    directory = UserDirectory(runtime.db)
    org_settings = OrgSettings(runtime.db)   # the data dictionary (CONTRACT §11)
    handlers = OpportunityHandlers(repository, directory, org_settings=org_settings)
    subscriptions = consumers.subscriptions(handlers, directory)
    org_settings.subscribe(subscriptions)
    files = AttachmentStore(runtime.db)
    directory.when_changed(handlers.on_user_changed)
    definition = ServiceDefinition(
        name=NAME, title="Opportunity service",
        blueprints=[api.blueprint(handlers, runtime.idempotency),
                    attachments.blueprint(handlers, files, runtime.idempotency)],
        subscriptions=subscriptions,
        outbox_collections=repository.outbox_collections,
        stores=(repository, directory, files),
    )
    return runtime, definition


def create_app(settings: Settings | None = None, *, with_workers: bool | None = None):
    return service_app(bootstrap, settings, with_workers=with_workers)


def create_worker(settings: Settings | None = None):
    return service_worker(bootstrap, settings)
