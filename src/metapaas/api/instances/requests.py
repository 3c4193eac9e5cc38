"""Requests on an instance: each is an operation the orchestrator takes up, and none is
taken while the instance is being deleted."""

from __future__ import annotations

from typing import Any

from metapaas.api.deps import Context
from metapaas.api.instances.lookups import open_operation
from metapaas.db import models
from metapaas.errors import Conflict
from metapaas.orchestrator import queue

GONE = (models.InstanceStatus.DELETING, models.InstanceStatus.DELETED)


def refuse_if_gone(ctx: Context, instance: models.Instance) -> None:
    if instance.status in GONE or open_operation(ctx, instance, "delete") is not None:
        raise Conflict(f"instance {instance.name!r} is being deleted")


def operation(
    ctx: Context, instance: models.Instance, kind: str, params: dict[str, Any] | None = None
) -> models.Operation:
    """Record the request (``PENDING``) and queue the instance for the orchestrator."""
    op = models.Operation(
        kind=kind,
        instance_id=instance.id,
        project_id=instance.project_id,
        target_generation=instance.generation,
        params=dict(params or {}),
        progress="queued",
        created_by=ctx.principal.user_id,
    )
    ctx.session.add(op)
    ctx.session.flush()
    queue.enqueue(ctx.session, instance.id, ctx.state.clock())
    return op
