"""Drills: a backup is verified by restoring it.

A ``drill`` operation on an instance makes a scratch instance no user sees
(``Instance.drill_of``; its id is the operation's): the same type, version, spec,
secrets and child resources, restored from the backup as any restored instance is (its
node's ``restore`` step runs before its services start). Once its node serves, its own
pass runs the type's ``verify`` step there. What that finds marks the backup
``VERIFIED`` (with the measured restore time: from the scratch instance's creation to
its node serving) or ``UNRESTORABLE`` (with the reason: the restore failed, the check
failed, or an object is not as it was stored), ends the drill, and deletes the scratch
instance. A scratch instance that does not serve within :data:`DEADLINE` ends the drill
as failed, saying so, and leaves the backup as it was: what broke was not shown to be
the backup.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import ValidationError
from sqlalchemy.orm import Session

from metapaas import sdk
from metapaas.db import models
from metapaas.orchestrator import events, queue, status
from metapaas.orchestrator.backups import restores, retention, steps
from metapaas.sdk import introspect

DEADLINE = timedelta(hours=2)
"""How long a scratch instance may take to restore and serve."""


def start(session: Session, instance: models.Instance, backup: models.Backup) -> models.Operation:
    """A drill of ``backup``, started by the orchestrator (after a full backup)."""
    return steps.start(session, instance, steps.DRILL_KIND, {"backup": backup.id}, "queued")


def advance(this: steps.Pass) -> None:
    """Move the instance's drills on: each gets its scratch instance, once."""
    for op in steps.running(this.session, this.instance.id, steps.DRILL_KIND):
        if this.session.get(models.Instance, op.id) is None:
            _make_scratch(this, op)


def _make_scratch(this: steps.Pass, op: models.Operation) -> None:
    session, source = this.session, this.instance
    backup = _drilled(session, op)
    if backup is None:
        steps.end(op, "there is no restorable backup to verify")
        return
    op.params = {**op.params, "backup": backup.id}
    scratch = models.Instance(
        id=op.id,
        type_slug=source.type_slug,
        project_id=source.project_id,
        name=f"drill-{op.id}",
        version=source.version,
        description=f"restore drill of backup {backup.id} of {source.name}",
        spec=dict(source.spec),
        sealed_secrets=source.sealed_secrets,
        drill_of=source.id,
        created_at=this.now,  # its deadline and measured restore time count from here
        status_reason="restoring the backup onto a scratch node",
    )
    session.add(scratch)
    session.flush()
    session.add(
        models.Restore(instance_id=scratch.id, source_instance_id=source.id, backup_id=backup.id)
    )
    restores.copy_resources(session, source.id, scratch.id)
    queue.enqueue(session, scratch.id, this.now)
    op.progress = f"restoring backup {backup.id} onto a scratch node"
    message = f"drill of backup {backup.id} ({backup.label}): restoring it onto a scratch node"
    events.record(session, source.id, "drill_started", message)


def _drilled(session: Session, op: models.Operation) -> models.Backup | None:
    """The backup the drill verifies: the one it names, else (a scheduled drill) the
    newest restorable full backup."""
    named = op.params.get("backup")
    if named:
        backup = session.get(models.Backup, named)
        return backup if backup is not None and backup.state in models.RESTORABLE else None
    bases = [
        b for b in restores.restorable(session, op.instance_id or "") if b.kind in retention.BASES
    ]
    return bases[-1] if bases else None


def on_scratch(this: steps.Pass) -> None:
    """The scratch instance's own pass: verify once its node serves, record what the
    drill found, then go."""
    scratch = this.instance
    op = this.session.get(models.Operation, scratch.id)
    restore = this.session.get(models.Restore, scratch.id)
    if op is None or op.state != models.OperationState.RUNNING or restore is None:
        _go(this)  # the drill ended without it (its instance was deleted)
        return
    backup = this.session.get(models.Backup, restore.backup_id) if restore.backup_id else None
    if backup is None:
        _end(this, op, "the backup was deleted during its drill")
        return
    failure = status.failure(
        this.nodes, [c for c in this.queued if c.name != introspect.VERIFY_STEP]
    )
    if failure:
        _unrestorable(this, op, backup, f"its restore failed: {failure}")
        return
    verify = steps.command_for(this.queued, introspect.VERIFY_STEP, backup.id)
    if verify is None:
        _verify_once_serving(this, op, backup)
    elif verify.state not in models.OPEN_COMMANDS:
        _judge(this, op, backup, verify)


