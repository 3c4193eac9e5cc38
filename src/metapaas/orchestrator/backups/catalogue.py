"""Backups taken: a backup operation becomes a step on the node that makes backups, and
the node's report becomes the catalogue's entry.

A backup that fails fails its operation and says so on the backup, never the instance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from metapaas import sdk
from metapaas.db import models
from metapaas.orchestrator import events, status
from metapaas.orchestrator.backups import steps
from metapaas.sdk import introspect


def advance(this: steps.Pass) -> list[models.Backup]:
    """Move the instance's backup operations on; returns the backups that completed in
    this pass."""
    declared = this.loaded.declaration.backups
    completed: list[models.Backup] = []
    for op in steps.running(this.session, this.instance.id, steps.BACKUP_KIND):
        backup = this.session.get(models.Backup, op.id)
        if backup is None:
            if declared is None:
                steps.end(op, f"the {this.loaded.slug} type keeps no backups")
                continue
            _start(this, declared, op)
        elif backup.state == models.BackupState.RUNNING and _catalogue(
            this.session, op, backup, this.queued, this.now
        ):
            completed.append(backup)
    return completed


def _start(this: steps.Pass, declared: sdk.Backups, op: models.Operation) -> None:
    session, instance = this.session, this.instance
    place = session.get(models.BackupPlace, instance.id)
    if place is None or session.get(models.BackupPolicy, instance.id) is None:
        steps.end(op, "the instance has no backup policy: set one first")
        return
    node = steps.maker(declared, this.nodes, instance.generation)
    if node is None:
        op.progress = f"waiting for a {declared.role} node that serves"
        return
    step = steps.step(this.loaded, this.view, node, introspect.BACKUP_STEP)
    if step is None:
        steps.end(op, f"the {this.loaded.slug} type declares no {introspect.BACKUP_STEP!r} step")
        return
    kind = str(op.params.get("kind") or default_kind(declared))
    session.add(
        models.Backup(
            id=op.id,
            instance_id=instance.id,
            repository_id=place.repository_id,
            path=place.path,
            node_name=node.name,
            kind=kind,
            started_at=this.now,
        )
    )
    steps.queue(this, node, step, {"backup": op.id, "kind": kind})
    op.progress = _backing_up(node.name, None)
    events.record(session, instance.id, "backup_started", f"{kind} backup {op.id}", node.name)


def default_kind(declared: sdk.Backups) -> str:
    """What a backup is when no one says: a full one where backups build on each other
    (the engine's log is archived), else a snapshot."""
    return "full" if declared.point_in_time else "snapshot"


def _catalogue(
    session: Session,
    op: models.Operation,
    backup: models.Backup,
    queued: Sequence[models.NodeCommand],
    now: datetime,
) -> bool:
    """Show how far the node's step is while it runs and record what it reported once it
    ended; returns whether the backup completed."""
    command = steps.command_for(queued, introspect.BACKUP_STEP, op.id)
    if command is None:  # the node was replaced under it: its commands went with it
        _failed(session, op, backup, "its node was replaced while it ran", now)
        return False
    if command.state in models.OPEN_COMMANDS:
        told = command.result.progress if command.result is not None else None
        op.progress = _backing_up(backup.node_name, told)
        return False
    if command.state != models.CommandState.SUCCEEDED or command.result is None:
        _failed(session, op, backup, status.failure([], [command]), now)
        return False
    try:
        report = sdk.BackupReport.model_validate(command.result.result or {})
    except ValidationError as exc:
        why = f"its node's report is not a backup report: {steps.wrong_in(exc)}"
        _failed(session, op, backup, why, now)
        return False
    _completed(session, op, backup, report)
    return True


def _backing_up(node: str, told: Mapping[str, Any] | None) -> str:
    """What a backup under way says: where it runs and, once its step told them, the bytes
    done (of how many, when the step knows)."""
    where = f"backing up on {node}"
    if told is None:
        return where
    progress = sdk.StepProgress.model_validate(told)
    if not progress.total_bytes:
        return f"{where}: {_in_units(progress.done_bytes)} so far"
    return f"{where}: {_in_units(progress.done_bytes)} of {_in_units(progress.total_bytes)}"


BINARY_UNITS: tuple[str, ...] = ("KiB", "MiB", "GiB", "TiB", "PiB")


def _in_units(count: int) -> str:
    """``count`` bytes for a person: ``512 B``, ``1.2 GiB`` (one decimal)."""
    if count < 1024:
        return f"{count} B"
    size, units = count / 1024, BINARY_UNITS
    while round(size, 1) >= 1024 and len(units) > 1:
        size, units = size / 1024, units[1:]
    return f"{size:.1f} {units[0]}"


def _completed(
    session: Session, op: models.Operation, backup: models.Backup, report: sdk.BackupReport
) -> None:
    backup.state = models.BackupState.COMPLETED
    backup.label = report.label
    backup.kind = report.kind
    backup.depends_on = report.depends_on
    backup.started_at, backup.finished_at = report.started_at, report.finished_at
    backup.size_bytes = report.size_bytes
    backup.objects = dict(report.objects)
    backup.position = dict(report.position)
    steps.end(op)
    op.progress = f"completed: {report.size_bytes} bytes in {len(report.objects)} objects"
    message = f"{report.kind} backup {backup.id} ({report.label}): {report.size_bytes} bytes"
    events.record(session, backup.instance_id, "backup_completed", message, backup.node_name)


def _failed(
    session: Session, op: models.Operation, backup: models.Backup, reason: str, now: datetime
) -> None:
    backup.state = models.BackupState.FAILED
    backup.reason = reason
    backup.finished_at = now
    steps.end(op, reason)
    message = f"backup {backup.id} failed: {reason}"
    events.record(session, backup.instance_id, "backup_failed", message, backup.node_name)
