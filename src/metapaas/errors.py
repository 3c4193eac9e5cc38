"""Errors that reach a client as RFC 9457 problem documents.

Raised anywhere in the control plane; the API turns each into an
``application/problem+json`` response with its status, a stable ``code`` and,
for bad input, the fields at fault and the rule each broke.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One broken rule: ``field`` is a dotted path into the request, ``rule`` a stable code."""

    field: str
    rule: str
    message: str


class Problem(Exception):
    status = 400
    code = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, *, errors: tuple[FieldError, ...] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class Invalid(Problem):
    status = 422
    code = "invalid"
    title = "The request is not valid"

    @classmethod
    def field(cls, field: str, rule: str, message: str) -> Invalid:
        return cls(f"{field}: {message}", errors=(FieldError(field, rule, message),))


class Unauthorized(Problem):
    status = 401
    code = "unauthorized"
    title = "A valid bearer token is required"


class Forbidden(Problem):
    status = 403
    code = "forbidden"
    title = "Permission denied"


class NotFound(Problem):
    status = 404
    code = "not-found"
    title = "Not found"


class Unavailable(Problem):
    """The control plane cannot serve the request now; ``retry_after`` seconds may help.

    Sent with a ``Retry-After`` header: an overloaded or unreachable database, a
    plugin's :class:`~metapaas.sdk.TemporaryError`.
    """

    status = 503
    code = "unavailable"
    title = "Temporarily unavailable"

    def __init__(self, detail: str, *, retry_after: float = 1.0) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Conflict(Problem):
    status = 409
    code = "conflict"
    title = "Conflict with the current state"

    @classmethod
    def field(cls, field: str, rule: str, message: str) -> Conflict:
        return cls(f"{field}: {message}", errors=(FieldError(field, rule, message),))
