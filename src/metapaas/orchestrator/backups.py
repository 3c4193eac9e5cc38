"""Backups, owned by the orchestrator: a request becomes a step on the node that makes
backups, the node's report becomes the catalogue's entry, a restored instance's node
restores before it serves.

What the nodes need (``backup.store``, ``backup.source`` in the metadata document) is
built here from the instance's place in a repository and its sealed key. The steps are
commands of their own (``sdk.introspect.BACKUP_STEP`` and the rest): a backup that
fails fails its operation and says so on the backup, never the instance, so they are
kept out of what judges the instance (:func:`lifecycle`); a failed ``restore`` is the
instance's failure, as any provisioning step's is.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cronsim import CronSim, CronSimError
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from metapaas import sdk
from metapaas.db import Sealer, models
from metapaas.orchestrator import commands, events, status, views
from metapaas.plugins import LoadedType
from metapaas.sdk import introspect

BACKUP_KIND = "backup"
"""The operation kind of a backup; the backup's id is its operation's."""
STEPS = frozenset({introspect.BACKUP_STEP, introspect.VERIFY_STEP, introspect.EXPIRE_STEP})
"""Commands whose end is a backup's, not the instance's."""


def lifecycle(queued: Iterable[models.NodeCommand]) -> list[models.NodeCommand]:
    """The commands the instance's status is judged by: all but the backup steps."""
    return [c for c in queued if c.name not in STEPS]


# -- what nodes read --------------------------------------------------------------


def repository_view(repository: models.BackupRepository, sealer: Sealer) -> dict[str, Any]:
    """The repository as a node's steps and ``metapaas.repositories`` open it."""
    if repository.kind == models.RepositoryKind.FILESYSTEM:
        return {"kind": "filesystem", "path": repository.path}
    return {
        "kind": "s3",
        "endpoint": repository.endpoint,
        "bucket": repository.bucket,
        "region": repository.region,
        "access_key_id": repository.access_key_id,
        "secret_access_key": sealer.unseal(repository.sealed_secrets).get("secret_access_key", ""),
        "ca_certificate": "",
    }


def place_view(session: Session, place: models.BackupPlace, sealer: Sealer) -> dict[str, Any]:
    repository = session.get_one(models.BackupRepository, place.repository_id)
    return {
        "repository": repository_view(repository, sealer),
        "path": place.path,
        "key": sealer.unseal(place.sealed_key)["key"],
    }


def document_part(session: Session, instance_id: str, sealer: Sealer) -> dict[str, Any]:
    """``backup`` of the instance's metadata: where its backups go (while it has a
    policy), and where its data comes from (a restored instance)."""
    part: dict[str, Any] = {}
    policy = session.get(models.BackupPolicy, instance_id)
    place = session.get(models.BackupPlace, instance_id)
    if policy is not None and place is not None:
        part["store"] = {**place_view(session, place, sealer), "continuous": policy.continuous}
    restore = session.get(models.Restore, instance_id)
    if restore is not None:
        source = session.get_one(models.BackupPlace, restore.source_instance_id)
        part["source"] = place_view(session, source, sealer)
    return part


def ensure_place(
    session: Session, instance: models.Instance, repository: models.BackupRepository, sealer: Sealer
) -> models.BackupPlace:
    """The instance's own directory in ``repository`` and its key, made once: a
    restored instance is a new instance, so it never writes where its source does."""
    place = session.get(models.BackupPlace, instance.id)
    if place is None:
        prefix = repository.prefix.strip("/")
        place = models.BackupPlace(
            instance_id=instance.id,
            repository_id=repository.id,
            path="/" + "/".join(p for p in (prefix, instance.id) if p),
            sealed_key=sealer.seal({"key": secrets.token_urlsafe(32)}),
        )
        session.add(place)
    return place


# -- schedules --------------------------------------------------------------------


def next_run(cron: str, after: datetime) -> datetime:
    """The first time ``cron`` (evaluated in UTC) names after ``after``."""
    return next(CronSim(cron, after.replace(second=0, microsecond=0)))


