"""Expiry: the backups retention lets go and those users delete are removed from the
repository by the node that makes backups, then from the catalogue.

A backup leaves the catalogue only once its ``expire`` step succeeded, so a crash at any
point leaves it listed and its expiry is asked again; a step that failed says why on the
backup, and the next expiry asks again.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from metapaas import sdk
from metapaas.db import models
from metapaas.orchestrator import events, status
from metapaas.orchestrator.backups import retention, steps
from metapaas.sdk import introspect


def catalogue_of(session: Session, instance_id: str) -> list[models.Backup]:
    """Every backup of the instance, oldest first."""
    return list(
        session.scalars(
            select(models.Backup)
            .where(models.Backup.instance_id == instance_id)
            .order_by(models.Backup.started_at)
        )
    )


class Expiry:
    """One pass's expiries of one instance."""

    def __init__(self, this: steps.Pass) -> None:
        self.this = this
        self.session, self.instance = this.session, this.instance

    def settle(self) -> None:
        """Take the ended ``expire`` steps: the backup leaves the catalogue, or says why
        it could not."""
        for command in self.this.queued:
            if command.name != introspect.EXPIRE_STEP or command.state in models.OPEN_COMMANDS:
                continue
            backup = self.session.get(models.Backup, command.args.get("backup"))
            if backup is None:
                continue
            if command.state == models.CommandState.SUCCEEDED:
                self._forget(backup, f"expired on {command.node_name}")
            elif not backup.reason.startswith("expiry failed"):
                backup.reason = f"expiry failed: {status.failure([], [command])}"
                events.record(self.session, self.instance.id, "backup_expiry_failed", backup.reason)

    def enforce(self, rule: retention.Rule) -> None:
        """Expire what ``rule`` no longer keeps."""
        for backup in retention.expired(
            catalogue_of(self.session, self.instance.id), rule, self.this.now
        ):
            self.expire(backup)

    def delete(self, op: models.Operation, rule: retention.Rule | None) -> None:
        """Move a user's deletion of one backup on; it ends when the backup is gone."""
        backup = self.session.get(models.Backup, str(op.params.get("backup")))
        if backup is None or backup.instance_id != self.instance.id:
            steps.end(op)
            return
        catalogue = catalogue_of(self.session, self.instance.id)
        if rule is not None and (why := retention.needed(backup, catalogue, rule, self.this.now)):
            steps.end(op, f"backup {backup.id} cannot be deleted: {why}")
            return
        command = steps.command_for(self.this.queued, introspect.EXPIRE_STEP, backup.id)
        if command is not None and command.state == models.CommandState.FAILED:
            steps.end(op, backup.reason or status.failure([], [command]))
            return
        op.progress = self.expire(backup) or f"deleting backup {backup.id}"

    def expire(self, backup: models.Backup) -> str:
        """Queue the expiry of ``backup`` unless one is under way; '' once it is queued,
        else what it waits for."""
        command = steps.command_for(self.this.queued, introspect.EXPIRE_STEP, backup.id)
        if command is not None and command.state in models.OPEN_COMMANDS:
            return ""
        declared = self.this.loaded.declaration.backups
        if declared is None or not _stored(backup, declared):
            self._forget(backup, "nothing of it was stored")
            return ""
        node = steps.maker(declared, self.this.nodes, self.instance.generation)
        if node is None:
            return f"waiting for a {declared.role} node that serves"
        step = steps.step(self.this.loaded, self.this.view, node, introspect.EXPIRE_STEP)
        if step is None:
            return f"the {self.this.loaded.slug} type declares no {introspect.EXPIRE_STEP!r} step"
        args = {"backup": backup.id, "label": backup.label or backup.id}
        steps.queue(self.this, node, step, args)
        message = f"expiring backup {backup.id} ({backup.label or 'no label'})"
        events.record(self.session, self.instance.id, "backup_expiring", message, node.name)
        return ""

    def _forget(self, backup: models.Backup, how: str) -> None:
        message = f"backup {backup.id} ({backup.label or 'no label'}) deleted: {how}"
        events.record(self.session, self.instance.id, "backup_expired", message)
        self.session.delete(backup)
        self.session.flush()


def _stored(backup: models.Backup, declared: sdk.Backups) -> bool:
    """Whether the repository may hold something of ``backup``: a backup the engine's own
    tool never named left nothing it does not clean up itself; what the agent uploads
    is under the backup's id until its step names it."""
    return backup.label is not None or declared.stored_by == "agent"
