"""Liveness and readiness probes; unauthenticated by design."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text

from metapaas import db
from metapaas.api.deps import AppState, app_state

router = APIRouter(tags=["health"])


class Readiness(BaseModel):
    """What ``/readyz`` found; a probe reads the status code, a person the checks."""

    status: Literal["ready", "not ready"]
    checks: dict[str, str] = Field(
        description="`database` and `migrations`: `ok`, `pending` or `error: <kind>`."
    )


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database answers and every migration stream is current",
    response_model=Readiness,
    # Not a problem: a probe's answer, the same document as the 200.
    responses={503: {"model": Readiness, "description": "Not ready; `checks` says why"}},
)
def readyz(state: Annotated[AppState, Depends(app_state)]) -> JSONResponse:
    checks: dict[str, str] = {}
    engine = db.for_reading(state.engine)  # a probe never waits for a writer
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
        current = state.registry.is_current(engine) and state.providers.is_current(engine)
        checks["migrations"] = "ok" if current else "pending"
    except Exception as exc:  # readiness reports, it never raises
        checks["database"] = f"error: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )
