"""Backup repositories (admins only): where instances' backups are stored.

A repository is checked when it is registered (a probe object written, read back and
deleted, with the credentials given): one that fails the check is refused, naming
what failed. Its secret access key is sealed at rest and never shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from metapaas.api.deps import Context, Ctx, InContext
from metapaas.api.instances import flush_unique
from metapaas.api.instances.backups import repository_named
from metapaas.api.problems import problem_responses
from metapaas.api.timestamps import rfc3339
from metapaas.db import models
from metapaas.errors import Conflict, Invalid, NotFound
from metapaas.orchestrator import backups

router = APIRouter(
    route_class=InContext,
    prefix="/v1/backup-repositories",
    tags=["backups"],
    responses=problem_responses(401, 403, 503),
)

NAME = r"^[a-z][a-z0-9-]{0,62}$"


class _Repository(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME, description="Unique among repositories.")


class FilesystemRepository(_Repository):
    kind: Literal["filesystem"]
    path: str = Field(
        min_length=2,
        max_length=1000,
        pattern=r"^/[^\x00]*$",  # absolute; no NUL, as no path has one
        description="An absolute directory on the control plane's machine, for its nodes.",
    )


SERVICE = ("endpoint", "access_key_id", "secret_access_key")
"""What names an S3 service outside this control plane; ``instance`` names one inside."""


class S3Repository(_Repository):
    """A bucket of an S3 service: one named by its endpoint and keys, or an ``s3``
    instance of this control plane (``instance``), whose endpoint, keys and CA the
    control plane keeps following."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {
                    "required": list(SERVICE),
                    "properties": {name: {"type": "string"} for name in SERVICE},
                    "not": {"required": ["instance"]},
                },
                {
                    "required": ["instance"],
                    "properties": {"instance": {"type": "string"}},
                    "not": {"anyOf": [{"required": [name]} for name in SERVICE]},
                },
            ]
        },
    )

    kind: Literal["s3"]
    endpoint: str | None = Field(
        default=None,
        max_length=255,
        pattern=r"^[A-Za-z0-9.-]+:[0-9]{1,5}$",
        description="`host:port` of an S3-compatible service, spoken to over HTTPS.",
    )
    instance: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9-]{1,63}/[A-Za-z0-9-]{1,63}$",
        description="`<project>/<instance>`: an instance of this control plane serving S3.",
    )
    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    prefix: str = Field(default="", max_length=255, pattern=r"^[A-Za-z0-9._/-]*$")
    region: str = Field(default="us-east-1", pattern=r"^[a-z][a-z0-9-]{0,61}[a-z0-9]$")
    access_key_id: str | None = Field(default=None, min_length=1, max_length=128)
    secret_access_key: str | None = Field(
        default=None, min_length=1, max_length=256, description="Sealed at rest; never shown."
    )


RepositoryBody = Annotated[FilesystemRepository | S3Repository, Field(discriminator="kind")]


class RepositoryOut(BaseModel):
    id: str
    name: str
    kind: models.RepositoryKind
    path: str
    endpoint: str
    bucket: str
    prefix: str
    region: str
    access_key_id: str
    instance_id: str | None = Field(description="The instance of this control plane serving it.")
    state: models.RepositoryState = Field(description="The last check's verdict.")
    state_reason: str
    checked_at: str | None
    created_at: str


def repository_view(repository: models.BackupRepository) -> dict[str, Any]:
    return {
        "id": repository.id,
        "name": repository.name,
        "kind": repository.kind,
        "path": repository.path,
        "endpoint": repository.endpoint,
        "bucket": repository.bucket,
        "prefix": repository.prefix,
        "region": repository.region,
        "access_key_id": repository.access_key_id,
        "instance_id": repository.instance_id,
        "state": repository.state,
        "state_reason": repository.state_reason,
        "checked_at": rfc3339(repository.checked_at) if repository.checked_at else None,
        "created_at": rfc3339(repository.created_at),
    }


def find_repository(ctx: Context, ref: str) -> models.BackupRepository:
    found = repository_named(ctx, ref)
    if found is None:
        raise NotFound(f"backup repository {ref!r} not found")
    return found


