"""A small API for the client's tests, served by a real uvicorn: says which process
answered, and answers errors the way the control plane and a proxy do."""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse

app = FastAPI()
STAMP = "2026-01-01T00:00:00Z"


@app.get("/v1/operations/{operation_id}")
def operation(operation_id: str) -> dict[str, Any]:
    """An operation whose ``progress`` names the process that answered."""
    return {
        "id": operation_id,
        "kind": "create",
        "state": "RUNNING",
        "progress": str(os.getpid()),
        "created_at": STAMP,
        "updated_at": STAMP,
    }


@app.post("/v1/types/{slug}/instances/{ref}/actions/retry")
def retry(slug: str, ref: str) -> JSONResponse:
    return JSONResponse({"answered_by": os.getpid()}, status_code=202)


@app.get("/v1/types/invalid/")
def invalid() -> JSONResponse:
    problem = {
        "type": "urn:metapaas:problem:invalid",
        "title": "The request is not valid",
        "status": 422,
        "detail": "replicas: Input should be less than or equal to 3",
        "instance": "/v1/types/invalid/",
        "request_id": "r1",
        "errors": [
            {"field": "replicas", "rule": "less_than_equal", "message": "must be <= 3"},
            {"field": "bogus", "rule": "extra_forbidden", "message": "not allowed"},
        ],
    }
    return JSONResponse(problem, status_code=422, media_type="application/problem+json")


@app.get("/v1/types/gone/")
def gone() -> JSONResponse:
    problem = {
        "type": "urn:metapaas:problem:not_found",
        "title": "Not found",
        "status": 404,
        "detail": "type 'gone' is not installed",
    }
    return JSONResponse(problem, status_code=404, media_type="application/problem+json")


@app.get("/v1/types/proxied/")
def proxied() -> HTMLResponse:
    return HTMLResponse("<html><body>\n  <h1>502 Bad Gateway</h1>\n</body></html>", status_code=502)
