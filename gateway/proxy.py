"""Forwarding to the owning service: over HTTP, or straight into its WSGI app when the
whole system runs in one process. Both speak the same (status, headers, body) shape."""
from __future__ import annotations

import contextvars
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import urllib3
from werkzeug.test import EnvironBuilder, run_wsgi_app

from crmkit.errors import DomainError

API = "/api/v1"
ROUTES = (
    ("customers", "customer"), ("pool", "customer"),
    ("opportunities", "opportunity"), ("pipeline", "opportunity"),
    ("tasks", "tasks"), ("notifications", "tasks"), ("calendar", "tasks"),
    ("reports", "reporting"), ("targets", "reporting"),
    ("quotes", "contracts"), ("contracts", "contracts"), ("receivables", "contracts"),
)
# Authenticated by the service itself (a per-user feed token in the query string).
PUBLIC_PATHS = (f"{API}/calendar.ics",)
_ROUTE = re.compile(rf"^{API}/({'|'.join(re.escape(p) for p, _ in ROUTES)})(?:[/.]|$)")
FORWARDED_REQUEST_HEADERS = ("Content-Type", "Accept", "Accept-Language", "If-Match",
                             "Idempotency-Key")
RETURNED_HEADERS = ("Content-Type", "ETag", "Content-Disposition", "Retry-After",
                    "Location", "Idempotent-Replayed", "X-Content-Type-Options")


# How long the gateway waits for a service's answer: long only where a route needs it (a
# 20k-row import takes ~45 s); a stalled service otherwise holds a gateway thread for
# the whole wait, long after its client has given up.
DEFAULT_TIMEOUT_S = 30.0
LONG_ROUTES = ((re.compile(rf"^{API}/customers/import"), 180.0),
               (re.compile(rf"^{API}/[^?]*/export"), 120.0))
# A bulkhead per service: requests one gateway process sends a service at once, so that
# one stalled service holds at most this many of the gateway's threads (`crm up` runs 8;
# deploy/README.md: keep CRM_HTTP_THREADS above it) and the others, and /livez, answer.
# A request finding every slot taken waits briefly, then gets a 503 problem.
MAX_IN_FLIGHT = 6
SLOT_WAIT_S = 1.0
# Answers passed on piece by piece as they arrive instead of read whole first: an export
# of 200,000 customers starts reaching its client at once, and no gateway process holds
# it in memory. The read timeout then bounds each wait for the next piece.
STREAMED_ROUTES = re.compile(rf"^{API}/[^?]*/export")
STREAM_CHUNK = 64 * 1024


def is_streamed(method: str, path: str) -> bool:
    return method == "GET" and bool(STREAMED_ROUTES.match(path))


def upstream_timeout(path: str, default: float = DEFAULT_TIMEOUT_S) -> float:
    return next((seconds for route, seconds in LONG_ROUTES if route.match(path)), default)


# RFC 3986 pchar (less "%") and "/": everything else in a decoded path is re-encoded.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def request_target(path: str, query: str = "") -> str:
    """The request target to send for a *decoded* path (Flask's request.path): what
    arrived percent-encoded is encoded again, so a `%3F` stays part of the path instead
    of starting a query (or a `%25` becoming a stray `%`)."""
    target = quote(path, safe=_PATH_SAFE)
    return f"{target}?{query}" if query else target


def owning_service(path: str) -> str | None:
    match = _ROUTE.match(path)
    if not match:
        return None
    return dict(ROUTES)[match.group(1)]


@dataclass
class Reply:
    status: int
    headers: dict
    body: bytes = b""
    chunks: Iterator[bytes] | None = None   # a streamed body (`is_streamed`), read once

    def json(self):
        return json.loads(self.body or b"null")

    @property
    def content(self):
        """What to send on: the streamed pieces, or the body."""
        return self.body if self.chunks is None else self.chunks


