"""Retention: which of an instance's backups are kept, which expire, and which a user may
not delete. Pure functions of the catalogue, the policy and the time.

A backup is kept while either of the policy's rules keeps it:

- ``count``: the newest *count* full backups (or snapshots);
- ``days``: those that ended within *days*, and, with the log archived, the newest full
  backup that ended before that, which the points back to the cutoff are restored from.

Whatever the rules say, the newest restorable full backup is kept (a policy never leaves
nothing to restore), and a kept full backup keeps the incremental backups built on it.
A backup that failed, or that a drill could not restore, expires once it is older than
every kept full backup: it stays listed for as long as backups of its age are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from metapaas.db import models

BASES = ("full", "snapshot")
"""Kinds a restore can start from alone."""


@dataclass(frozen=True)
class Rule:
    count: int | None
    days: int | None
    continuous: bool

    @classmethod
    def of(cls, policy: models.BackupPolicy) -> Rule:
        return cls(policy.retention_count, policy.retention_days, policy.continuous)


def _restorable(backups: Sequence[models.Backup]) -> list[models.Backup]:
    return [b for b in backups if b.state in models.RESTORABLE and b.finished_at is not None]


def _bases(backups: Sequence[models.Backup]) -> list[models.Backup]:
    """The restorable full backups, newest first."""
    bases = [b for b in _restorable(backups) if b.kind in BASES]
    return sorted(bases, key=_ended, reverse=True)


def _ended(backup: models.Backup) -> datetime:
    return backup.finished_at or backup.started_at


def _kept_bases(bases: Sequence[models.Backup], rule: Rule, now: datetime) -> list[models.Backup]:
    kept = list(bases[: max(rule.count or 0, 1)])
    if rule.days is not None:
        cutoff = now - timedelta(days=rule.days)
        kept += [b for b in bases if _ended(b) >= cutoff]
        older = [b for b in bases if _ended(b) < cutoff]
        if rule.continuous and older:
            kept.append(older[0])
    return kept


def _root(backup: models.Backup, by_label: dict[str, models.Backup]) -> models.Backup | None:
    """The full backup an incremental one builds on, through its chain; None when a link
    of the chain is not restorable."""
    seen: set[str] = set()
    while backup.kind not in BASES:
        parent = by_label.get(backup.depends_on)
        if parent is None or parent.id in seen:
            return None
        seen.add(parent.id)
        backup = parent
    return backup


def kept(backups: Sequence[models.Backup], rule: Rule, now: datetime) -> set[str]:
    """The ids of the backups the policy keeps."""
    restorable = _restorable(backups)
    by_label = {b.label: b for b in restorable if b.label}
    bases = {b.id for b in _kept_bases(_bases(backups), rule, now)}
    return {b.id for b in restorable if (root := _root(b, by_label)) and root.id in bases}


def expired(backups: Sequence[models.Backup], rule: Rule, now: datetime) -> list[models.Backup]:
    """The backups to expire now, oldest first: ended, and kept by no rule."""
    keep = kept(backups, rule, now)
    oldest_kept = min((_ended(b) for b in backups if b.id in keep), default=None)
    found = []
    for backup in backups:
        if backup.id in keep or backup.state == models.BackupState.RUNNING:
            continue
        if backup.state in models.RESTORABLE or (
            oldest_kept is not None and _ended(backup) < oldest_kept
        ):
            found.append(backup)
    return sorted(found, key=_ended)


def needed(
    backup: models.Backup, backups: Sequence[models.Backup], rule: Rule, now: datetime
) -> str:
    """Why a user may not delete ``backup`` (a later point needs it), or ''."""
    if backup.state == models.BackupState.RUNNING:
        return "it is still being made"
    restorable = _restorable(backups)
    builds_on = [b.id for b in restorable if backup.label and b.depends_on == backup.label]
    if builds_on:
        return f"backup {builds_on[0]} builds on it"
    bases = _bases(backups)
    if bases and bases[0].id == backup.id:
        return "it is the newest full backup a restore can start from"
    if rule.continuous and backup.id in kept(backups, rule, now) and backup.kind in BASES:
        return (
            "the log is archived and the retention keeps the points from its end to the "
            "next full backup's, which only it restores"
        )
    return ""
