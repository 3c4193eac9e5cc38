"""An instance's backups as its users ask for them: the policy, backups taken now, the
catalogue, the recovery window, and a new instance restored from another's backups.

Requests are recorded (a policy, an operation, a restore's source) and the orchestrator
wakes: it alone runs the steps on the nodes and writes what they made
(:mod:`metapaas.orchestrator.backups`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from metapaas import sdk
from metapaas.api.deps import Context
from metapaas.api.instances.lookups import open_operation
from metapaas.api.instances.requests import operation, refuse_if_gone
from metapaas.api.timestamps import rfc3339
from metapaas.db import models
from metapaas.errors import Conflict, Invalid, NotFound
from metapaas.iam import permissions
from metapaas.orchestrator import backups, queue
from metapaas.plugins import LoadedType
from metapaas.plugins.schemas import RestoreRequest

CRON = Field(min_length=9, max_length=120, description="Cron, evaluated in UTC.")


class Retention(BaseModel):
    """Count, days or both: the schema says at least one is given, and not as null."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": [name], "properties": {name: {"type": "integer"}}}
                for name in ("count", "days")
            ]
        },
    )

    count: int | None = Field(default=None, ge=1, le=1000, description="Full backups kept.")
    days: int | None = Field(default=None, ge=1, le=3650, description="Days a backup is kept.")


class PolicyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    repository: str = Field(min_length=1, max_length=63, description="A repository's name or id.")
    schedule: str = CRON
    retention: Retention
    continuous: bool = Field(
        default=False, description="Archive the engine's log, for point-in-time restore."
    )
    verify: str = Field(
        default="", max_length=120, description="Cron for restore drills; empty: after backups."
    )


class PolicyOut(BaseModel):
    repository: str
    schedule: str
    retention: Retention
    continuous: bool
    verify: str
    next_backup_at: str | None
    next_verify_at: str | None


class BackupBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["full", "incremental", "snapshot"] | None = Field(
        default=None, description="By default a full backup, or a snapshot for a type of those."
    )


class BackupOut(BaseModel):
    id: str
    instance_id: str
    kind: str
    state: models.BackupState
    reason: str = Field(description="Why it failed or is unrestorable.")
    label: str | None = Field(description="The engine's name for it.")
    depends_on: str
    started_at: str
    finished_at: str | None
    size_bytes: int
    objects: dict[str, str] = Field(description="sha256 of every stored object.")
    position: dict[str, Any]
    verified_at: str | None
    restore_seconds: float | None


class WindowOut(BaseModel):
    earliest: str | None
    latest: str | None
    lag_seconds: float | None = Field(description="How far the latest point is behind now.")
    point_in_time: bool = Field(description="Whether any point between the two can be restored.")


def backups_of(loaded: LoadedType) -> sdk.Backups:
    declared = loaded.declaration.backups
    if declared is None:
        raise Conflict.field("type", "no_backups", f"the {loaded.slug} type keeps no backups")
    return declared


# -- the policy --------------------------------------------------------------------


def set_policy(
    ctx: Context, instance: models.Instance, loaded: LoadedType, body: PolicyBody
) -> models.BackupPolicy:
    declared = backups_of(loaded)
    if body.retention.count is None and body.retention.days is None:
        raise Invalid.field("retention", "required", "give count, days or both")
    for field, cron in (("schedule", body.schedule), ("verify", body.verify)):
        if cron and (wrong := backups.valid_cron(cron)):
            raise Invalid.field(field, "cron", f"{cron!r} is not a cron schedule: {wrong}")
    if body.continuous and not declared.point_in_time:
        raise Invalid.field(
            "continuous", "unsupported", f"the {loaded.slug} type has no point-in-time restore"
        )
    repository = _repository(ctx, body.repository)
    place = backups.ensure_place(ctx.session, instance, repository, ctx.state.sealer)
    if place.repository_id != repository.id:
        raise Conflict.field(
            "repository",
            "moved",
            "the instance's backups are kept in another repository; its policy stays there",
        )
    now = ctx.state.clock()
    policy = ctx.session.get(models.BackupPolicy, instance.id) or models.BackupPolicy(
        instance_id=instance.id
    )
    policy.repository_id = repository.id
    policy.schedule = body.schedule
    policy.retention_count, policy.retention_days = body.retention.count, body.retention.days
    policy.continuous = body.continuous
    policy.verify = body.verify
    policy.set_at = now
    policy.next_backup_at = backups.next_run(body.schedule, now)
    policy.next_verify_at = backups.next_run(body.verify, now) if body.verify else None
    ctx.session.add(policy)
    ctx.audit(
        permissions.collection(instance.type_slug, "backup_policy", "update"),
        "instance",
        instance.id,
        instance.project_id,
        repository=repository.name,
    )
    queue.enqueue(ctx.session, instance.id, now)  # its nodes learn where backups go
    return policy