def _passed_on(response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    """A streamed answer's pieces; its connection goes back to the pool only when read to
    the end (a client that left mid-way leaves it half-read: closed instead)."""
    finished = False
    try:
        yield from response.stream(STREAM_CHUNK)
        finished = True
    finally:
        if finished:
            response.release_conn()
        else:
            response.close()


def _streamed_in_process(app, environ) -> tuple[Iterator[bytes], str, list]:
    """Run a streamed answer of an in-process service in a context of its own: Flask
    keeps a streamed response's request context pushed until its last piece is read,
    which must not sit on the gateway's own contexts (the gateway's request ends first)."""
    context = contextvars.copy_context()
    app_iter, status, headers = context.run(run_wsgi_app, app, environ, buffered=False)
    pieces = iter(app_iter)

    def passed_on() -> Iterator[bytes]:
        try:
            while True:
                try:
                    yield context.run(next, pieces)
                except StopIteration:
                    return
        finally:
            if hasattr(app_iter, "close"):
                context.run(app_iter.close)

    return passed_on(), status, headers


class ServiceUnavailable(DomainError):
    status = 502
    default_code = "service_unavailable"
    title = "Bad gateway"


class ServiceBusy(DomainError):
    status = 503
    default_code = "service_busy"
    title = "Service unavailable"


class ServiceTimeout(DomainError):
    status = 504
    default_code = "service_timeout"
    title = "Gateway timeout"


class HttpServiceClient:
    """`path` is decoded (as Flask hands it over); `query` is the raw query string."""

    def __init__(self, name: str, base_url: str, *, pool: urllib3.PoolManager | None = None,
                 max_in_flight: int = MAX_IN_FLIGHT, timeout: float = DEFAULT_TIMEOUT_S):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._pool = pool or urllib3.PoolManager(num_pools=8, maxsize=64, retries=False)
        self._slots = threading.BoundedSemaphore(max_in_flight)

    def request(self, method: str, path: str, *, query: str = "", headers: dict | None = None,
                body: bytes | None = None, timeout: float | None = None) -> Reply:
        if not self._slots.acquire(timeout=SLOT_WAIT_S):
            raise ServiceBusy(f"{self.name} 服务繁忙，请稍后再试 / The {self.name} service is "
                              "busy; try again shortly.", headers={"Retry-After": "2"})
        url = self.base_url + request_target(path, query)
        wait = urllib3.Timeout(connect=2.0, read=timeout or upstream_timeout(path, self.timeout))
        streamed = is_streamed(method, path)
        try:
            response = self._pool.request(method, url, body=body, headers=headers or {},
                                          preload_content=not streamed, redirect=False,
                                          timeout=wait)
        except urllib3.exceptions.TimeoutError:
            raise ServiceTimeout(f"{self.name} 服务未及时应答 / The {self.name} service did "
                                 "not answer in time.") from None
        except urllib3.exceptions.HTTPError as error:
            raise ServiceUnavailable(f"The {self.name} service did not answer: "
                                     f"{error.__class__.__name__}") from None
        finally:
            self._slots.release()   # the service has answered: it is not stalled
        if streamed:
            return Reply(response.status, dict(response.headers), chunks=_passed_on(response))
        return Reply(response.status, dict(response.headers), response.data)


class InProcessServiceClient:
    def __init__(self, name: str, wsgi_app):
        self.name = name
        self.app = wsgi_app

    def request(self, method: str, path: str, *, query: str = "", headers: dict | None = None,
                body: bytes | None = None, timeout: float | None = None) -> Reply:
        # in one process a service cannot stall apart from the gateway: no timeout to keep
        environ = EnvironBuilder(path=request_target(path), method=method, query_string=query,
                                 headers=headers or {}, data=body or b"").get_environ()
        if is_streamed(method, path):
            pieces, status, response_headers = _streamed_in_process(self.app, environ)
            return Reply(int(status.split(" ", 1)[0]), dict(response_headers), chunks=pieces)
        app_iter, status, response_headers = run_wsgi_app(self.app, environ, buffered=True)
        try:
            payload = b"".join(app_iter)
        finally:
            if hasattr(app_iter, "close"):
                app_iter.close()
        return Reply(int(status.split(" ", 1)[0]), dict(response_headers), payload)
