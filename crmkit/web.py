"""Thin Flask entry points: parse with marshmallow, call a handler, dump; errors as
problem+json; the caller's identity from the gateway-minted internal token.
"""
from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from flask import Blueprint, Flask, Response, g, request
from marshmallow import Schema, ValidationError, fields, validate
from werkzeug.exceptions import HTTPException

from crmkit.auth import TokenService, bearer_token
from crmkit.context import set_correlation_id
from crmkit.errors import (DomainError, Forbidden, Invalid, PreconditionFailed,
                           UnsupportedMediaType)
from crmkit.identity import Identity
from crmkit.problems import flatten_errors, problem_response

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
UNKNOWN_FIELD = "Unknown field."


# --------------------------------------------------------------------------- responses
def json_response(data: Any, status: int = 200, *, version: int | None = None,
                  headers: dict | None = None) -> Response:
    response = Response(json.dumps(data, ensure_ascii=False, default=str), status=status,
                        content_type="application/json")
    if version is not None:
        response.headers["ETag"] = f'"{version}"'
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def no_content() -> Response:
    return Response(status=204)


# --------------------------------------------------------------------------- input
# Our bodies nest a few levels; the JSON parser, marshmallow and our own walks recurse
# once per level, so a depth of 1,000 was a RecursionError (a 500, even on the login).
MAX_JSON_DEPTH = 32
# Once its escapes are gone a JSON string is plain "...": possessive, so an unterminated
# one is tried once, never rescanned.
_JSON_STRING = re.compile(r'"[^"]*+"')
_NOT_BRACKET = bytes(range(256)).translate(None, b"[]{}")
_ONE_BRACKET = bytes.maketrans(b"{}", b"[]")
# Decoded strictly as UTF-8, a body can hold a lone surrogate only through an escape
# \uD800-\uDFFF, so without one there is nothing to look for.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# The only text a Python str cannot encode as UTF-8 (MongoDB's BSON, our responses).
_SURROGATE = re.compile("[\ud800-\udfff]")
UNENCODABLE = ("Text that cannot be encoded as UTF-8 (a lone surrogate). "
               "文本含有无法编码的字符。")
TOO_MANY_ITEMS = "At most {limit} items. 最多 {limit} 项。"


def _invalid_from(error: ValidationError) -> Invalid:
    errors = flatten_errors(error.messages)
    unknown = any(UNKNOWN_FIELD in texts for texts in errors.values())
    return Invalid(errors, code="unknown_field" if unknown else None)


def load(schema: Schema | type[Schema], data, *, partial: bool = False) -> dict:
    """Validate `data` with a schema; raise Invalid (422) naming each field.

    Collections longer than their field's declared validate.Length are refused first:
    marshmallow checks a list's length only after deserializing every item."""
    instance = schema() if isinstance(schema, type) else schema
    oversized = _oversized(instance, data)
    if oversized:
        raise Invalid(oversized)
    try:
        return instance.load(data, partial=partial)
    except ValidationError as error:
        raise _invalid_from(error) from None


def _oversized(schema: Schema, data, prefix: str = "") -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not isinstance(data, dict):
        return errors
    for name, field in schema.load_fields.items():
        key = field.data_key or name
        value, path = data.get(key), f"{prefix}{key}"
        limit = _max_length(field)
        if isinstance(value, (list, dict)) and limit is not None and len(value) > limit:
            errors[path] = [TOO_MANY_ITEMS.format(limit=limit)]
            continue
        many = isinstance(field, fields.List) or getattr(field, "many", False)
        nested = field.inner if isinstance(field, fields.List) else field
        if not isinstance(nested, fields.Nested):
            continue
        if many and isinstance(value, list):   # within its bound: now each item's own
            for index, item in enumerate(value):
                errors.update(_oversized(nested.schema, item, f"{path}.{index}."))
        elif not many:
            errors.update(_oversized(nested.schema, value, f"{path}."))
    return errors


def _max_length(field: fields.Field) -> int | None:
    limits = [v.max for v in field.validators
              if isinstance(v, validate.Length) and v.max is not None]
    return min(limits) if limits else None


