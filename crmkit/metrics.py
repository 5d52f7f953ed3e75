"""Prometheus metrics, per process: HTTP latency, events published and handled.

`/metrics` is not public (route names, volumes and error rates tell an outsider a lot):
it answers a scraper sending `Authorization: Bearer <metrics token>` (CRM_METRICS_TOKEN,
Settings.metrics_token), or a caller the app's own `authorize` accepts (the gateway: an
admin's access token). Without a token configured, only `authorize` can let anyone in.
"""
from __future__ import annotations

import hmac
import time
from typing import Callable

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from crmkit.errors import Unauthorized

HTTP_LATENCY = Histogram("crm_http_request_seconds", "HTTP request latency",
                         ["service", "method", "route", "status"])
EVENTS_PUBLISHED = Counter("crm_events_published_total", "Events confirmed by the broker",
                           ["service"])
EVENTS_HANDLED = Counter("crm_events_handled_total", "Events handled by consumers",
                         ["service", "type"])
METRICS_REFUSED = ("读取指标需要指标令牌或管理员登录 / Metrics need the metrics token "
                   "(Authorization: Bearer ...) or an administrator's token.")


def install_metrics(app: Flask, service: str, *, token: str | None = None,
                    authorize: Callable[[str], None] | None = None) -> None:
    """`token`: the metrics bearer token; `authorize(authorization_header)` raises
    crmkit.errors (401/403) unless that caller may read the metrics."""
    expected = f"Bearer {token}".encode() if token else None

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
        header = request.headers.get("Authorization", "")
        if expected is not None and hmac.compare_digest(header.encode(), expected):
            pass
        elif header and authorize is not None:
            authorize(header)
        else:
            raise Unauthorized(METRICS_REFUSED, code="metrics_token_required",
                               headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        return Response(generate_latest(), content_type=CONTENT_TYPE_LATEST)
