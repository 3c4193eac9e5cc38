"""Recoverability is health: an instance that serves but could not be restored as its
policy promises is ``DEGRADED``, with a reason that says why.

Each reason is worded to stay the same while its cause does, so the status's event is
written when it turns, not on every pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from metapaas import sdk
from metapaas.db import models
from metapaas.orchestrator.backups import restores, schedule


def at_risk(
    session: Session,
    instance: models.Instance,
    declared: sdk.Backups,
    nodes: Sequence[models.Node],
    now: datetime,
) -> str:
    """Why the instance's data is at risk, or '' when its policy's promise holds."""
    policy = session.get(models.BackupPolicy, instance.id)
    if policy is None:
        return ""
    repository = session.get_one(models.BackupRepository, policy.repository_id)
    if repository.state == models.RepositoryState.FAILING:
        return f"backup repository {repository.name} fails its check: {repository.state_reason}"
    archive = restores.archive_status(nodes, declared.role) if policy.continuous else None
    if archive is not None and archive.failing:
        last = f"{archive.archived_at:%Y-%m-%dT%H:%M:%SZ}" if archive.archived_at else "never"
        return f"continuous archiving fails (last archived {last}): {archive.error}"
    return _lagging(session, instance, policy, nodes, declared, now)


def _lagging(
    session: Session,
    instance: models.Instance,
    policy: models.BackupPolicy,
    nodes: Sequence[models.Node],
    declared: sdk.Backups,
    now: datetime,
) -> str:
    """Whether the newest restorable point is older than twice the schedule's interval
    (counted from when the policy was set, before the first backup)."""
    allowed = 2 * schedule.interval(policy.schedule, now)
    latest = restores.window_of(
        session, instance.id, nodes, declared.role, policy.continuous
    ).latest
    since = latest or policy.set_at
    if now - since <= allowed:
        return ""
    if latest is None:
        return (
            f"no backup has completed since the policy was set at {since:%Y-%m-%dT%H:%M:%SZ}, "
            f"more than twice the schedule's interval ({allowed / 2}) ago"
        )
    return (
        f"the newest restorable point is {latest:%Y-%m-%dT%H:%M:%SZ}, more than twice the "
        f"schedule's interval ({allowed / 2}) ago"
    )