def valid_cron(cron: str) -> str:
    """'' when ``cron`` is a schedule, else what is wrong with it."""
    try:
        CronSim(cron, datetime(2000, 1, 1))
    except CronSimError as exc:
        return str(exc) or "not a cron expression"
    return ""


# -- backups ----------------------------------------------------------------------


def advance(
    session: Session,
    instance: models.Instance,
    loaded: LoadedType,
    view: sdk.InstanceView,
    nodes: Sequence[models.Node],
    queued: list[models.NodeCommand],
    now: datetime,
) -> bool:
    """Move the instance's backups on; returns whether a step was queued (the nodes'
    metadata changed)."""
    declared = loaded.declaration.backups
    started = False
    for op in _running(session, instance.id):
        backup = session.get(models.Backup, op.id)
        if backup is None:
            if declared is None:
                _end(op, f"the {loaded.slug} type keeps no backups")
                continue
            started |= _start(session, instance, loaded, view, declared, op, nodes, queued, now)
        elif backup.state == models.BackupState.RUNNING:
            _catalogue(session, op, backup, queued, now)
    return started


def _start(
    session: Session,
    instance: models.Instance,
    loaded: LoadedType,
    view: sdk.InstanceView,
    declared: sdk.Backups,
    op: models.Operation,
    nodes: Sequence[models.Node],
    queued: list[models.NodeCommand],
    now: datetime,
) -> bool:
    place = session.get(models.BackupPlace, instance.id)
    if place is None or session.get(models.BackupPolicy, instance.id) is None:
        _end(op, "the instance has no backup policy: set one first")
        return False
    node = _maker(declared, nodes, instance.generation)
    if node is None:
        op.progress = f"waiting for a {declared.role} node that serves"
        return False
    step = commands.declared(loaded, view.version, node.role, introspect.BACKUP_STEP)
    if step is None:
        _end(op, f"the {loaded.slug} type declares no {introspect.BACKUP_STEP!r} step")
        return False
    kind = str(op.params.get("kind") or default_kind(declared))
    session.add(
        models.Backup(
            id=op.id,
            instance_id=instance.id,
            repository_id=place.repository_id,
            path=place.path,
            node_name=node.name,
            kind=kind,
            started_at=now,
        )
    )
    args = {"backup": op.id, "kind": kind}
    queued.append(commands.queue(session, instance.id, node.name, step, now, args))
    op.progress = f"backing up on {node.name}"
    events.record(session, instance.id, "backup_started", f"{kind} backup {op.id}", node.name)
    return True


def default_kind(declared: sdk.Backups) -> str:
    """What a backup is when no one says: a full one where backups build on each other
    (the engine's log is archived), else a snapshot."""
    return "full" if declared.point_in_time else "snapshot"


def _maker(
    declared: sdk.Backups, nodes: Sequence[models.Node], generation: int
) -> models.Node | None:
    """The node that makes backups: the first of its role, once it serves."""
    of_role = [n for n in nodes if n.role == declared.role]
    first = min(of_role, key=lambda n: n.ordinal, default=None)
    if first is None or first.state != models.NodeState.RUNNING:
        return None
    return None if status.waiting_on(first, generation, None) else first


def _catalogue(
    session: Session,
    op: models.Operation,
    backup: models.Backup,
    queued: Sequence[models.NodeCommand],
    now: datetime,
) -> None:
    """Record what the node's step reported, once it ended."""
    command = next(
        (c for c in queued if c.name == introspect.BACKUP_STEP and c.args.get("backup") == op.id),
        None,
    )
    if command is None:  # the node was replaced under it: its commands went with it
        _failed(session, op, backup, "its node was replaced while it ran", now)
        return
    if command.state in models.OPEN_COMMANDS:
        return
    if command.state != models.CommandState.SUCCEEDED or command.result is None:
        _failed(session, op, backup, status.failure([], [command]), now)
        return
    try:
        report = sdk.BackupReport.model_validate(command.result.result or {})
    except ValidationError as exc:
        _failed(session, op, backup, f"its node's report is not a backup report: {exc}", now)
        return
    _completed(session, op, backup, report)


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
    op.state = models.OperationState.SUCCEEDED
    op.progress = f"completed: {report.size_bytes} bytes in {len(report.objects)} objects"
    message = f"{report.kind} backup {backup.id} ({report.label}): {report.size_bytes} bytes"
    events.record(session, backup.instance_id, "backup_completed", message, backup.node_name)


