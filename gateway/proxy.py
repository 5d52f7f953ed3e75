"""Forwarding to the owning service: over HTTP, or straight into its WSGI app when the
whole system runs in one process. Both speak the same (status, headers, body) shape."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

import urllib3
from werkzeug.test import EnvironBuilder, run_wsgi_app

from crmkit.errors import DomainError

API = "/api/v1"
ROUTES = (
    ("customers", "customer"), ("pool", "customer"),
    ("opportunities", "opportunity"), ("pipeline", "opportunity"),
    ("tasks", "tasks"), ("notifications", "tasks"), ("calendar", "tasks"),
    ("reports", "reporting"), ("targets", "reporting"),
)
# Authenticated by the service itself (a per-user feed token in the query string).
PUBLIC_PATHS = (f"{API}/calendar.ics",)
_ROUTE = re.compile(rf"^{API}/({'|'.join(re.escape(p) for p, _ in ROUTES)})(?:[/.]|$)")
FORWARDED_REQUEST_HEADERS = ("Content-Type", "Accept", "Accept-Language", "If-Match",
                             "Idempotency-Key")
RETURNED_HEADERS = ("Content-Type", "ETag", "Content-Disposition", "Retry-After",
                    "Location", "Idempotent-Replayed")


def owning_service(path: str) -> str | None:
    match = _ROUTE.match(path)
    if not match:
        return None
    return dict(ROUTES)[match.group(1)]


@dataclass
class Reply:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body or b"null")


class ServiceUnavailable(DomainError):
    status = 502
    default_code = "service_unavailable"
    title = "Bad gateway"


class HttpServiceClient:
    def __init__(self, name: str, base_url: str, *, pool: urllib3.PoolManager | None = None):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._pool = pool or urllib3.PoolManager(
            num_pools=8, maxsize=64, retries=False,
            timeout=urllib3.Timeout(connect=2.0, read=180.0))  # a 20k-row import takes ~45 s

    def request(self, method: str, path: str, *, query: str = "", headers: dict | None = None,
                body: bytes | None = None) -> Reply:
        url = f"{self.base_url}{path}" + (f"?{query}" if query else "")
        try:
            response = self._pool.request(method, url, body=body, headers=headers or {},
                                          preload_content=True, redirect=False)
        except urllib3.exceptions.HTTPError as error:
            raise ServiceUnavailable(f"The {self.name} service did not answer: "
                                     f"{error.__class__.__name__}") from None
        return Reply(response.status, dict(response.headers), response.data)


class InProcessServiceClient:
    def __init__(self, name: str, wsgi_app):
        self.name = name
        self.app = wsgi_app

    def request(self, method: str, path: str, *, query: str = "", headers: dict | None = None,
                body: bytes | None = None) -> Reply:
        environ = EnvironBuilder(path=path, method=method, query_string=query,
                                 headers=headers or {}, data=body or b"").get_environ()
        app_iter, status, response_headers = run_wsgi_app(self.app, environ, buffered=True)
        try:
            payload = b"".join(app_iter)
        finally:
            if hasattr(app_iter, "close"):
                app_iter.close()
        return Reply(int(status.split(" ", 1)[0]), dict(response_headers), payload)
