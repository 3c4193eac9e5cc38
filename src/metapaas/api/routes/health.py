"""Liveness and readiness probes; unauthenticated by design."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import text

from metapaas import db
from metapaas.api.deps import AppState, app_state

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database answers and every migration stream is current")
def readyz(state: Annotated[AppState, Depends(app_state)]) -> JSONResponse:
    checks: dict[str, Any] = {}
    engine = db.for_reading(state.engine)  # a probe never waits for a writer
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
        checks["migrations"] = "ok" if state.registry.is_current(engine) else "pending"
    except Exception as exc:  # readiness reports, it never raises
        checks["database"] = f"error: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )
