"""Prometheus metrics, per process: HTTP latency, events published and handled."""
from __future__ import annotations

import time

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

HTTP_LATENCY = Histogram("crm_http_request_seconds", "HTTP request latency",
                         ["service", "method", "route", "status"])
EVENTS_PUBLISHED = Counter("crm_events_published_total", "Events confirmed by the broker",
                           ["service"])
EVENTS_HANDLED = Counter("crm_events_handled_total", "Events handled by consumers",
                         ["service", "type"])


def install_metrics(app: Flask, service: str) -> None:
    @app.before_request
    def _start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def _observe(response):
        started = getattr(g, "started", None)
        if started is not None:
            route = request.url_rule.rule if request.url_rule else "unmatched"
            HTTP_LATENCY.labels(service, request.method, route,
                                str(response.status_code)).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics")
    def _metrics():
        return Response(generate_latest(), content_type=CONTENT_TYPE_LATEST)
