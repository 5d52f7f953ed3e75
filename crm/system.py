"""The system as a whole: which services exist, and the single-process assembly."""
from __future__ import annotations

import importlib

from crmkit.config import SERVICES, Settings

APP_MODULES = {name: f"services.{name}.app" for name in SERVICES}
APP_MODULES["gateway"] = "gateway.app"


def app_module(name: str):
    if name not in APP_MODULES:
        raise SystemExit(f"unknown service {name!r}; one of: {', '.join(APP_MODULES)}")
    return importlib.import_module(APP_MODULES[name])


def subscriptions(settings: Settings | None = None) -> dict[str, list[str]]:
    """Routing keys each consuming service binds (read from its composition root)."""
    settings = settings or Settings(amqp_url="memory://")  # nothing connects: keys only
    keys = {}
    for name in SERVICES:
        _, definition = app_module(name).bootstrap(settings)
        if definition.subscriptions is not None:
            keys[name] = definition.subscriptions.routing_keys
    return keys


def declare_topology(settings: Settings) -> None:
    """Declare every service's queues, so no event is published before its queue exists."""
    from crmkit.bus.connection import connect
    from crmkit.bus.topology import declare_exchanges, declare_service

    with connect(settings.amqp_url) as connection:
        connection.ensure_connection(max_retries=5)
        declare_exchanges(connection)
        for service, keys in subscriptions(settings).items():
            declare_service(connection, service, keys, queue_type=settings.queue_type)


class EmbeddedSystem:
    """Gateway and every service in this process, each with its background workers."""

    def __init__(self, settings: Settings):
        from gateway.app import create_app as create_gateway
        from gateway.proxy import InProcessServiceClient

        self.settings = settings
        self.services = {}
        self.gateway = None
        try:
            for name in SERVICES:
                self.services[name] = app_module(name).create_app(settings, with_workers=True)
            clients = {name: InProcessServiceClient(name, app)
                       for name, app in self.services.items()}
            self.gateway = create_gateway(settings, clients=clients, with_workers=True)
        except BaseException:
            # the services started so far would go on consuming from the system's queues
            # in this process, next to whatever is started after
            self.stop()
            raise

    def workers(self):
        for app in (*self.services.values(), self.gateway):
            worker = app.extensions.get("crm.worker") if app is not None else None
            if worker is not None:
                yield worker

    def stop(self) -> None:
        workers = list(self.workers())
        for worker in workers:       # all at once, then wait: not one after another
            worker.request_stop()
        for worker in workers:
            worker.stop()


def embedded_app(settings: Settings):
    return EmbeddedSystem(settings).gateway
