"""Composition root of the gateway: identity, forwarding, public documents, health.

The gateway is the only public door. It authenticates the caller against its own user
store, mints a short-lived internal token carrying the caller's current identity, and
forwards the request to the owning service, which checks that token itself.
"""
from __future__ import annotations

import os
import threading
from functools import partial
from typing import Callable

from flask import Flask, request

from crmkit.config import SERVICES, Settings
from crmkit.service import ServiceDefinition, ServiceRuntime, Worker, service_app, service_worker

from gateway import forwarding
from gateway.console import install_console
from gateway.health import system_health_routes
from gateway.identity.component import IdentityComponent
from gateway.limits import install_request_limits
from gateway.proxy import API, HttpServiceClient

NAME = "gateway"


def http_clients(settings: Settings) -> dict:
    missing = [name for name in SERVICES if name not in settings.service_urls]
    if missing:
        raise RuntimeError("set " + ", ".join(f"{m.upper()}_SERVICE_URL" for m in missing))
    return {name: HttpServiceClient(name, url) for name, url in settings.service_urls.items()}


def bootstrap(settings: Settings, clients: dict,
              built: Callable[[IdentityComponent], None] = lambda identity: None,
              ) -> tuple[ServiceRuntime, ServiceDefinition]:
    """`clients`: how to reach each service (HTTP, or in-process in the embedded system);
    `built` is handed the identity component."""
    runtime = ServiceRuntime(NAME, settings)
    identity = IdentityComponent.create(runtime.db, runtime.tokens, settings=settings,
                                        idempotency_store=runtime.idempotency)
    built(identity)
    definition = ServiceDefinition(
        name=NAME, title="Gateway",
        blueprints=[identity.blueprint, forwarding.blueprint(identity, clients)],
        outbox_collections=list(identity.outbox_collections), jobs=identity.jobs(),
        # indexes, then the first admin from CRM_ADMIN_PASSWORD (safe in every process)
        start_up=identity.start,
        public_paths=(f"{API}/",),   # authenticated by identity, not by internal tokens
        metrics_authorize=lambda header: identity.handlers.authenticate_admin(
            header, method=request.method, path=request.path),
        health_routes=system_health_routes(clients, settings))
    return runtime, definition


def create_app(settings: Settings | None = None, *, clients: dict | None = None,
               with_workers: bool | None = None) -> Flask:
    settings = settings or Settings.from_env()
    clients = clients if clients is not None else http_clients(settings)
    identities: list[IdentityComponent] = []
    app = service_app(partial(bootstrap, clients=clients, built=identities.append), settings,
                      with_workers=with_workers)
    # every API process forgets its cached callers on user.* / settings.updated events
    worker = app.extensions.get("crm.worker")
    stop = worker.stop_event if worker is not None else threading.Event()
    app.extensions["crm.gateway.callers"] = identities[0].listen(settings.amqp_url, stop)
    trusted_proxies = int(os.environ.get("CRM_TRUSTED_PROXIES", "0"))
    if trusted_proxies:  # behind a load balancer: the client address for login limits
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=trusted_proxies, x_proto=trusted_proxies)
    install_request_limits(app)
    install_console(app)  # the web console at / (after every API and health route)
    return app


def create_worker(settings: Settings | None = None) -> Worker:
    """The gateway's background part: the relay of user events (no service is called)."""
    return service_worker(partial(bootstrap, clients={}), settings)
