"""What a deleted instance leaves: its backups, kept for its retention period so it can
be restored (``GET …/deleted-instances/<id>/backups``), then removed whole.

Without nodes nothing runs steps, so the control plane removes them itself: every object
under the instance's place in its repository (its engine's files with them), then, in
one transaction, the catalogue's rows, the policy and the place. A repository that is
away leaves everything as it was, and the next sweep tries again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from metapaas import repositories
from metapaas.db import Sealer, models
from metapaas.orchestrator import events
from metapaas.orchestrator.backups.places import repository_view

log = logging.getLogger(__name__)

KEPT_WITHOUT_DAYS = timedelta(days=7)
"""How long a deleted instance's backups are kept when its policy keeps a count of
backups, not days: long enough to notice a deletion was a mistake."""


def kept_for(policy: models.BackupPolicy | None) -> timedelta:
    """How long after its deletion an instance's backups are kept."""
    if policy is not None and policy.retention_days is not None:
        return timedelta(days=policy.retention_days)
    return KEPT_WITHOUT_DAYS


def due(session: Session, now: datetime) -> list[str]:
    """The deleted instances whose backups' time is up."""
    found = session.execute(
        select(models.Instance.id, models.Instance.deleted_at, models.BackupPolicy)
        .join(models.BackupPlace, models.BackupPlace.instance_id == models.Instance.id)
        .outerjoin(models.BackupPolicy, models.BackupPolicy.instance_id == models.Instance.id)
        .where(models.Instance.deleted_at.is_not(None))
    )
    return [
        instance_id
        for instance_id, deleted_at, policy in found
        if deleted_at is not None and deleted_at + kept_for(policy) <= now
    ]


def remove(sessions: sessionmaker[Session], instance_id: str, sealer: Sealer) -> bool:
    """Remove a deleted instance's backups: the repository's objects, then the rows;
    returns whether they are gone."""
    with sessions() as session:
        place = session.get(models.BackupPlace, instance_id)
        if place is None:
            return True
        repository = session.get_one(models.BackupRepository, place.repository_id)
        mapping, prefix = repository_view(repository, sealer), place.path.strip("/")
    try:
        with repositories.open_repository(mapping) as opened:
            removed = opened.delete(prefix)
    except repositories.RepositoryError as exc:
        log.warning("the backups of deleted instance %s stay for now: %s", instance_id, exc)
        return False
    with sessions.begin() as session:
        for table in (models.Backup, models.BackupPolicy, models.BackupPlace):
            session.execute(delete(table).where(table.instance_id == instance_id))
        message = f"its retention ended: {removed} objects removed from the repository"
        events.record(session, instance_id, "backups_removed", message)
    return True
