"""Where an instance's backups are: repositories as nodes open them, each instance's own
place in one (a directory and a sealed key), and the repositories' checks.

``backup.store`` and ``backup.source`` of the metadata document are built here.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from metapaas import repositories
from metapaas.db import Sealer, models
from metapaas.errors import NotFound
from metapaas.orchestrator import views
from metapaas.plugins import Registry


def repository_view(repository: models.BackupRepository, sealer: Sealer) -> dict[str, Any]:
    """The repository as a node's steps and ``metapaas.repositories`` open it."""
    if repository.kind == models.RepositoryKind.FILESYSTEM:
        return {"kind": "filesystem", "path": repository.path}
    sealed = sealer.unseal(repository.sealed_secrets)
    return {
        "kind": "s3",
        "endpoint": repository.endpoint,
        "bucket": repository.bucket,
        "region": repository.region,
        "access_key_id": repository.access_key_id,
        "secret_access_key": sealed.get("secret_access_key", ""),
        # An instance of this control plane serves with a certificate its CA signed.
        "ca_certificate": sealed.get("ca_certificate", ""),
    }


def follow_instance(
    session: Session,
    registry: Registry,
    repository: models.BackupRepository,
    sealer: Sealer,
    authority_pem: str,
) -> str:
    """Point a repository named by an instance of this control plane (``instance_id``)
    at the S3 service it serves now: its type's credentials (``endpoint_url``,
    ``access_key_id``, ``secret_access_key``, ``region``) and the CA its nodes'
    certificates verify with. Returns '' or why the instance serves none; nothing
    changes then."""
    instance = session.get(models.Instance, repository.instance_id)
    if instance is None or instance.deleted_at is not None:
        return "the instance it names was deleted"
    if instance.observed_generation == 0:
        return f"instance {instance.name} does not serve yet: it is {instance.status}"
    try:
        given = views.credentials(session, instance, registry.get(instance.type_slug), sealer)
    except NotFound:
        return f"the {instance.type_slug} type of instance {instance.name} is not loaded"
    missing = [
        k for k in ("endpoint_url", "access_key_id", "secret_access_key") if not given.get(k)
    ]
    if missing:
        return (
            f"instance {instance.name} serves no S3 (its credentials have no {', '.join(missing)})"
        )
    repository.endpoint = str(given["endpoint_url"]).removeprefix("https://").rstrip("/")
    repository.region = str(given.get("region") or repository.region)
    repository.access_key_id = str(given["access_key_id"])
    secrets = {
        "secret_access_key": str(given["secret_access_key"]),
        "ca_certificate": authority_pem,
    }
    repository.sealed_secrets = sealer.seal(secrets)
    return ""


def probe(repository: models.BackupRepository, sealer: Sealer) -> str:
    """'' when a probe object can be written, read back and deleted; else what failed."""
    try:
        with repositories.open_repository(repository_view(repository, sealer)) as opened:
            opened.probe()  # closed after: an S3 one's CA file goes with it
    except repositories.RepositoryError as exc:
        return str(exc)
    return ""


def record_check(repository: models.BackupRepository, failure: str, now: datetime) -> bool:
    """Record a check's outcome; returns whether the repository's state changed."""
    state = models.RepositoryState.FAILING if failure else models.RepositoryState.OK
    changed = repository.state != state
    repository.state, repository.state_reason, repository.checked_at = state, failure, now
    return changed


def users(session: Session, repository_id: str) -> list[str]:
    """The instances whose policy keeps their backups in the repository."""
    policy = models.BackupPolicy
    return list(
        session.scalars(select(policy.instance_id).where(policy.repository_id == repository_id))
    )


def place_view(session: Session, place: models.BackupPlace, sealer: Sealer) -> dict[str, Any]:
    repository = session.get_one(models.BackupRepository, place.repository_id)
    return {
        "repository": repository_view(repository, sealer),
        "path": place.path,
        "key": sealer.unseal(place.sealed_key)["key"],
    }


def document_part(session: Session, instance_id: str, sealer: Sealer) -> dict[str, Any]:
    """``backup`` of the instance's metadata: where its backups go (while it has a
    policy), and where a restore reads from: the source's place for a restored instance
    (a drill's scratch instance too) until it has a backup of its own, else its own."""
    part: dict[str, Any] = {}
    policy = session.get(models.BackupPolicy, instance_id)
    place = session.get(models.BackupPlace, instance_id)
    if policy is not None and place is not None:
        part["store"] = {**place_view(session, place, sealer), "continuous": policy.continuous}
    restore = session.get(models.Restore, instance_id)
    source = session.get(models.BackupPlace, restore.source_instance_id) if restore else None
    if source is not None and not _own_backup(session, instance_id):
        # Gone once a deleted source's backups were removed: nothing is restored from it.
        part["source"] = place_view(session, source, sealer)
    elif place is not None:  # a node whose volume was lost restores from its own
        part["source"] = place_view(session, place, sealer)
    return part


def _own_backup(session: Session, instance_id: str) -> bool:
    table = models.Backup
    found = select(table.id).where(
        table.instance_id == instance_id, table.state.in_(models.RESTORABLE)
    )
    return session.scalar(found.limit(1)) is not None


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
