"""Composition root of the customer service."""
from __future__ import annotations

from crmkit.attachments import AttachmentStore
from crmkit.background import BackgroundRuns
from crmkit.config import Settings
from crmkit.directory import UserDirectory
from crmkit.scheduling import PeriodicJob
from crmkit.settings import OrgSettings
from crmkit.service import ServiceDefinition, ServiceRuntime, service_app, service_worker

from services.customer import api, consumers, schemas  # noqa: F401  (registers event schemas)
from services.customer import attachments
from services.customer.handlers import CustomerHandlers
from services.customer.repository import CustomerRepository

NAME = "customer"
RECLAIM_CHECK_SECONDS = 300      # the reclaim itself runs once per local day
IMPORT_RECOVERY_SECONDS = 120
SEARCH_ROWS_SECONDS = 30


def bootstrap(settings: Settings) -> tuple[ServiceRuntime, ServiceDefinition]:
    runtime = ServiceRuntime(NAME, settings)
    repository = CustomerRepository(runtime.db)
    directory = UserDirectory(runtime.db)
    org_settings = OrgSettings(runtime.db)   # the data dictionary (CONTRACT §11)
    runs = BackgroundRuns(runtime.db)   # imports started with Prefer: respond-async
    handlers = CustomerHandlers(repository, directory, timezone=settings.timezone,
                                org_settings=org_settings, runs=runs)
    subscriptions = consumers.subscriptions(handlers, directory)
    org_settings.subscribe(subscriptions)
    files = AttachmentStore(runtime.db)
    directory.when_changed(handlers.on_user_changed)

    definition = ServiceDefinition(
        name=NAME, title="Customer pool service",
        blueprints=[api.blueprint(handlers, runtime.idempotency),
                    attachments.blueprint(handlers, files, runtime.idempotency)],
        subscriptions=subscriptions,
        outbox_collections=repository.outbox_collections,
        jobs=[PeriodicJob("customer-reclaim", RECLAIM_CHECK_SECONDS, handlers.scheduled_reclaim),
              PeriodicJob("customer-import-recovery", IMPORT_RECOVERY_SECONDS,
                          handlers.recover_imports),
              # customers written without their search rows (a bulk import, a crash):
              # a search syncs what is left too, this keeps that short; and, once, rows
              # of an older format (without `lcp`, `lcp_public`) rewritten in the
              # background
              PeriodicJob("customer-search-rows", SEARCH_ROWS_SECONDS,
                          lambda _now: repository.terms.keep_up())],
        stores=(repository, directory, files, runs),
    )
    return runtime, definition


def create_app(settings: Settings | None = None, *, with_workers: bool | None = None):
    return service_app(bootstrap, settings, with_workers=with_workers)


def create_worker(settings: Settings | None = None):
    return service_worker(bootstrap, settings)
