"""Composition root of the gateway: identity, forwarding, public documents, health.

The gateway is the only public door. It authenticates the caller against its own user
store, mints a short-lived internal token carrying the caller's current identity, and
forwards the request to the owning service, which checks that token itself.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from flask import Flask, Response, g, request

from crmkit.config import SERVICES, Settings
from crmkit.errors import Invalid, NotFound
from crmkit.metrics import install_metrics
from crmkit.service import Readiness, ServiceDefinition, ServiceRuntime, Worker
from crmkit.web import install_error_handlers, install_request_id, json_body, json_response

from gateway.console import install_console
from gateway.docs import PublicDocs
from gateway.limits import install_request_limits
from gateway.proxy import (API, FORWARDED_REQUEST_HEADERS, PUBLIC_PATHS, RETURNED_HEADERS,
                           HttpServiceClient, owning_service)

NAME = "gateway"
PROBE_TIMEOUT_S = 0.8
DEAD_LETTERS = f"{API}/admin/dead-letters"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def http_clients(settings: Settings) -> dict:
    missing = [name for name in SERVICES if name not in settings.service_urls]
    if missing:
        raise RuntimeError("set " + ", ".join(f"{m.upper()}_SERVICE_URL" for m in missing))
    return {name: HttpServiceClient(name, url) for name, url in settings.service_urls.items()}


def create_app(settings: Settings | None = None, *, clients: dict | None = None,
               identity=None, with_workers: bool | None = None) -> Flask:
    settings = settings or Settings.from_env()
    runtime = ServiceRuntime(NAME, settings)
    identity = identity or _identity(runtime, settings)
    clients = clients if clients is not None else http_clients(settings)
    definition = _definition(identity, blueprints=[identity.blueprint])
    identity.start()  # indexes, then the first admin from CRM_ADMIN_PASSWORD

    app = Flask(NAME)
    app.config["MAX_CONTENT_LENGTH"] = 20 * 1024 * 1024
    trusted_proxies = int(os.environ.get("CRM_TRUSTED_PROXIES", "0"))
    if trusted_proxies:  # behind a load balancer: the client address for login limits
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=trusted_proxies, x_proto=trusted_proxies)
    install_request_id(app)
    install_error_handlers(app)
    install_metrics(app, NAME, token=settings.metrics_token,  # a scraper, or an admin
                    authorize=lambda header: identity.service.authenticate_admin(
                        header, method=request.method, path=request.path))
    install_request_limits(app)
    app.register_blueprint(identity.blueprint)
    docs = PublicDocs(clients, [identity.blueprint])
    readiness = Readiness(runtime, definition)
    probes = ThreadPoolExecutor(max_workers=len(SERVICES), thread_name_prefix="readyz")

    def forward(path: str):
        service = _target_service(path)
        client = clients.get(service)
        if client is None:
            raise NotFound("No such resource.", code="not_found")
        headers = {name: request.headers[name] for name in FORWARDED_REQUEST_HEADERS
                   if name in request.headers}
        headers["X-Request-ID"] = g.request_id
        headers["X-Forwarded-For"] = request.remote_addr or ""
        # what the client called, so services can build public links (calendar feed)
        headers["X-Forwarded-Host"] = request.host
        headers["X-Forwarded-Proto"] = request.scheme
        if not path.startswith(PUBLIC_PATHS):
            caller = identity.authenticate_forwarded(request.headers.get("Authorization"),
                                                     request.method, path)
            headers["Authorization"] = f"Bearer {caller.internal_token}"
        reply = client.request(request.method, path, query=request.query_string.decode(),
                               headers=headers, body=request.get_data())
        response = Response(reply.body, status=reply.status)
        for name in RETURNED_HEADERS:
            value = reply.headers.get(name)
            if value is not None:
                response.headers[name] = value
        return response

    @app.route(f"{API}/<path:rest>", methods=METHODS)
    def api(rest):
        return forward(request.path)

    @app.get(f"{API}/openapi.json")
    def openapi():
        return json_response(docs.openapi())

    @app.get(f"{API}/events/catalog")
    def events_catalog():
        return json_response(docs.catalog())

    def probe(name: str, client) -> dict:
        try:
            return client.request("GET", "/readyz", timeout=PROBE_TIMEOUT_S).json()
        except Exception as error:
            return {"service": name, "ready": False,
                    "checks": {"api": f"unreachable: {error.__class__.__name__}"}}

    def system_readiness() -> dict:
        # every service at once, each with a short timeout: one stalled service makes the
        # answer "not ready" within a second instead of holding it
        futures = {name: probes.submit(probe, name, client) for name, client in clients.items()}
        own = readiness.report()
        services = {name: future.result() for name, future in futures.items()}
        ready = own["ready"] and len(services) == len(SERVICES) and all(
            s.get("ready") for s in services.values())
        return {"ready": ready, "mode": "embedded" if settings.embedded else "distributed",
                "gateway": own, "services": services}

    @app.get("/livez")
    def livez():  # the process answers; dependencies are /readyz's business
        return json_response({"status": "alive", "service": NAME})

    @app.get("/healthz")
    def healthz():
        report = system_readiness()
        status = 200 if report["ready"] else 503
        return json_response({"status": "ok" if report["ready"] else "starting"}, status)

    @app.get("/readyz")
    def readyz():
        report = system_readiness()
        return json_response(report, 200 if report["ready"] else 503)

    install_console(app)  # the web console at / (after every API and health route)

    if with_workers is None:
        with_workers = os.environ.get("CRM_WITH_WORKERS") == "1"
    if with_workers:
        app.extensions["crm.worker"] = Worker(runtime, definition).start()
    app.extensions["crm.identity"] = identity
    app.extensions["crm.runtime"] = runtime
    app.extensions["crm.definition"] = definition
    return app


def _target_service(path: str) -> str | None:
    if path == DEAD_LETTERS or path == f"{DEAD_LETTERS}/replay":
        service = request.args.get("service")
        if service is None and request.method == "POST":
            body = json_body()   # bounded and checked like every body, before authenticating
            service = body.get("service") if isinstance(body, dict) else None
        if service not in SERVICES:
            raise Invalid("service", f"One of: {', '.join(SERVICES)}.")
        return service
    return owning_service(path)


def _identity(runtime: ServiceRuntime, settings: Settings):
    from gateway.identity.component import IdentityComponent

    return IdentityComponent.create(runtime.db, runtime.tokens, settings=settings,
                                    idempotency_store=runtime.idempotency)


def create_worker(settings: Settings | None = None) -> Worker:
    """The gateway's background part: the relay of user events."""
    settings = settings or Settings.from_env()
    runtime = ServiceRuntime(NAME, settings)
    identity = _identity(runtime, settings)
    return Worker(runtime, _definition(identity, blueprints=[]))


def _definition(identity, *, blueprints: list) -> ServiceDefinition:
    return ServiceDefinition(name=NAME, title="Gateway", blueprints=blueprints,
                             outbox_collections=list(identity.outbox_collections),
                             jobs=identity.jobs(), ensure_indexes=identity.ensure_indexes)
