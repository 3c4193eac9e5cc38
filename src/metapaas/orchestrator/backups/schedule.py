"""Schedules: a policy's cron expressions (evaluated in UTC) become backup and drill
operations when due, and a run that did not happen at its time is said, never skipped
in silence.

The worker's housekeeping asks :func:`due` and queues those instances; their pass calls
:func:`take_due`, which starts what is due and moves the policy's next runs on in the
same transaction, so a run is started once however many passes or crashes come.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import islice, takewhile
from typing import Any

from cronsim import CronSim, CronSimError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from metapaas.db import models
from metapaas.orchestrator import events
from metapaas.orchestrator.backups import steps

LATE = timedelta(minutes=5)
"""How late a run may start before it counts as missed: the housekeeping looks every few
seconds, so only a control plane that was not running is later."""
COUNTED = 1000
"""Missed runs are counted up to this many."""


def next_run(cron: str, after: datetime) -> datetime:
    """The first time ``cron`` (evaluated in UTC) names after ``after``."""
    return next(_runs(cron, after))


def _runs(cron: str, after: datetime) -> Iterator[datetime]:
    return iter(CronSim(cron, after.replace(second=0, microsecond=0)))


def valid_cron(cron: str) -> str:
    """'' when ``cron`` is a schedule, else what is wrong with it."""
    try:
        CronSim(cron, datetime(2000, 1, 1))
    except CronSimError as exc:
        return str(exc) or "not a cron expression"
    return ""


def interval(cron: str, now: datetime) -> timedelta:
    """The time between the schedule's next two runs."""
    first, second = islice(_runs(cron, now), 2)
    return second - first


def due(session: Session, now: datetime) -> list[str]:
    """The instances with a scheduled backup or drill due."""
    policy, instance = models.BackupPolicy, models.Instance
    return list(
        session.scalars(
            select(policy.instance_id)
            .join(instance, instance.id == policy.instance_id)
            .where(
                instance.status.not_in(
                    (models.InstanceStatus.DELETING, models.InstanceStatus.DELETED)
                ),
                or_(policy.next_backup_at <= now, policy.next_verify_at <= now),
            )
        )
    )


def take_due(
    session: Session,
    instance: models.Instance,
    policy: models.BackupPolicy,
    kind: str,
    now: datetime,
) -> None:
    """Start the policy's due runs: a backup of ``kind``, a drill (of the newest
    restorable full backup, which the drill picks); each moves its next run on."""
    if policy.next_backup_at is not None and policy.next_backup_at <= now:
        params = {"kind": kind, "scheduled": True}
        _start(
            session,
            instance,
            steps.BACKUP_KIND,
            params,
            policy.schedule,
            policy.next_backup_at,
            now,
        )
        policy.next_backup_at = next_run(policy.schedule, now)
    if policy.verify and policy.next_verify_at is not None and policy.next_verify_at <= now:
        params = {"scheduled": True}
        _start(
            session, instance, steps.DRILL_KIND, params, policy.verify, policy.next_verify_at, now
        )
        policy.next_verify_at = next_run(policy.verify, now)


def _start(
    session: Session,
    instance: models.Instance,
    kind: str,
    params: dict[str, Any],
    cron: str,
    due_at: datetime,
    now: datetime,
) -> None:
    """The run due at ``due_at``, said when it comes late; one under way already is it."""
    _say_missed(session, instance.id, kind, cron, due_at, now)
    if not steps.running(session, instance.id, kind):
        steps.start(session, instance, kind, params, "scheduled")


def _say_missed(
    session: Session, instance_id: str, what: str, cron: str, due_at: datetime, now: datetime
) -> None:
    """An event when the run due at ``due_at`` comes late: how many runs did not happen."""
    if now - due_at <= LATE:
        return
    later_runs = takewhile(lambda t: t <= now, _runs(cron, due_at))
    runs = 1 + sum(1 for _ in islice(later_runs, COUNTED))
    later = f" and {runs - 1} later run(s)" if runs > 1 else ""
    message = (
        f"the {what} scheduled at {due_at:%Y-%m-%dT%H:%M:%SZ}{later} did not run at its time "
        f"(the control plane was not running); one runs now"
    )
    events.record(session, instance_id, f"{what}_missed", message)