def repository_named(ctx: Context, ref: str) -> models.BackupRepository | None:
    """The repository ``ref`` names, by id or name."""
    table = models.BackupRepository
    return ctx.session.get(table, ref) or ctx.session.scalar(select(table).where(table.name == ref))


def _repository(ctx: Context, ref: str) -> models.BackupRepository:
    found = repository_named(ctx, ref)
    if found is None:
        raise Invalid.field("repository", "not_found", f"no backup repository {ref!r}")
    return found


def policy_view(ctx: Context, instance: models.Instance) -> dict[str, Any]:
    policy = ctx.session.get(models.BackupPolicy, instance.id)
    if policy is None:
        raise NotFound(f"instance {instance.name!r} has no backup policy")
    repository = ctx.session.get_one(models.BackupRepository, policy.repository_id)
    return {
        "repository": repository.name,
        "schedule": policy.schedule,
        "retention": {"count": policy.retention_count, "days": policy.retention_days},
        "continuous": policy.continuous,
        "verify": policy.verify,
        "next_backup_at": _when(policy.next_backup_at),
        "next_verify_at": _when(policy.next_verify_at),
    }


# -- backups -----------------------------------------------------------------------


def request_backup(
    ctx: Context, instance: models.Instance, loaded: LoadedType, body: BackupBody
) -> models.Operation:
    """Record a backup to take now; one under way is the answer to a second request."""
    declared = backups_of(loaded)
    if ctx.session.get(models.BackupPolicy, instance.id) is None:
        raise Conflict("the instance has no backup policy: PUT one first")
    refuse_if_gone(ctx, instance)
    kind = body.kind or backups.default_kind(declared)
    if (kind == "snapshot") == declared.point_in_time or (
        kind == "incremental" and not declared.incremental
    ):
        raise Invalid.field("kind", "unsupported", f"the {loaded.slug} type makes no {kind} backup")
    existing = open_operation(ctx, instance, backups.BACKUP_KIND)
    if existing is not None:
        return existing
    op = operation(ctx, instance, backups.BACKUP_KIND, {"kind": kind})
    ctx.audit(
        permissions.collection(instance.type_slug, "backups", "create"),
        "instance",
        instance.id,
        instance.project_id,
        operation_id=op.id,
        kind=kind,
    )
    return op


def request_deletion(
    ctx: Context, instance: models.Instance, backup: models.Backup
) -> models.Operation:
    """Record the deletion of one backup, unless a later point needs it (``409``)."""
    refuse_if_gone(ctx, instance)
    policy = ctx.session.get(models.BackupPolicy, instance.id)
    if policy is not None:
        catalogue = backups.catalogue_of(ctx.session, instance.id)
        why = backups.needed(backup, catalogue, backups.Rule.of(policy), ctx.state.clock())
        if why:
            raise Conflict(f"backup {backup.id} cannot be deleted: {why}")
    existing = open_operation(ctx, instance, backups.DELETE_KIND)
    if existing is not None and existing.params.get("backup") == backup.id:
        return existing
    op = operation(ctx, instance, backups.DELETE_KIND, {"backup": backup.id})
    ctx.audit(
        permissions.collection(instance.type_slug, "backups", "delete"),
        "backup",
        backup.id,
        instance.project_id,
        operation_id=op.id,
        instance_id=instance.id,
    )
    return op


def backup_views(ctx: Context, instance_id: str) -> list[dict[str, Any]]:
    rows = ctx.session.scalars(
        select(models.Backup)
        .where(models.Backup.instance_id == instance_id)
        .order_by(models.Backup.started_at.desc())
    )
    return [backup_view(b) for b in rows]


def find_backup(ctx: Context, instance_id: str, ref: str) -> models.Backup:
    backup = ctx.session.get(models.Backup, ref)
    if backup is None or backup.instance_id != instance_id:
        raise NotFound(f"backup {ref!r} not found")
    return backup


def backup_view(backup: models.Backup) -> dict[str, Any]:
    return {
        "id": backup.id,
        "instance_id": backup.instance_id,
        "kind": backup.kind,
        "state": backup.state,
        "reason": backup.reason,
        "label": backup.label,
        "depends_on": backup.depends_on,
        "started_at": rfc3339(backup.started_at),
        "finished_at": _when(backup.finished_at),
        "size_bytes": backup.size_bytes,
        "objects": backup.objects,
        "position": backup.position,
        "verified_at": _when(backup.verified_at),
        "restore_seconds": backup.restore_seconds,
    }


