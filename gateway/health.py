"""The gateway's /healthz and /readyz: the whole system's readiness, its own and every
service's, each service asked at once with a short timeout."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from flask import Flask

from crmkit.config import SERVICES, Settings
from crmkit.service import Readiness
from crmkit.web import json_response

PROBE_TIMEOUT_S = 0.8


def system_health_routes(clients: dict, settings: Settings):
    """The `health_routes` of the gateway's ServiceDefinition (crmkit.service)."""

    def install(app: Flask, readiness: Readiness) -> None:
        probes = ThreadPoolExecutor(max_workers=len(SERVICES), thread_name_prefix="readyz")

        def probe(name: str, client) -> dict:
            try:
                return client.request("GET", "/readyz", timeout=PROBE_TIMEOUT_S).json()
            except Exception as error:
                return {"service": name, "ready": False,
                        "checks": {"api": f"unreachable: {error.__class__.__name__}"}}

        def system_readiness() -> dict:
            # every service at once, each with a short timeout: one stalled service makes
            # the answer "not ready" within a second instead of holding it
            futures = {name: probes.submit(probe, name, client)
                       for name, client in clients.items()}
            own = readiness.report()
            services = {name: future.result() for name, future in futures.items()}
            ready = own["ready"] and len(services) == len(SERVICES) and all(
                s.get("ready") for s in services.values())
            return {"ready": ready, "mode": "embedded" if settings.embedded else "distributed",
                    "gateway": own, "services": services}

        @app.get("/healthz")
        def healthz():
            report = system_readiness()
            status = 200 if report["ready"] else 503
            return json_response({"status": "ok" if report["ready"] else "starting"}, status)

        @app.get("/readyz")
        def readyz():
            report = system_readiness()
            return json_response(report, 200 if report["ready"] else 503)

    return install
