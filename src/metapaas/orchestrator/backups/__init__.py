"""Backups, owned by the orchestrator: schedules start them, a step on the node that
makes backups takes each, its report becomes the catalogue's entry, retention and users'
deletions expire them, and a restored instance's node restores before it serves.

What the nodes need (``backup.store``, ``backup.source`` in the metadata document) is
built from the instance's place in a repository and its sealed key (:mod:`.places`).
The steps are commands of their own (``sdk.introspect.BACKUP_STEP`` and the rest): a
backup, expiry or drill that fails fails its operation and says so on the backup, never
the instance, so they are kept out of what judges the instance (:func:`lifecycle`); a
failed ``restore`` is the instance's failure, as any provisioning step's is. Whether
the instance could be restored as its policy promises is part of its health
(:mod:`.health`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from metapaas import sdk
from metapaas.db import models
from metapaas.orchestrator import status
from metapaas.orchestrator.backups import (
    catalogue,
    drills,
    health,
    leftovers,
    retention,
    schedule,
    steps,
)
from metapaas.orchestrator.backups.catalogue import default_kind
from metapaas.orchestrator.backups.expiry import Expiry, catalogue_of
from metapaas.orchestrator.backups.places import (
    document_part,
    ensure_place,
    follow_instance,
    probe,
    record_check,
    repository_view,
    users,
)
from metapaas.orchestrator.backups.restores import (
    Window,
    copy_resources,
    moved,
    restorable,
    restore_args,
    restore_first,
    restore_if_lost,
    starting_backup,
    window_of,
)
from metapaas.orchestrator.backups.retention import Rule, needed
from metapaas.orchestrator.backups.schedule import due, next_run, valid_cron
from metapaas.orchestrator.backups.steps import BACKUP_KIND, DELETE_KIND, DRILL_KIND, KINDS
from metapaas.plugins import LoadedType
from metapaas.sdk import introspect

STEPS = frozenset({introspect.BACKUP_STEP, introspect.VERIFY_STEP, introspect.EXPIRE_STEP})
"""Commands whose end is a backup's, not the instance's."""


def lifecycle(queued: Iterable[models.NodeCommand]) -> list[models.NodeCommand]:
    """The commands the instance's status is judged by: all but the backup steps."""
    return [c for c in queued if c.name not in STEPS]


def advance(
    session: Session,
    instance: models.Instance,
    loaded: LoadedType,
    view: sdk.InstanceView,
    nodes: Sequence[models.Node],
    queued: list[models.NodeCommand],
    now: datetime,
) -> bool:
    """Move the instance's backups on: start what its schedules made due, take the ended
    steps, expire what retention lets go and what users deleted. Returns whether a step
    was queued (the nodes' metadata changed)."""
    before = len(queued)
    declared = loaded.declaration.backups
    policy = session.get(models.BackupPolicy, instance.id)
    if declared is not None and policy is not None:
        schedule.take_due(session, instance, policy, default_kind(declared), now)
    this_pass = steps.Pass(session, instance, loaded, view, nodes, queued, now)
    if instance.drill_of is not None:
        drills.on_scratch(this_pass)
        return len(queued) > before
    expiry = Expiry(this_pass)
    expiry.settle()
    rule = Rule.of(policy) if policy is not None else None
    completed = catalogue.advance(this_pass)
    if completed and policy is not None and rule is not None:
        expiry.enforce(rule)  # as after every backup: it may let an older one go
        for backup in completed:
            if backup.kind in retention.BASES and not policy.verify:
                drills.start(session, instance, backup)  # by default, after each
    for op in steps.running(session, instance.id, DELETE_KIND):
        expiry.delete(op, rule)
    drills.advance(this_pass)
    return len(queued) > before


def judged(
    session: Session,
    instance: models.Instance,
    loaded: LoadedType,
    nodes: Sequence[models.Node],
    verdict: status.Verdict,
    now: datetime,
) -> status.Verdict:
    """The verdict, ``DEGRADED`` when the instance serves but its data is at risk."""
    declared = loaded.declaration.backups
    if verdict.status != models.InstanceStatus.ACTIVE or declared is None:
        return verdict
    why = health.at_risk(session, instance, declared, nodes, now)
    if not why:
        return verdict
    return dataclasses.replace(verdict, status=models.InstanceStatus.DEGRADED, reason=why)


__all__ = [
    "BACKUP_KIND",
    "DELETE_KIND",
    "DRILL_KIND",
    "KINDS",
    "STEPS",
    "Rule",
    "Window",
    "advance",
    "catalogue_of",
    "copy_resources",
    "default_kind",
    "document_part",
    "due",
    "ensure_place",
    "follow_instance",
    "judged",
    "leftovers",
    "lifecycle",
    "moved",
    "needed",
    "next_run",
    "probe",
    "record_check",
    "repository_view",
    "restorable",
    "restore_args",
    "restore_first",
    "restore_if_lost",
    "retention",
    "starting_backup",
    "users",
    "valid_cron",
    "window_of",
]