def _verify_once_serving(this: steps.Pass, op: models.Operation, backup: models.Backup) -> None:
    declared = this.loaded.declaration.backups
    if declared is None:  # the type stopped keeping backups (an upgrade) mid-drill
        _end(this, op, f"the {this.loaded.slug} type keeps no backups")
        return
    node = steps.maker(declared, this.nodes, this.instance.generation)
    if node is None:
        if this.now - this.instance.created_at > DEADLINE:
            _end(this, op, f"the scratch instance did not serve within {DEADLINE}")
        return
    step = steps.step(this.loaded, this.view, node, introspect.VERIFY_STEP)
    if step is None:
        _end(this, op, f"the {this.loaded.slug} type declares no {introspect.VERIFY_STEP!r} step")
        return
    # The check compares the restored engine with what the backup step saw: its position.
    args = {**backup.position, "backup": backup.id, "label": backup.label or ""}
    steps.queue(this, node, step, args)
    op.progress = f"restored; checking it on {node.name}"


def _judge(
    this: steps.Pass, op: models.Operation, backup: models.Backup, verify: models.NodeCommand
) -> None:
    if verify.state != models.CommandState.SUCCEEDED or verify.result is None:
        _unrestorable(this, op, backup, f"its check failed: {status.failure([], [verify])}")
        return
    try:
        report = sdk.VerifyReport.model_validate(verify.result.result or {})
    except ValidationError as exc:
        why = f"its check's report is not a verify report: {steps.wrong_in(exc)}"
        _unrestorable(this, op, backup, why)
        return
    if changed := _changed(backup, report):
        _unrestorable(this, op, backup, changed)
        return
    backup.state = models.BackupState.VERIFIED
    backup.verified_at = this.now
    backup.restore_seconds = (verify.created_at - this.instance.created_at).total_seconds()
    message = (
        f"backup {backup.id} verified: restored and serving in {backup.restore_seconds:.1f}s; "
        f"{report.check or 'the check passed'}"
    )
    events.record(this.session, backup.instance_id, "backup_verified", message[:2000])
    _end(this, op, "")


def _changed(backup: models.Backup, report: sdk.VerifyReport) -> str:
    """What of the backup's objects is not as it was stored, or ''."""
    for key, digest in sorted(backup.objects.items()):
        now = report.objects.get(key)
        if now is None:
            return f"object {key} is missing from the repository"
        if now != digest:
            return f"object {key} changed since it was stored (sha256 {now}, stored {digest})"
    return ""


def _unrestorable(
    this: steps.Pass, op: models.Operation, backup: models.Backup, reason: str
) -> None:
    backup.state = models.BackupState.UNRESTORABLE
    backup.reason = reason
    backup.verified_at = this.now
    _end(this, op, f"backup {backup.id} is unrestorable: {reason}", "backup_unrestorable")


def _end(this: steps.Pass, op: models.Operation, reason: str, kind: str = "drill_failed") -> None:
    """End the drill (failed with ``reason``, told as an event ``kind`` of the drilled
    instance) and delete its scratch instance."""
    steps.end(op, reason)
    if reason:
        events.record(this.session, this.instance.drill_of or "", kind, reason[:2000])
    _go(this)


def _go(this: steps.Pass) -> None:
    """Ask for the scratch instance's deletion, once."""
    scratch = this.instance
    if steps.running(this.session, scratch.id, "delete", pending_too=True):
        return
    this.session.add(
        models.Operation(
            kind="delete",
            instance_id=scratch.id,
            project_id=scratch.project_id,
            target_generation=scratch.generation,
            progress="the drill ended",
        )
    )
    queue.enqueue(this.session, scratch.id, this.now)