def window_view(ctx: Context, instance: models.Instance, loaded: LoadedType) -> dict[str, Any]:
    declared = backups_of(loaded)
    window = _window(ctx, instance, declared)
    lag = (ctx.state.clock() - window.latest).total_seconds() if window.latest else None
    return {
        "earliest": _when(window.earliest),
        "latest": _when(window.latest),
        "lag_seconds": lag,
        "point_in_time": declared.point_in_time and _continuous(ctx, instance.id),
    }


def _window(ctx: Context, instance: models.Instance, declared: sdk.Backups) -> backups.Window:
    nodes = ctx.session.scalars(select(models.Node).where(models.Node.instance_id == instance.id))
    continuous = _continuous(ctx, instance.id)
    return backups.window_of(ctx.session, instance.id, nodes, declared.role, continuous)


def _continuous(ctx: Context, instance_id: str) -> bool:
    policy = ctx.session.get(models.BackupPolicy, instance_id)
    return policy is not None and policy.continuous


def _when(moment: datetime | None) -> str | None:
    return rfc3339(moment) if moment is not None else None


# -- restores ----------------------------------------------------------------------


def record_restore(
    ctx: Context, loaded: LoadedType, instance: models.Instance, request: RestoreRequest
) -> None:
    """Record where the new ``instance``'s data comes from; it takes the source's child
    resources (its data names them), to a point in time those created by then."""
    declared = backups_of(loaded)
    source = _source(ctx, loaded.slug, request.source)
    found = backups.restorable(ctx.session, source.id)
    point = request.point_in_time
    if request.backup is not None and point is not None:
        raise Invalid.field("restore.backup", "exclusive", "give a backup or a point_in_time")
    if request.backup is not None:
        backup = next((b for b in found if b.id == request.backup), None)
        if backup is None:
            raise Invalid.field(
                "restore.backup", "not_found", f"no restorable backup {request.backup!r}"
            )
    else:
        backup = _for_point(ctx, source, declared, found, point)
    ctx.session.add(
        models.Restore(
            instance_id=instance.id,
            source_instance_id=source.id,
            backup_id=backup.id,
            point_in_time=point if isinstance(point, datetime) else None,
            latest=request.backup is None and not isinstance(point, datetime),
        )
    )
    ctx.audit(
        permissions.instance(loaded.slug, "create"),
        "instance",
        instance.id,
        instance.project_id,
        restored_from=source.id,
        backup=backup.id,
        point_in_time=_when(point) if isinstance(point, datetime) else point,
    )
    at = point if isinstance(point, datetime) else None
    backups.copy_resources(ctx.session, source.id, instance.id, at)


def _for_point(
    ctx: Context,
    source: models.Instance,
    declared: sdk.Backups,
    found: list[models.Backup],
    point: datetime | Literal["latest"] | None,
) -> models.Backup:
    at = point if isinstance(point, datetime) else None
    if at is not None and not declared.point_in_time:
        raise Invalid.field(
            "restore.point_in_time",
            "unsupported",
            f"the {source.type_slug} type restores whole backups only: name one with"
            " restore.backup, or restore the latest",
        )
    window = _window(ctx, source, declared)
    if at is not None and not (
        window.earliest is not None
        and window.latest is not None
        and window.earliest <= at <= window.latest
    ):
        raise Invalid.field(
            "restore.point_in_time",
            "outside_window",
            f"{rfc3339(at)} is outside the recovery window of {source.name!r}:"
            f" {_when(window.earliest) or 'no backup'} to {_when(window.latest) or 'no backup'}",
        )
    backup = backups.starting_backup(found, at)
    if backup is None:
        raise Invalid.field(
            "restore.from", "no_backup", f"instance {source.name!r} has no restorable backup"
        )
    return backup


def _source(ctx: Context, slug: str, ref: str) -> models.Instance:
    """The instance ``<project>/<instance>`` names, live or deleted, if the caller may read
    its backups: anything else is the same 422, so another project's names stay unknown."""
    project_ref, instance_ref = ref.split("/", 1)
    missing = Invalid.field("restore.from", "not_found", f"no {slug} instance {ref!r} to restore")
    project = ctx.session.get(models.Project, project_ref) or ctx.session.scalar(
        select(models.Project).where(models.Project.name == project_ref)
    )
    if project is None:
        raise missing
    table = models.Instance
    mine = select(table).where(table.type_slug == slug, table.project_id == project.id)
    source = ctx.session.scalar(mine.where(table.id == instance_ref)) or ctx.session.scalar(
        mine.where(table.name == instance_ref, table.deleted_at.is_(None))
    )
    if source is None or not ctx.principal.can(
        permissions.collection(slug, "backups", "get"), project.id
    ):
        raise missing
    return source
