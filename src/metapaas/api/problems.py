"""Every error leaves as ``application/problem+json`` (RFC 9457)."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from metapaas import db
from metapaas.errors import FieldError, Invalid, Problem, Unavailable

log = logging.getLogger(__name__)

PROBLEM_TYPE = "application/problem+json"


def problem_response(
    request: Request,
    status: int,
    code: str,
    title: str,
    detail: str,
    errors: Iterable[FieldError] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:metapaas:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": getattr(request.state, "request_id", ""),
    }
    errors = list(errors)
    if errors:
        body["errors"] = [{"field": e.field, "rule": e.rule, "message": e.message} for e in errors]
    return JSONResponse(body, status_code=status, media_type=PROBLEM_TYPE, headers=headers)


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
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        headers = None
        if isinstance(exc, Unavailable):
            headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
        return problem_response(
            request, exc.status, exc.code, exc.title, exc.detail, exc.errors, headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = field_errors(exc.errors())
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
        return problem_response(
            request, 422, Invalid.code, Invalid.title, detail or "invalid request", errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not-found" if exc.status_code == 404 else f"http-{exc.status_code}"
        return problem_response(request, exc.status_code, code, str(exc.detail), str(exc.detail))

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