@lru_cache(maxsize=4)
def _nesting_within(limit: int) -> re.Pattern:
    """Brackets nested at most `limit` deep (the last ones may be left open), matched
    without backtracking: the match stops at the first bracket that goes deeper."""
    pattern = b""
    for _ in range(limit):
        pattern = rb"(?:\[" + pattern + rb"(?:\]|\Z))*+"
    return re.compile(pattern)


def nests_deeper(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays and objects in JSON `text` nest more than `limit` deep, found
    without parsing it (brackets inside strings do not count) in linear time."""
    if text.count("[") + text.count("{") <= limit:   # most bodies: nothing to count
        return False
    # Escapes never end a string: drop escaped backslashes first (pairs, left to right
    # as JSON reads them), then escaped quotes; what is left between quotes is string.
    plain = text.replace("\\\\", "").replace('\\"', "")
    outside = _JSON_STRING.sub("", plain).encode("utf-8", "surrogatepass")
    brackets = outside.translate(_ONE_BRACKET, _NOT_BRACKET)
    end = _nesting_within(limit).match(brackets).end()
    # stopped at an opener: it goes deeper; at a closer with nothing open, a parser
    # stops too (the body is malformed), so whatever follows is never nested into
    return end < len(brackets) and brackets[end] == ord("[")


def unencodable_fields(value, path: str = "") -> dict[str, list[str]]:
    """{dotted.path: [message]} of every text in `value` (keys too) that UTF-8 cannot
    encode: stored, it fails the database write or every later read."""
    if isinstance(value, str):
        return {path or "_schema": [UNENCODABLE]} if _SURROGATE.search(value) else {}
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return {}
    errors: dict[str, list[str]] = {}
    for key, item in items:
        key = str(key)
        if _SURROGATE.search(key):   # named as it can be sent back: \ud800
            key = key.encode("utf-8", "backslashreplace").decode()
            errors[f"{path}.{key}" if path else key] = [UNENCODABLE]
        else:
            errors.update(unencodable_fields(item, f"{path}.{key}" if path else key))
    return errors


def parse_json(raw: bytes) -> Any:
    """A request body parsed as JSON; refused before parsing when it is not UTF-8 or
    nests deeper than MAX_JSON_DEPTH, and after it when it holds text that cannot be
    encoded (422 naming the fields)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DomainError("The request body is not valid UTF-8 JSON. "
                          "请求正文不是有效的 UTF-8 JSON。", code="malformed_json") from None
    if nests_deeper(text):
        raise DomainError(f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels. "
                          f"JSON 嵌套不能超过 {MAX_JSON_DEPTH} 层。",
                          code="too_deeply_nested")
    try:
        value = json.loads(text)
    except ValueError:
        raise DomainError("The request body is not valid JSON.",
                          code="malformed_json") from None
    if _SURROGATE_ESCAPE.search(text):
        errors = unencodable_fields(value)
        if errors:
            raise Invalid(errors, code="unencodable_text")
    return value


def json_body() -> Any:
    """The request's JSON body ({} when there is none); 415 for a body sent as another
    media type (application/json and application/*+json are JSON)."""
    raw = request.get_data(cache=True)   # raw even for form types, which .data hides
    if not raw:
        return {}
    if not request.is_json:
        raise UnsupportedMediaType(
            "Send the body as JSON (Content-Type: application/json). "
            "请以 JSON 发送请求正文(Content-Type: application/json)。")
    return parse_json(raw)


def parse_body(schema, *, partial: bool = False) -> dict:
    body = json_body()
    if not isinstance(body, dict):
        raise Invalid("_schema", "The body must be a JSON object.")
    return load(schema, body, partial=partial)


def parse_query(schema, *, many: tuple[str, ...] = ()) -> dict:
    """Query string → schema; names in `many` may repeat (?tag=a&tag=b)."""
    args = {}
    for key in request.args:
        values = request.args.getlist(key)
        args[key] = values if key in many else values[-1]
    errors = unencodable_fields(args)
    if errors:
        raise Invalid(errors, code="unencodable_text")
    return load(schema, args)


def if_match_version() -> int | None:
    """The version an If-Match header names ("3", W/"3" or 3); None when absent or `*`."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":   # RFC 9110 13.1.1: * matches any current one
        return None
    text = header.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise PreconditionFailed("If-Match must carry the resource version.",
                                 code="stale_version")
    return int(text)


def change_request(schema, *, partial: bool = False) -> tuple[Identity, int | None, dict]:
    """What a request that changes a versioned record brings, checked in this order
    (401, then a malformed If-Match, then the body's 422): who asks, the version its
    If-Match names, the body."""
    viewer = current_identity()
    return viewer, if_match_version(), parse_body(schema, partial=partial)


# --------------------------------------------------------------------------- identity
def current_identity() -> Identity:
    identity = getattr(g, "identity", None)
    if identity is None:  # a route forgot to be under the authenticated prefix
        raise Forbidden("No caller identity.", code="unauthenticated")
    return identity


def require_role(minimum: str) -> Identity:
    identity = current_identity()
    if not identity.at_least(minimum):
        raise Forbidden(f"This needs the {minimum} role or higher.", code="forbidden")
    return identity


# --------------------------------------------------------------------------- routes + OpenAPI
@dataclass
class Operation:
    path: str
    method: str
    summary: str
    tags: list[str]
    body: Any = None
    query: Any = None
    response: Any = None
    status: int = 200
    many: bool = False            # a JSON array of `response`
    listed: bool = False          # {"items": [response, ...], "total": n}, unpaged
    paginated: bool = False       # listed, plus page and per_page
    public: bool = False          # needs no bearer token (login, feeds)
    extra_responses: dict = field(default_factory=dict)


class ApiBlueprint(Blueprint):
    """A Blueprint whose routes also describe themselves for the OpenAPI document."""

    def __init__(self, name: str, import_name: str, *, tag: str, **kwargs):
        super().__init__(name, import_name, **kwargs)
        self.tag = tag
        self.operations: list[Operation] = []

    def endpoint_doc(self, rule: str, method: str, *, summary: str, body=None, query=None,
                     response=None, status: int = 200, many=False, listed=False,
                     paginated=False, public=False):
        self.operations.append(Operation(
            path=(self.url_prefix or "") + rule, method=method.lower(), summary=summary,
            tags=[self.tag], body=body, query=query, response=response, status=status,
            many=many, listed=listed, paginated=paginated, public=public))

    def operation(self, rule: str, method: str = "GET", *, summary: str, body=None,
                  query=None, response=None, status: int = 200, many=False,
                  listed=False, paginated=False, public=False, **options):
        def register(view):
            self.endpoint_doc(rule, method, summary=summary, body=body, query=query,
                              response=response, status=status, many=many, listed=listed,
                              paginated=paginated, public=public)
            self.add_url_rule(rule, view.__name__, view, methods=[method], **options)
            return view
        return register


def openapi_document(title: str, blueprints: list[ApiBlueprint], version: str = "1.0.0") -> dict:
    from apispec import APISpec
    from apispec.ext.marshmallow import MarshmallowPlugin

    spec = APISpec(title=title, version=version, openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin(schema_name_resolver=_schema_name)])
    spec.components.schema("Problem", {"type": "object", "properties": {
        "status": {"type": "integer"}, "title": {"type": "string"},
        "detail": {"type": "string"}, "code": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {
            "type": "array", "items": {"type": "string"}}}}})
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer",
                                               "bearerFormat": "JWT"})
    for status, text in PROBLEM_STATUSES.items():
        spec.components.response(_problem_response_name(status), {
            "description": text, "content": {"application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"}}}})
    paths: dict[str, dict] = {}
    for blueprint in blueprints:
        for op in blueprint.operations:
            path = re.sub(r"<(?:[a-z_]+:)?([a-z_]+)>", r"{\1}", op.path)
            paths.setdefault(path, {})[op.method] = _operation_doc(op, path)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _schema_name(schema) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    return cls.__name__.removesuffix("Schema") or cls.__name__


def _operation_doc(op: Operation, path: str) -> dict:
    doc: dict = {"summary": op.summary, "tags": op.tags,
                 "security": [] if op.public else [{"bearer": []}], "responses": {}}
    params = [{"in": "path", "name": name, "required": True, "schema": {"type": "string"}}
              for name in re.findall(r"{([a-z_]+)}", path)]
    if op.query is not None:
        params.append({"in": "query", "schema": op.query})
    if params:
        doc["parameters"] = params
    if op.body is not None:
        doc["requestBody"] = {"required": True,
                              "content": {"application/json": {"schema": op.body}}}
    if op.response is not None:
        schema: Any = op.response
        if op.paginated:
            schema = {"type": "object", "required": ["items", "total", "page", "per_page"],
                      "properties": {
                "items": {"type": "array", "items": op.response},
                "total": {"type": "integer"}, "page": {"type": "integer"},
                "per_page": {"type": "integer"}}}
        elif op.listed:
            schema = {"type": "object", "required": ["items", "total"], "properties": {
                "items": {"type": "array", "items": op.response},
                "total": {"type": "integer"}}}
        elif op.many:
            schema = {"type": "array", "items": op.response}
        doc["responses"][str(op.status)] = {
            "description": "OK", "content": {"application/json": {"schema": schema}}}
    else:
        doc["responses"][str(op.status)] = {"description": "OK"}
    writes = op.method in ("post", "put", "patch", "delete")
    for status in PROBLEM_STATUSES:
        if status in WRITE_PROBLEMS and not writes:
            continue
        doc["responses"].setdefault(str(status), {
            "$ref": f"#/components/responses/{_problem_response_name(status)}"})
    return doc


# Every failure is application/problem+json (crmkit.problems), answered by the gateway
# (authentication, limits, a service it cannot reach) or by the service (its rules).
# Documented on every operation: any request may be malformed, unauthenticated, refused,
# throttled or meet a busy service; the write statuses only on writes.
PROBLEM_STATUSES = {
    400: "Malformed request: a body that is not JSON or nests too deeply, an encoded "
         "query separator",
    401: "Not authenticated: no, an expired or a revoked token",
    403: "Not allowed for the caller's role, or the password must be changed first",
    404: "Not found or not visible to the caller",
    409: "Conflict with the current state (e.g. taken, already done, changed meanwhile)",
    412: "If-Match names a version that is no longer current",
    413: "Request body too large",
    414: "Path and query too long",
    415: "The body is not sent as JSON",
    422: "Validation failed: `errors` names each field",
    429: "Too many requests (Retry-After says when to retry)",
    431: "Request headers too large",
    503: "The owning service is unavailable or at its concurrency limit (Retry-After)",
    504: "The owning service did not answer in time",
}
WRITE_PROBLEMS = (409, 412, 413, 415)


def _problem_response_name(status: int) -> str:
    return f"Problem{status}"


# --------------------------------------------------------------------------- app wiring
def install_request_id(app: Flask) -> None:
    @app.before_request
    def _request_id():
        given = request.headers.get(REQUEST_ID_HEADER, "")
        # 32 random hex digits, as uuid4().hex gave, without building a UUID per request
        g.request_id = given if _REQUEST_ID.match(given) else os.urandom(16).hex()
        set_correlation_id(g.request_id)

    @app.after_request
    def _echo_request_id(response):
        request_id = getattr(g, "request_id", None)
        if request_id:
            response.headers[REQUEST_ID_HEADER] = request_id
        return response


def install_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError):
        extra = dict(error.extra)
        headers = extra.pop("headers", None)
        if isinstance(error, Invalid):
            extra["errors"] = error.errors
        return problem_response(error.status, error.code, error.detail, headers=headers,
                                **extra)

    @app.errorhandler(ValidationError)
    def _validation_error(error: ValidationError):
        return _domain_error(_invalid_from(error))

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
                 413: "payload_too_large", 415: "unsupported_media_type"}
        return problem_response(error.code or 500, codes.get(error.code, "http_error"),
                                error.description or "")

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem_response(500, "internal_error", "An unexpected error occurred.")


def install_authentication(app: Flask, tokens: TokenService, *, prefix: str = "/api/",
                           public_paths: tuple[str, ...] = ()) -> None:
    """Every /api/ route needs the internal token the gateway minted for this request,
    except `public_paths` that authenticate otherwise (e.g. a calendar feed token)."""

    @app.before_request
    def _authenticate():
        if not request.path.startswith(prefix) or request.path.startswith(tuple(public_paths)):
            return None
        g.identity = tokens.verify_internal(bearer_token(request.headers.get("Authorization")))
        return None
