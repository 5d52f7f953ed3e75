"""application/problem+json bodies (RFC 9457) with the CONTRACT's `code` and `errors`."""
from __future__ import annotations

import json

from flask import Response

from crmkit.context import current_correlation_id

CONTENT_TYPE = "application/problem+json"

TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
          405: "Method not allowed", 409: "Conflict", 412: "Precondition failed",
          413: "Payload too large", 415: "Unsupported media type",
          422: "Validation failed", 429: "Too many requests",
          500: "Internal server error", 502: "Bad gateway", 503: "Service unavailable",
          504: "Gateway timeout"}


def problem_body(status: int, code: str, detail: str, *, title: str | None = None,
                 errors: dict | None = None, **extra) -> dict:
    body = {"type": "about:blank", "status": status, "title": title or TITLES.get(status, "Error"),
            "detail": detail, "code": code}
    if errors is not None:
        body["errors"] = errors
    request_id = current_correlation_id()
    if request_id:
        body["request_id"] = request_id
    body.update(extra)
    return body


def problem_response(status: int, code: str, detail: str, *, headers: dict | None = None,
                     **kwargs) -> Response:
    body = problem_body(status, code, detail, **kwargs)
    response = Response(json.dumps(body, ensure_ascii=False, default=str), status=status,
                        content_type=CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def flatten_errors(messages, prefix: str = "") -> dict[str, list[str]]:
    """{"primary_contact": {"phone": ["bad"]}} -> {"primary_contact.phone": ["bad"]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "_schema":
                name = prefix or "_schema"
            for field, texts in flatten_errors(value, name).items():
                flat.setdefault(field, []).extend(texts)
    elif isinstance(messages, (list, tuple)):
        if all(isinstance(m, str) for m in messages):
            flat[prefix or "_schema"] = list(messages)
        else:
            for item in messages:
                for field, texts in flatten_errors(item, prefix).items():
                    flat.setdefault(field, []).extend(texts)
    else:
        flat[prefix or "_schema"] = [str(messages)]
    return flat