def _failed(
    session: Session, op: models.Operation, backup: models.Backup, reason: str, now: datetime
) -> None:
    backup.state = models.BackupState.FAILED
    backup.reason = reason
    backup.finished_at = now
    _end(op, reason)
    message = f"backup {backup.id} failed: {reason}"
    events.record(session, backup.instance_id, "backup_failed", message, backup.node_name)


def _end(op: models.Operation, reason: str) -> None:
    op.state = models.OperationState.FAILED
    op.error = reason
    op.progress = "failed"


def _running(session: Session, instance_id: str) -> list[models.Operation]:
    return list(
        session.scalars(
            select(models.Operation)
            .where(
                models.Operation.instance_id == instance_id,
                models.Operation.kind == BACKUP_KIND,
                models.Operation.state == models.OperationState.RUNNING,
            )
            .order_by(models.Operation.created_at)
        )
    )


# -- restores ---------------------------------------------------------------------


def restore_first(
    session: Session,
    instance: models.Instance,
    loaded: LoadedType,
    node: models.Node,
    now: datetime,
) -> None:
    """Queue the restore of a restored instance's new node: the agent runs it before the
    node's services start."""
    declared = loaded.declaration.backups
    restore = session.get(models.Restore, instance.id)
    if restore is None or declared is None or node.role != declared.role:
        return
    version = views.version_of(loaded, instance.version)
    step = commands.declared(loaded, version, node.role, introspect.RESTORE_STEP)
    if step is None:
        raise sdk.PermanentError(f"the {loaded.slug} type declares no restore step")
    backup = session.get_one(models.Backup, restore.backup_id)
    commands.queue(session, instance.id, node.name, step, now, restore_args(restore, backup))
    message = f"restoring from {restore.source_instance_id} backup {backup.id}"
    events.record(session, instance.id, "restore_queued", message, node.name)


def restore_args(restore: models.Restore, backup: models.Backup) -> dict[str, str]:
    """The restore step's args: a point in time, the latest point, or one backup."""
    if restore.point_in_time is not None:
        return {"label": "", "point_in_time": restore.point_in_time.isoformat()}
    if restore.latest and backup.kind != "snapshot":
        return {"label": "", "point_in_time": ""}
    return {"label": backup.label or "", "point_in_time": ""}


# -- the recovery window ------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    earliest: datetime | None
    latest: datetime | None


def restorable(session: Session, instance_id: str) -> list[models.Backup]:
    """The instance's backups a restore may start from, oldest first."""
    return list(
        session.scalars(
            select(models.Backup)
            .where(
                models.Backup.instance_id == instance_id,
                models.Backup.state.in_(models.RESTORABLE),
            )
            .order_by(models.Backup.finished_at)
        )
    )


def window(
    backups: Sequence[models.Backup], archived_at: datetime | None, continuous: bool
) -> Window:
    """The earliest and latest points a restore can reach: from the oldest restorable
    backup's end to the newest one's, or, with the log archived, to its last segment."""
    ended = [b.finished_at for b in backups if b.finished_at is not None]
    if not ended:
        return Window(None, None)
    latest = max(ended)
    if continuous and archived_at is not None:
        latest = max(latest, archived_at)
    return Window(min(ended), latest)


def archived_at(nodes: Iterable[models.Node], role: str) -> datetime | None:
    """When the maker's archive step last archived a segment, as its agent reported."""
    for node in nodes:
        if node.role != role or node.report is None or not node.report.archive:
            continue
        try:
            return sdk.ArchiveStatus.model_validate(node.report.archive).archived_at
        except ValidationError:
            return None
    return None


def starting_backup(
    backups: Sequence[models.Backup], point: datetime | None
) -> models.Backup | None:
    """The backup a restore to ``point`` (None: the latest) starts from: the newest that
    ended at or before it (``backups`` oldest first, as :func:`restorable` gives them)."""
    ended = [
        b
        for b in backups
        if b.finished_at is not None and (point is None or b.finished_at <= point)
    ]
    return ended[-1] if ended else None
