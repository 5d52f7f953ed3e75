"""Composition root of the tasks service: tasks, the pool, reminders, inbox, calendar."""
from __future__ import annotations

from crmkit.attachments import AttachmentStore
from crmkit.config import Settings
from crmkit.directory import UserDirectory
from crmkit.service import ServiceDefinition, ServiceRuntime, service_app, service_worker
from crmkit.settings import OrgSettings

from services.tasks import api, consumers, schemas  # noqa: F401  (registers event schemas)
from services.tasks import attachments
from services.tasks.handlers import TaskHandlers
from services.tasks.reminders_loop import reminder_job
from services.tasks.repository import Repositories

NAME = "tasks"


def bootstrap(settings: Settings) -> tuple[ServiceRuntime, ServiceDefinition]:
    runtime = ServiceRuntime(NAME, settings)
    repositories = Repositories(runtime.db)
    directory = UserDirectory(runtime.db)
    org_settings = OrgSettings(runtime.db)   # the data dictionary (CONTRACT §11)
    handlers = TaskHandlers(repositories, directory, org_settings=org_settings)
    subscriptions = consumers.subscriptions(handlers, directory)
    org_settings.subscribe(subscriptions)
    files = AttachmentStore(runtime.db)
    directory.when_changed(handlers.on_user_changed)

    definition = ServiceDefinition(
        name=NAME, title="Tasks service",
        blueprints=[api.blueprint(handlers, runtime.idempotency),
                    attachments.blueprint(handlers, files, runtime.idempotency)],
        subscriptions=subscriptions,
        outbox_collections=repositories.outbox_collections,
        jobs=[reminder_job(handlers)],
        stores=(repositories, directory, files),
        public_paths=(api.FEED_PATH,),
    )
    return runtime, definition


def create_app(settings: Settings | None = None, *, with_workers: bool | None = None):
    return service_app(bootstrap, settings, with_workers=with_workers)


def create_worker(settings: Settings | None = None):
    return service_worker(bootstrap, settings)
