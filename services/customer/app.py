"""Composition root of the customer service."""
from __future__ import annotations

from crmkit.config import Settings
from crmkit.service import ServiceDefinition, ServiceRuntime, service_app, service_worker

from services.customer import api, consumers
from services.customer.handlers import CustomerHandlers
from services.customer.repository import CustomerRepository

NAME = "customer"


def bootstrap(settings: Settings) -> tuple[ServiceRuntime, ServiceDefinition]:
    runtime = ServiceRuntime(NAME, settings)
    repository = CustomerRepository(runtime.db)
    handlers = CustomerHandlers(repository)
    subscriptions = consumers.subscriptions(handlers)
    definition = ServiceDefinition(
        name=NAME, title="Customer pool service",
        blueprints=[api.customer_blueprint(handlers, runtime.idempotency)],
        subscriptions=subscriptions if subscriptions.handlers else None,
        outbox_collections=repository.outbox_collections,
        ensure_indexes=lambda: (repository.ensure_indexes(),
                                runtime.idempotency.ensure_indexes()),
    )
    return runtime, definition


def create_app(settings: Settings | None = None, *, with_workers: bool | None = None):
    return service_app(bootstrap, settings, with_workers=with_workers)


def create_worker(settings: Settings | None = None):
    return service_worker(bootstrap, settings)
