"""Request size limits the gateway answers itself, as problem+json.

gunicorn refuses a request line over `limit_request_line`, a header line over
`limit_request_field_size` or more than `limit_request_fields` headers before any app
sees the request, with a text/html 414/431 page of its own (deploy/README.md). Run
under SERVER_LIMITS (deploy/gunicorn does), gunicorn's limits sit above the gateway's,
so a client over the gateway's limits gets its problem+json and gunicorn's page only
guards against the absurd. MAX_TARGET_BYTES also keeps every forwarded request line
within a service API's gunicorn limit, even one left at gunicorn's default (4094).
"""
from __future__ import annotations

from flask import Flask, request

from crmkit.problems import problem_response
from gateway.proxy import request_target

MAX_TARGET_BYTES = 4000   # path + query as forwarded; gunicorn's default line limit is 4094
MAX_HEADER_BYTES = 8190   # one "Name: value" line (gunicorn's default field size)
MAX_HEADERS = 100         # gunicorn's default field count
# gunicorn settings for every API: backstops above the limits here (8190 is the most
# gunicorn allows for a request line).
SERVER_LIMITS = {"limit_request_line": 8190, "limit_request_field_size": 2 * MAX_HEADER_BYTES,
                 "limit_request_fields": 2 * MAX_HEADERS}


def install_request_limits(app: Flask) -> None:
    @app.before_request
    def _within_limits():
        query = request.query_string
        target = len(request_target(request.path)) + (len(query) + 1 if query else 0)
        if target > MAX_TARGET_BYTES:
            return problem_response(
                414, "uri_too_long",
                f"请求地址过长（最多 {MAX_TARGET_BYTES} 字节）/ The request URI is too "
                f"long (at most {MAX_TARGET_BYTES} bytes).",
                title="URI too long", limit=MAX_TARGET_BYTES)
        headers = list(request.headers.items())
        too_big = next((name for name, value in headers
                        if len(name) + 2 + len(value) > MAX_HEADER_BYTES), None)
        if too_big is not None or len(headers) > MAX_HEADERS:
            return problem_response(
                431, "header_too_large",
                f"请求头过大（每行最多 {MAX_HEADER_BYTES} 字节，最多 {MAX_HEADERS} 个）/ "
                f"Request headers too large (at most {MAX_HEADER_BYTES} bytes each, "
                f"at most {MAX_HEADERS} of them).",
                title="Request header fields too large",
                **({"header": too_big} if too_big else {}))
        return None
