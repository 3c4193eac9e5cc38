"""Asynchronous operations and the audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from metapaas.api.deps import Ctx, InContext
from metapaas.api.instances import operation_view
from metapaas.api.listing import Limit
from metapaas.api.problems import problem_responses
from metapaas.api.timestamps import rfc3339
from metapaas.db import models
from metapaas.errors import NotFound

# Every route reads the caller's token from the database.
router = APIRouter(
    route_class=InContext, prefix="/v1", tags=["operations"], responses=problem_responses(401, 503)
)


@router.get(
    "/operations/{operation_id}",
    summary="State, progress and error of an operation",
    responses=problem_responses(403, 404),
)
def show_operation(ctx: Ctx, operation_id: str) -> dict[str, Any]:
    op = ctx.session.get(models.Operation, operation_id)
    if op is None:
        raise NotFound("operation not found")
    if op.project_id is None:  # an operation on a plugin
        ctx.principal.require_admin()
    else:
        ctx.principal.require("core.operations.get", op.project_id, what="operation")
    return operation_view(op)


@router.get(
    "/audit",
    summary="The audit log, newest first (admins only)",
    tags=["audit"],
    responses=problem_responses(403),
)
def list_audit(
    ctx: Ctx,
    limit: Limit = 100,
    # Bounded to the INTEGER the ids are (32 bits on PostgreSQL): past it both backends
    # failed the query, a 500.
    before: Annotated[
        int | None, Query(ge=0, le=models.INT_MAX, description="Entries with a smaller id.")
    ] = None,
    action: str | None = None,
    project_id: str | None = None,
) -> dict[str, Any]:
    ctx.principal.require_admin()
    stmt = select(models.AuditEntry).order_by(models.AuditEntry.id.desc()).limit(limit)
    if before is not None:
        stmt = stmt.where(models.AuditEntry.id < before)
    if action is not None:
        stmt = stmt.where(models.AuditEntry.action == action)
    if project_id is not None:
        stmt = stmt.where(models.AuditEntry.project_id == project_id)
    rows = list(ctx.session.scalars(stmt))
    return {
        "items": [
            {
                "id": e.id,
                "at": rfc3339(e.at),
                "actor_id": e.actor_id,
                "actor": e.actor_name,
                "action": e.action,
                "target_type": e.target_type,
                "target_id": e.target_id,
                "project_id": e.project_id,
                "request_id": e.request_id,
                "details": e.details,
            }
            for e in rows
        ],
        "next_before": rows[-1].id if len(rows) == limit else None,
    }
