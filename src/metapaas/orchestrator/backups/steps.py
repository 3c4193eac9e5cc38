"""What the backup operations share: their operations, the node that runs their steps,
and the step commands themselves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from metapaas import sdk
from metapaas.db import models
from metapaas.orchestrator import commands, status
from metapaas.plugins import LoadedType

BACKUP_KIND = "backup"
"""The operation kind of a backup; the backup's id is its operation's."""
DELETE_KIND = "backup_delete"
"""A user's deletion of one backup (``params.backup``)."""
DRILL_KIND = "drill"
"""A restore drill of one backup (``params.backup``) onto a scratch instance."""
KINDS = frozenset({BACKUP_KIND, DELETE_KIND, DRILL_KIND})
"""Operations their own steps end: an instance's verdict never does."""


@dataclass(frozen=True)
class Pass:
    """What one reconciler pass knows of the instance whose backups it moves on."""

    session: Session
    instance: models.Instance
    loaded: LoadedType
    view: sdk.InstanceView
    nodes: Sequence[models.Node]
    queued: list[models.NodeCommand]
    """The instance's commands; those queued in the pass are appended."""
    now: datetime


def running(
    session: Session, instance_id: str, kind: str, *, pending_too: bool = False
) -> list[models.Operation]:
    """The instance's operations of ``kind`` under way (and, with ``pending_too``, those
    no pass has taken up yet)."""
    states = models.OPEN_OPERATIONS if pending_too else (models.OperationState.RUNNING,)
    return list(
        session.scalars(
            select(models.Operation)
            .where(
                models.Operation.instance_id == instance_id,
                models.Operation.kind == kind,
                models.Operation.state.in_(states),
            )
            .order_by(models.Operation.created_at)
        )
    )


def start(
    session: Session,
    instance: models.Instance,
    kind: str,
    params: Mapping[str, Any],
    progress: str,
) -> models.Operation:
    """An operation the orchestrator starts itself (a schedule's backup, a drill): running
    from the start, as the pass that made it takes it up."""
    op = models.Operation(
        kind=kind,
        instance_id=instance.id,
        project_id=instance.project_id,
        target_generation=instance.generation,
        params=dict(params),
        state=models.OperationState.RUNNING,
        progress=progress,
    )
    session.add(op)
    session.flush()
    return op


def end(op: models.Operation, reason: str = "") -> None:
    """End ``op``: failed with ``reason``, or succeeded without one."""
    op.state = models.OperationState.FAILED if reason else models.OperationState.SUCCEEDED
    op.error = reason
    op.progress = "failed" if reason else "done"


def maker(
    declared: sdk.Backups, nodes: Sequence[models.Node], generation: int
) -> models.Node | None:
    """The node that runs the steps on the instance's repository: the first of the
    backup role, once it serves."""
    of_role = [n for n in nodes if n.role == declared.role]
    first = min(of_role, key=lambda n: n.ordinal, default=None)
    if first is None or first.state != models.NodeState.RUNNING:
        return None
    return None if status.waiting_on(first, generation, None) else first


def step(
    loaded: LoadedType, view: sdk.InstanceView, node: models.Node, name: str
) -> sdk.Command | None:
    """The step command ``name`` the node's role declares; the agent runs a snapshot
    type's ``expire`` by itself, so one is made for it."""
    declared = commands.declared(loaded, view.version, node.role, name)
    if declared is None and name == sdk.introspect.EXPIRE_STEP and _agent_stored(loaded):
        return sdk.Command(name=name, argv=(), timeout=300)
    return declared


def _agent_stored(loaded: LoadedType) -> bool:
    backups = loaded.declaration.backups
    return backups is not None and backups.stored_by == "agent"


def command_for(
    queued: Sequence[models.NodeCommand], name: str, backup_id: str
) -> models.NodeCommand | None:
    """The newest ``name`` step queued for backup ``backup_id``."""
    found = [c for c in queued if c.name == name and c.args.get("backup") == backup_id]
    return found[-1] if found else None


def queue(
    this: Pass, node: models.Node, command: sdk.Command, args: Mapping[str, Any]
) -> models.NodeCommand:
    """Queue a step on ``node``, and add it to the pass's commands."""
    row = commands.queue(this.session, this.instance.id, node.name, command, this.now, args)
    this.queued.append(row)
    return row


def wrong_in(exc: ValidationError) -> str:
    """What is wrong with a step's report, in one line a person reads (the fields and
    rules, without pydantic's pointers to its documentation)."""
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'the report'}: {error['msg']}"
        for error in exc.errors()
    )
