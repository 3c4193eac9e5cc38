"""What an agent's news means for its instance: whether it must wake a pass now.

The agent API writes the node's report (its own row) and then asks
:func:`wakes_now`; when the answer is yes it records the wish with
``queue.enqueue``, as the API records a user's request. The judgment is the
orchestrator's, beside its others (``status``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from metapaas import sdk
from metapaas.db import models

AgentState = models.AgentState
Health = models.Health


@dataclass(frozen=True)
class Reported:
    """What of a report can move its instance's verdict (its health, which an archive that
    stopped is part of)."""

    state: models.AgentState
    health: models.Health
    applied_generation: int
    message: str
    archive_failing: bool = False

    @classmethod
    def of(cls, report: models.NodeReport) -> Reported:
        return cls(
            report.state,
            report.health,
            report.applied_generation,
            report.message,
            archive_failing(report.archive),
        )


def archive_failing(archive: Mapping[str, Any] | None) -> bool:
    """Whether the archive step's last attempt (``sdk.ArchiveStatus``, as reported) failed."""
    if not archive:
        return False
    try:
        return sdk.ArchiveStatus.model_validate(archive).failing
    except ValidationError:
        return True  # a record that is not one: the step is broken


def setback(before: Reported, after: Reported) -> bool:
    """Whether a report takes its node further from serving: it failed, turned unhealthy,
    stopped being healthy, or went back a generation (a reset)."""
    return (
        after.state == AgentState.FAILED
        or after.health == Health.UNHEALTHY
        or (before.health == Health.HEALTHY and after.health != Health.HEALTHY)
        or after.applied_generation < before.applied_generation
    )


def wakes_now(session: Session, node: models.Node, before: Reported, after: Reported) -> bool:
    """Whether a report from ``node`` wakes its instance's pass at once. One that changes
    nothing the verdict reads (a heartbeat) wakes none; a setback always does; progress
    does unless :func:`news_may_wait`."""
    if before == after:
        return False
    return setback(before, after) or not news_may_wait(session, node)


def result_moves(command: models.NodeCommand, reported: models.ResultState) -> bool:
    """Whether a command's result is news that wakes its instance's pass at once: the
    command started or ended. A running command's progress alone is not: the only reader
    of it, a pass with a backup step under way, looks again every ``CONVERGING_POLL``
    (the reconciler's) anyway."""
    return command.state.value != reported.value


def registration_wakes(session: Session, node: models.Node) -> bool:
    """Whether a node's registration wakes its instance's pass at once: it is progress."""
    return not news_may_wait(session, node)


def news_may_wait(session: Session, node: models.Node) -> bool:
    """Whether news from ``node`` that brings it nearer to serving (it registered, it
    applied a revision, it turned healthy) may wait for its instance's next pass instead
    of waking one now.

    A converging instance is looked at every ``CONVERGING_POLL`` anyway, and while
    another of its nodes has not applied the instance's generation, one node's progress
    cannot end the wait. A pass for each such report would be, for one change of a
    thousand-node instance, a thousand passes over a thousand nodes. The last node's news
    wakes a pass at once, so a converged instance turns ``ACTIVE`` without delay.
    """
    instance = session.get(models.Instance, node.instance_id)
    converging = (models.InstanceStatus.IN_PROGRESS, models.InstanceStatus.UPDATING)
    if instance is None or instance.status not in converging:
        return False
    report = models.NodeReport
    lagging = (
        select(models.Node.name)
        .outerjoin(
            report,
            and_(
                report.node_name == models.Node.name,
                report.incarnation == models.Node.incarnation,
            ),
        )
        .where(
            models.Node.instance_id == node.instance_id,
            models.Node.name != node.name,
            or_(report.node_name.is_(None), report.applied_generation < instance.generation),
        )
        .limit(1)
    )
    return session.scalar(lagging) is not None
