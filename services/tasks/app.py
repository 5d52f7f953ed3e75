"""Composition root of the tasks service: tasks, the pool, reminders, inbox, calendar."""
from __future__ import annotations

from crmkit.bus.consumer import Subscriptions
from crmkit.config import Settings
from crmkit.directory import UserDirectory
from crmkit.scheduling import PeriodicJob
from crmkit.service import ServiceDefinition, ServiceRuntime, service_app, service_worker

from services.tasks import api, schemas  # noqa: F401  (schemas registers the events)
from services.tasks.consumers import TaskConsumers
from services.tasks.handlers import TasksService
from services.tasks.repository import TaskRepository

NAME = "tasks"
REMINDER_INTERVAL = 0.5     # seconds between reminder sweeps: bounds a reminder's lateness
REMINDER_LEASE = 5.0        # a dead scheduler's replica takes over after this long


def bootstrap(settings: Settings) -> tuple[ServiceRuntime, ServiceDefinition]:
    runtime = ServiceRuntime(NAME, settings)
    directory = UserDirectory(runtime.db)
    service = TasksService(runtime.db, directory)
    directory.when_changed(service.on_user_changed)
    subscriptions = Subscriptions()
    directory.subscribe(subscriptions)
    TaskConsumers(service, runtime.db).subscribe(subscriptions)

    def ensure_indexes():
        service.ensure_indexes()
        directory.ensure_indexes()
        runtime.idempotency.ensure_indexes()

    definition = ServiceDefinition(
        name=NAME, title="Tasks service",
        blueprints=[api.blueprint(service, runtime.idempotency)],
        subscriptions=subscriptions,
        outbox_collections=list(TaskRepository.outbox_collections),
        jobs=[PeriodicJob("reminders", REMINDER_INTERVAL, service.fire_due_reminders,
                          lease_ttl=REMINDER_LEASE)],
        ensure_indexes=ensure_indexes,
        public_paths=(api.FEED_PATH,),
    )
    return runtime, definition


def create_app(settings: Settings | None = None, *, with_workers: bool | None = None):
    return service_app(bootstrap, settings, with_workers=with_workers)


def create_worker(settings: Settings | None = None):
    return service_worker(bootstrap, settings)
