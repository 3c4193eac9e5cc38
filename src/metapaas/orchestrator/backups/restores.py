"""Restores: a restored instance's new node restores before it serves, and what a restore
can reach (the recovery window, the backup a point starts from)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from metapaas import sdk
from metapaas.db import models
from metapaas.orchestrator import commands, events, views
from metapaas.plugins import LoadedType
from metapaas.sdk import introspect


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
    step = _restore_step(loaded, instance, node)
    if step is None:
        raise sdk.PermanentError(f"the {loaded.slug} type declares no restore step")
    backup = session.get(models.Backup, restore.backup_id) if restore.backup_id else None
    if backup is None:
        raise sdk.PermanentError("the backup it was to be restored from has been deleted")
    commands.queue(session, instance.id, node.name, step, now, restore_args(restore, backup))
    message = f"restoring from {restore.source_instance_id} backup {backup.id}"
    events.record(session, instance.id, "restore_queued", message, node.name)


def restore_if_lost(
    session: Session,
    instance: models.Instance,
    loaded: LoadedType,
    node: models.Node,
    now: datetime,
) -> None:
    """Queue a restore for the maker's new incarnation, run only if its volume comes empty
    (``if_empty``: the agent restores nothing onto a volume that kept its data): a node
    started anew may land where its old volume is not (a lost host, a drain), and must
    not serve an empty one while backups hold its data."""
    declared = loaded.declaration.backups
    if declared is None or node.role != declared.role or node.ordinal != 0:
        return
    backup = starting_backup(restorable(session, instance.id), None)
    step = _restore_step(loaded, instance, node)
    if backup is None or step is None:
        return  # nothing of its own to restore from: it starts with what its volume holds
    args = {**_latest_args(backup), "if_empty": "true", "backup": backup.id}
    commands.queue(session, instance.id, node.name, step, now, args)


def _restore_step(
    loaded: LoadedType, instance: models.Instance, node: models.Node
) -> sdk.Command | None:
    version = views.version_of(loaded, instance.version)
    return commands.declared(loaded, version, node.role, introspect.RESTORE_STEP)


def moved(session: Session, node_name: str, old: str, new: str) -> str:
    """What the ``node_moved`` event of a node that landed elsewhere says: whether its new
    volume starts empty or is restored first, from which backup."""
    said = f"node {node_name} moved from {old} to {new}: "
    backup = _lost_volume_restore(session, node_name)
    if backup is None:
        return said + f"it starts with an empty volume (its data stayed on {old})"
    return said + (
        f"its new volume is restored before it serves, from backup {backup.id} "
        f"({backup.label}) to the latest point it can reach"
    )


def _lost_volume_restore(session: Session, node_name: str) -> models.Backup | None:
    """The backup the node's queued restore-if-empty restores from, if one is queued."""
    queued = session.scalars(
        select(models.NodeCommand).where(
            models.NodeCommand.node_name == node_name,
            models.NodeCommand.name == introspect.RESTORE_STEP,
        )
    )
    for command in queued:
        if command.args.get("if_empty") and command.state in models.OPEN_COMMANDS:
            return session.get(models.Backup, command.args.get("backup"))
    return None


def restore_args(restore: models.Restore, backup: models.Backup) -> dict[str, str]:
    """The restore step's args: a point in time, the latest point, or one backup."""
    if restore.point_in_time is not None:
        return {"label": "", "point_in_time": restore.point_in_time.isoformat()}
    if restore.latest:
        return _latest_args(backup)
    return {"label": backup.label or "", "point_in_time": ""}


def _latest_args(backup: models.Backup) -> dict[str, str]:
    """A restore to the latest point ``backup`` starts: past it through the archived log
    (both empty), or, a snapshot having no log, the snapshot itself."""
    if backup.kind != "snapshot":
        return {"label": "", "point_in_time": ""}
    return {"label": backup.label or "", "point_in_time": ""}


def copy_resources(
    session: Session, source_id: str, target_id: str, point: datetime | None = None
) -> None:
    """A restored instance takes its source's child resources as they are now: its data
    holds them (a database, a login role), and what the data plane manages but is not
    desired would be removed. Restored to a ``point`` in time, it takes those created by
    then: one created later is in no data as it was at the point."""
    query = select(models.Resource).where(models.Resource.instance_id == source_id)
    if point is not None:
        query = query.where(models.Resource.created_at <= point)
    for row in session.scalars(query):
        session.add(
            models.Resource(
                instance_id=target_id,
                collection=row.collection,
                name=row.name,
                spec=dict(row.spec),
                sealed_secrets=row.sealed_secrets,
            )
        )


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


def window_of(
    session: Session, instance_id: str, nodes: Iterable[models.Node], role: str, continuous: bool
) -> Window:
    """The instance's recovery window: its restorable backups, and with the log archived
    the point its maker's archive step last reached."""
    return window(restorable(session, instance_id), archived_at(nodes, role), continuous)


def archive_status(nodes: Iterable[models.Node], role: str) -> sdk.ArchiveStatus | None:
    """The maker's archive step's last attempt, as its agent reported it."""
    for node in nodes:
        if node.role != role or node.report is None or not node.report.archive:
            continue
        try:
            return sdk.ArchiveStatus.model_validate(node.report.archive)
        except ValidationError:
            return None
    return None


def archived_at(nodes: Iterable[models.Node], role: str) -> datetime | None:
    """When the maker's archive step last archived a segment."""
    status = archive_status(nodes, role)
    return status.archived_at if status is not None else None


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
