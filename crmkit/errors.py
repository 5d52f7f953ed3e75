"""Errors that the domain raises and the HTTP layer turns into problem+json.

Domain code raises these without knowing about HTTP; `crmkit.web` maps each to its
status. `code` is the machine-readable code of CONTRACT §2.
"""
from __future__ import annotations


class DomainError(Exception):
    status = 400
    default_code = "bad_request"
    title = "Bad request"

    def __init__(self, detail: str = "", *, code: str | None = None, **extra):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.code = code or self.default_code
        self.extra = extra  # more members for the problem document (e.g. matches)


class Conflict(DomainError):
    status = 409
    default_code = "conflict"
    title = "Conflict"


class Forbidden(DomainError):
    status = 403
    default_code = "forbidden"
    title = "Forbidden"


class NotFound(DomainError):
    status = 404
    default_code = "not_found"
    title = "Not found"


class PreconditionFailed(DomainError):
    status = 412
    default_code = "stale_version"
    title = "Precondition failed"


class Unauthorized(DomainError):
    status = 401
    default_code = "unauthorized"
    title = "Unauthorized"


class UnsupportedMediaType(DomainError):
    status = 415
    default_code = "unsupported_media_type"
    title = "Unsupported media type"


class TooManyRequests(DomainError):
    status = 429
    default_code = "rate_limited"
    title = "Too many requests"


class Invalid(DomainError):
    """422 naming the offending field(s): errors = {field: [message, ...]}."""

    status = 422
    default_code = "validation_error"
    title = "Validation failed"

    def __init__(self, errors: dict[str, list[str]] | str, message: str | None = None,
                 *, code: str | None = None, **extra):
        if isinstance(errors, str):  # Invalid("field", "message")
            errors = {errors: [message or "Invalid value."]}
        self.errors = errors
        fields = ", ".join(sorted(errors))
        super().__init__(f"Invalid input: {fields}", code=code, **extra)


class VersionConflict(Conflict):
    """A conditional update lost a race: the document changed since it was read."""

    default_code = "version_conflict"


class PayloadTooLarge(DomainError):
    status = 413
    default_code = "payload_too_large"
    title = "Payload too large"
