"""Every error leaves as ``application/problem+json`` (RFC 9457), and the OpenAPI document says so.

:class:`ProblemDetails` is the body every error answer carries; :func:`problem_responses`
is the one place routes declare which of those answers they give, and :func:`install`
turns exceptions into them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from metapaas import db, sdk
from metapaas.api import boundary
from metapaas.errors import Conflict, FieldError, Invalid, Problem, Unavailable

log = logging.getLogger(__name__)

PROBLEM_TYPE = "application/problem+json"


class FieldProblem(BaseModel):
    """One rule a request broke."""

    field: str = Field(description="Dotted path into the request, e.g. `size` or `body`.")
    rule: str = Field(description="Stable code of the rule, e.g. `unique` or `missing`.")
    message: str


class ProblemDetails(BaseModel):
    """An RFC 9457 problem: the body of every error answer."""

    type: str = Field(description="`urn:metapaas:problem:<code>`, stable for programs to test.")
    title: str
    status: int
    detail: str
    instance: str = Field(description="The path of the request.")
    request_id: str = Field(description="Also sent as `X-Request-ID`; quote it when reporting.")
    errors: list[FieldProblem] = Field(
        default_factory=list, description="The fields at fault and the rule each broke, if any."
    )


_DESCRIPTIONS = {
    401: "No valid bearer token was sent",
    403: "The caller's role lacks the permission",
    404: "Not found, or in a project where the caller holds no role",
    409: "The request conflicts with the current state",
    422: "The request is not valid; `errors` names each field and the rule it broke",
    503: "Temporarily unavailable; retry after `Retry-After` seconds",
}
_RETRY_AFTER = {
    "description": "Seconds to wait before retrying.",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}
_SCHEMA_REF = {"$ref": f"#/components/schemas/{ProblemDetails.__name__}"}
_FASTAPI_422 = {"$ref": "#/components/schemas/HTTPValidationError"}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` declaration of a route's (or router's) problem answers."""
    return {status: _declaration(status) for status in statuses}


def _declaration(status: int) -> dict[str, Any]:
    declared: dict[str, Any] = {
        "description": _DESCRIPTIONS[status],
        "content": {PROBLEM_TYPE: {"schema": _SCHEMA_REF}},
    }
    if status == Unavailable.status:
        declared["headers"] = {"Retry-After": _RETRY_AFTER}
    return declared


def problem_response(
    request: Request,
    status: int,
    code: str,
    title: str,
    detail: str,
    errors: Iterable[FieldError] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ProblemDetails(
        type=f"urn:metapaas:problem:{code}",
        title=title,
        status=status,
        detail=detail,
        instance=request.url.path,
        request_id=getattr(request.state, "request_id", ""),
        errors=[FieldProblem(field=e.field, rule=e.rule, message=e.message) for e in errors],
    )
    return JSONResponse(
        body.model_dump(exclude_defaults=True),  # no ``errors`` key when there are none
        status_code=status,
        media_type=PROBLEM_TYPE,
        headers=headers,
    )


def field_errors(
    raw: Sequence[Any], *, strip_location: bool = True, prefix: str = ""
) -> tuple[FieldError, ...]:
    """Pydantic errors as field errors; ``body``/``query``/``path`` heads are dropped."""
    out = []
    for err in raw:
        loc = [str(part) for part in err.get("loc", ())]
        if err.get("type") == "json_invalid":
            loc = ["body"]  # pydantic puts the character offset where the field goes
        elif strip_location and loc and loc[0] in {"body", "query", "path", "header"}:
            loc = loc[1:]
        field = ".".join(([prefix] if prefix else []) + loc) or "body"
        out.append(
            FieldError(field=field, rule=str(err.get("type", "invalid")), message=err["msg"])
        )
    return tuple(out)


def invalid_from(exc: ValidationError, prefix: str = "") -> Invalid:
    errors = field_errors(exc.errors(), strip_location=False, prefix=prefix)
    return Invalid("; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)


def install(app: FastAPI) -> None:
    """Answer every exception with a problem, and document the problems in ``/openapi.json``."""
    _install_handlers(app)
    app.openapi = _documenting_problems(app, app.openapi)  # type: ignore[method-assign]


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        headers = None
        if isinstance(exc, Unavailable):
            headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
        return problem_response(
            request, exc.status, exc.code, exc.title, exc.detail, exc.errors, headers
        )

    @app.exception_handler(sdk.TemporaryError)
    async def _temporary(request: Request, exc: sdk.TemporaryError) -> JSONResponse:
        return await _problem(request, Unavailable(str(exc), retry_after=exc.delay))

    @app.exception_handler(sdk.PermanentError)
    async def _permanent(request: Request, exc: sdk.PermanentError) -> JSONResponse:
        # 409, not 422: the request passed every schema and names no field at fault (a type
        # that blames a field raises sdk.Invalid, a 422); the type refuses it for the state
        # the instance is in, which only another change can alter, never a retry.
        return await _problem(request, Conflict(str(exc)))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = field_errors(exc.errors())
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
        return problem_response(
            request, 422, Invalid.code, Invalid.title, detail or "invalid request", errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, UnicodeDecodeError):
            # FastAPI's 400 for a body that is not UTF-8: not JSON either (RFC 8259 says
            # UTF-8), so the same 422 as any other body that is not JSON.
            error = FieldError("body", "json_invalid", "the body is not UTF-8 JSON")
            return await _problem(request, Invalid(error.message, errors=(error,)))
        code = "not-found" if exc.status_code == 404 else f"http-{exc.status_code}"
        headers = dict(exc.headers or {})  # whatever the exception carries is kept
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request, headers.get("Allow", ""))
        detail = str(exc.detail)
        return problem_response(request, exc.status_code, code, detail, detail, (), headers)

    @app.exception_handler(SQLAlchemyError)
    async def _database(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        """A database that is down, busy or out of connections: a 503, logged in one line."""
        unavailable = db.outage(exc)
        if unavailable is None:
            return await _unexpected(request, exc)
        log.warning("%s %s: 503, %s", request.method, request.url.path, db.summary(exc))
        return await _problem(request, unavailable)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            request, 500, "internal", "Internal error", "an unexpected error was logged"
        )


def _allowed_methods(request: Request, said: str) -> str:
    """Every method the document declares on the path (``said``, Starlette's ``Allow``,
    names only the methods of the first route matching the path, and a path is often
    served by one route per method)."""
    declared = {method.upper() for item in boundary.path_items(request) for method in item}
    if "GET" in declared:
        declared.add("HEAD")  # Starlette answers HEAD wherever it answers GET
    return ", ".join(sorted(declared)) or said


def _documenting_problems(
    app: FastAPI, build: Callable[[], dict[str, Any]]
) -> Callable[[], dict[str, Any]]:
    """Wrap ``app.openapi`` so the document it builds (and caches) declares problems."""

    def openapi() -> dict[str, Any]:
        document = build()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        if ProblemDetails.__name__ not in schemas:
            _replace_validation_errors(document)
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
            problem = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(problem.pop("$defs", {}))
            schemas[ProblemDetails.__name__] = problem
        return document

    return openapi


def _replace_validation_errors(document: dict[str, Any]) -> None:
    """FastAPI declares a 422 ``HTTPValidationError`` where it validates input; that answer
    is a problem (the handler above), so the declaration becomes the problem's."""
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.get("responses", {})
            content = responses.get("422", {}).get("content", {})
            if content.get("application/json", {}).get("schema") == _FASTAPI_422:
                responses["422"] = _declaration(422)