@router.post(
    "",
    status_code=201,
    response_model=RepositoryOut,
    summary="Register a backup repository, checked by writing, reading and deleting a probe",
    responses=problem_responses(409, 422),
)
def create_repository(ctx: Ctx, body: Annotated[RepositoryBody, Body()]) -> JSONResponse:
    ctx.principal.require_admin()
    given = body.model_dump(exclude={"secret_access_key", "instance"}, exclude_none=True)
    repository = models.BackupRepository(**given, created_by=ctx.principal.user_id)
    if isinstance(body, S3Repository):
        _s3_service(ctx, repository, body)
    _check(ctx, repository)
    ctx.session.add(repository)
    flush_unique(ctx, "name")
    ctx.audit("core.backup_repositories.create", "backup_repository", repository.id, name=body.name)
    ctx.commit()
    return JSONResponse(repository_view(repository), status_code=201)


def _s3_service(ctx: Context, repository: models.BackupRepository, body: S3Repository) -> None:
    """The S3 service's endpoint and keys, as given or as the named instance serves it."""
    named = [name for name in SERVICE if getattr(body, name) is not None]
    if body.instance is None and len(named) < len(SERVICE):
        missing = next(name for name in SERVICE if name not in named)
        raise Invalid.field(
            missing,
            "required",
            "give endpoint, access_key_id and secret_access_key, or an instance",
        )
    if body.instance is None:
        secret = {"secret_access_key": body.secret_access_key or ""}
        repository.sealed_secrets = ctx.state.sealer.seal(secret)
        return
    if named:
        raise Invalid.field(named[0], "exclusive", "an instance brings its own endpoint and keys")
    repository.instance_id = _serving(ctx, body.instance).id
    authority = ctx.state.authority().certificate_pem
    state = ctx.state
    if why := backups.follow_instance(
        ctx.session, state.registry, repository, state.sealer, authority
    ):
        raise Invalid.field("instance", "unusable", why)


def _serving(ctx: Context, ref: str) -> models.Instance:
    """The live instance ``<project>/<instance>`` names (by name or id)."""
    project_ref, instance_ref = ref.split("/", 1)
    table = models.Instance
    found = ctx.session.scalars(
        select(table)
        .join(models.Project, models.Project.id == table.project_id)
        .where(
            table.deleted_at.is_(None),
            table.drill_of.is_(None),
            (models.Project.id == project_ref) | (models.Project.name == project_ref),
            (table.id == instance_ref) | (table.name == instance_ref),
        )
    ).all()
    if len(found) != 1:
        raise Invalid.field("instance", "not_found", f"no instance {ref!r}")
    return found[0]


def _check(ctx: Context, repository: models.BackupRepository) -> None:
    """Probe the repository as its nodes will use it; refuse it, naming what failed."""
    field = "path" if repository.kind == models.RepositoryKind.FILESYSTEM else "endpoint"
    try:
        if repository.kind == models.RepositoryKind.FILESYSTEM:  # made for it, private
            Path(repository.path).mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise Invalid.field(field, "unusable", f"cannot make {repository.path}: {exc}") from exc
    if failure := backups.probe(repository, ctx.state.sealer):
        raise Invalid.field(field, "unusable", failure)
    backups.record_check(repository, "", ctx.state.clock())


@router.get("", summary="List backup repositories")
def list_repositories(ctx: Ctx) -> dict[str, Any]:
    ctx.principal.require_admin()
    rows = ctx.session.scalars(
        select(models.BackupRepository).order_by(models.BackupRepository.name)
    )
    return {"items": [repository_view(r) for r in rows]}


@router.get(
    "/{ref}",
    response_model=RepositoryOut,
    summary="Show a backup repository by id or name",
    responses=problem_responses(404),
)
def show_repository(ctx: Ctx, ref: str) -> dict[str, Any]:
    ctx.principal.require_admin()
    return repository_view(find_repository(ctx, ref))


@router.delete(
    "/{ref}",
    status_code=204,
    summary="Remove a backup repository no policy or backup uses",
    responses=problem_responses(404, 409),
)
def delete_repository(ctx: Ctx, ref: str) -> Response:
    ctx.principal.require_admin()
    repository = find_repository(ctx, ref)
    place = models.BackupPlace
    used = ctx.session.scalar(
        select(func.count()).select_from(place).where(place.repository_id == repository.id)
    )
    if used:
        raise Conflict(
            f"backup repository {repository.name!r} holds the backups of {used} instance(s)"
        )
    ctx.session.delete(repository)
    ctx.audit("core.backup_repositories.delete", "backup_repository", repository.id)
    ctx.commit()
    return Response(status_code=204)
