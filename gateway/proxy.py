"""Forwarding to the owning service: over HTTP, or straight into its WSGI app when the
whole system runs in one process. Both speak the same (status, headers, body) shape."""
from __future__ import annotations

import contextvars
import http.client
import json
import re
import select
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from werkzeug.datastructures import Headers
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
                             "Idempotency-Key", "Prefer")
RETURNED_HEADERS = ("Content-Type", "ETag", "Content-Disposition", "Retry-After",
                    "Location", "Idempotent-Replayed", "X-Content-Type-Options",
                    "Preference-Applied")


# How long the gateway waits for a service's answer: long only where a route needs it; a
# stalled service otherwise holds a gateway thread for the whole wait, long after its
# client has given up. The largest import the customer service takes (50,000 rows)
# runs ~265 s on 2 cores (bench/import_export.py: ~190 rows/s); at 180 s its client got
# a 504 while the import went on to the end. (Sent with `Prefer: respond-async`, an
# import answers 202 at once and runs in the service's background.)
DEFAULT_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 2.0
LONG_ROUTES = ((re.compile(rf"^{API}/customers/import$"), 600.0),
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


class _Connections(threading.local):
    """This thread's kept-alive connection to one service. gunicorn's threads live as long
    as their worker, so each keeps one connection per service it calls and no lock, pool
    or URL parsing is paid per request (urllib3's PoolManager cost 0.67 ms of CPU
    per forwarded GET against 0.31 ms for this, measured back to back)."""
    connection: http.client.HTTPConnection | None = None


class HttpServiceClient:
    """`path` is decoded (as Flask hands it over); `query` is the raw query string.

    One kept-alive HTTP/1.1 connection per gateway thread and service. A connection the
    service closed while idle (its keep-alive ran out) is noticed before it is used and
    replaced; nothing is ever retried (a request may have changed something)."""

    def __init__(self, name: str, base_url: str, *, max_in_flight: int = MAX_IN_FLIGHT,
                 timeout: float = DEFAULT_TIMEOUT_S):
        self.name = name
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL for the {name} service: {base_url!r}")
        self._connection_class = (http.client.HTTPSConnection if parts.scheme == "https"
                                  else http.client.HTTPConnection)
        self._address = (parts.hostname, parts.port)
        self._prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._kept = _Connections()

    def request(self, method: str, path: str, *, query: str = "", headers: dict | None = None,
                body: bytes | None = None, timeout: float | None = None) -> Reply:
        if not self._slots.acquire(timeout=SLOT_WAIT_S):
            raise ServiceBusy(f"{self.name} 服务繁忙，请稍后再试 / The {self.name} service is "
                              "busy; try again shortly.", headers={"Retry-After": "2"})
        target = self._prefix + request_target(path, query)
        read_timeout = timeout or upstream_timeout(path, self.timeout)
        streamed = is_streamed(method, path)
        connection = None
        try:
            connection = self._connection(read_timeout)
            connection.request(method, target, body=body or None, headers=headers or {})
            response = connection.getresponse()
            # case-insensitive, as the headers of HTTP are (a service may send `etag`)
            reply_headers = Headers(response.getheaders())
            if not streamed:
                payload = response.read()
        except TimeoutError:
            self._discard(connection)
            raise ServiceTimeout(f"{self.name} 服务未及时应答 / The {self.name} service did "
                                 "not answer in time.") from None
        except (OSError, http.client.HTTPException) as error:
            self._discard(connection)
            raise ServiceUnavailable(f"The {self.name} service did not answer: "
                                     f"{error.__class__.__name__}") from None
        finally:
            self._slots.release()   # the service has answered: it is not stalled
        if streamed:
            self._kept.connection = None   # this thread's next request gets another one
            return Reply(response.status, reply_headers,
                         chunks=self._passed_on(connection, response))
        return Reply(response.status, reply_headers, payload)

    def _connection(self, read_timeout: float) -> http.client.HTTPConnection:
        """This thread's connection, opened now if it has none or the service closed it
        while it was idle; its socket then waits `read_timeout` for each answer."""
        connection = self._kept.connection
        if connection is not None and (connection.sock is None or _dropped(connection.sock)):
            connection.close()
            connection = None
        if connection is None:
            host, port = self._address
            connection = self._connection_class(host, port, timeout=CONNECT_TIMEOUT_S)
            connection.connect()
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._kept.connection = connection
        connection.sock.settimeout(read_timeout)
        return connection

    def _discard(self, connection: http.client.HTTPConnection | None) -> None:
        """A connection whose exchange failed is never used again."""
        if connection is not None:
            connection.close()
        if self._kept.connection is connection:
            self._kept.connection = None

    def _passed_on(self, connection: http.client.HTTPConnection,
                   response: http.client.HTTPResponse) -> Iterator[bytes]:
        """A streamed answer's pieces; its connection is kept for this thread again only
        when read to the end (a client that left mid-way leaves it half-read: closed)."""
        finished = False
        try:
            while piece := response.read1(STREAM_CHUNK):
                yield piece
            finished = True
        except TimeoutError:
            raise ServiceTimeout(f"{self.name} 服务未及时应答 / The {self.name} service did "
                                 "not answer in time.") from None
        finally:
            if finished and self._kept.connection is None and connection.sock is not None:
                self._kept.connection = connection
            else:
                connection.close()


def _dropped(sock: socket.socket) -> bool:
    """Whether an idle kept-alive connection was closed (or sent something unasked) by
    the service: either way it is readable, and not reusable."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    try:
        return bool(poller.poll(0))
    except OSError:
        return True


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
