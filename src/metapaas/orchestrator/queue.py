"""The durable work queue: which instances need a reconcile, and when.

One row per instance, so requests coalesce (level-triggered: a reconcile
looks at the whole instance, not at what changed). Workers claim rows with a
lease; on PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets several worker
processes share the queue without blocking each other. A crashed worker's
lease simply runs out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from metapaas.db import claims, models, upsert

MAX_BACKOFF = 60.0


@dataclass(frozen=True)
class Claim:
    instance_id: str
    requested: int
    attempts: int
    slug: str  # the instance's type, for metrics; "unknown" once the row is gone


def enqueue(session: Session, instance_id: str, now: datetime, delay: float = 0.0) -> None:
    """Ask for a reconcile no later than ``now + delay``; an earlier request stands.

    One statement, an insert that counts the request on the item when there is one:
    every request and report that wakes the orchestrator runs it inside its own
    transaction (on SQLite, holding the write lock).
    """
    item = models.WorkItem
    due = now + timedelta(seconds=delay)
    wanted = upsert.insert(session, item).values(instance_id=instance_id, due_at=due)
    session.execute(
        wanted.on_conflict_do_update(
            index_elements=[item.instance_id],
            set_={
                "requested": item.requested + 1,
                "due_at": case(
                    (wanted.excluded.due_at < item.due_at, wanted.excluded.due_at),
                    else_=item.due_at,
                ),
            },
        )
    )


def due(session: Session, now: datetime) -> bool:
    """Whether an item is due and unclaimed: a read, so an idle poll never writes."""
    stmt = select(models.WorkItem.instance_id).where(*_claimable(now)).limit(1)
    return session.scalar(stmt) is not None


def unqueued(session: Session) -> list[str]:
    """Converging instances (live, neither ``ACTIVE`` nor in ``ERROR``) without a work item:
    each pass of one requeues it, so these lost theirs."""
    stmt = (
        select(models.Instance.id)
        .outerjoin(models.WorkItem, models.WorkItem.instance_id == models.Instance.id)
        .where(
            models.WorkItem.instance_id.is_(None),
            models.Instance.status.not_in(
                [
                    models.InstanceStatus.ACTIVE,
                    models.InstanceStatus.DELETED,
                    models.InstanceStatus.ERROR,
                ]
            ),
        )
    )
    return list(session.scalars(stmt))


def _claimable(now: datetime) -> tuple[Any, ...]:
    return (
        models.WorkItem.due_at <= now,
        or_(models.WorkItem.claimed_until.is_(None), models.WorkItem.claimed_until < now),
    )


def claim(session: Session, worker_id: str, now: datetime, lease: float, limit: int) -> list[Claim]:
    """Take up to ``limit`` due items for ``lease`` seconds."""
    stmt = (
        select(models.WorkItem, models.Instance.type_slug)
        .outerjoin(models.Instance, models.Instance.id == models.WorkItem.instance_id)
        .where(*_claimable(now))
        .order_by(models.WorkItem.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=models.WorkItem)
    )
    claims = []
    for item, slug in session.execute(stmt):
        item.claimed_by = worker_id
        item.claimed_until = now + timedelta(seconds=lease)
        claims.append(Claim(item.instance_id, item.requested, item.attempts, slug or "unknown"))
    return claims


def finish(
    session: Session,
    claim: Claim,
    now: datetime,
    *,
    requeue_after: float | None,
    error: str = "",
    min_delay: float = 0.0,
) -> datetime | None:
    """Release a claim: drop the item, or requeue it; returns when it is due again.

    After an error the item backs off exponentially, and never comes back sooner
    than ``min_delay`` (a ``TemporaryError``'s own delay). Otherwise an item
    re-requested while it was claimed is due at once.
    """
    item = session.get(
        models.WorkItem, claim.instance_id, with_for_update=True, populate_existing=True
    )
    if item is None:
        return None
    item.claimed_by = ""
    item.claimed_until = None
    if error:
        item.attempts += 1
        item.last_error = error
        item.due_at = now + timedelta(seconds=max(min_delay, backoff(item.attempts)))
        return item.due_at
    item.attempts = 0
    item.last_error = ""
    if item.requested != claim.requested:
        item.due_at = now
    elif requeue_after is not None:
        item.due_at = now + timedelta(seconds=requeue_after)
    else:
        session.delete(item)
        return None
    return item.due_at


def backoff(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failures in a row: 1, 2, 4, ... 32."""
    return min(MAX_BACKOFF, 2.0 ** min(attempts, 6) / 2)


def depth(session: Session, now: datetime) -> int:
    """Items due now or overdue."""
    return (
        session.scalar(
            select(func.count()).select_from(models.WorkItem).where(models.WorkItem.due_at <= now)
        )
        or 0
    )


def release_stale(session: Session, host: str) -> int:
    """Free the claims of workers on ``host`` whose process is gone (a crash, a SIGKILL).

    Claims of other hosts wait for their lease to run out.
    """
    released = 0
    for item in session.scalars(
        select(models.WorkItem).where(models.WorkItem.claimed_by.startswith(f"{host}:"))
    ):
        if claims.held_by_the_dead(item.claimed_by, host):
            item.claimed_by = ""
            item.claimed_until = None
            released += 1
    return released
