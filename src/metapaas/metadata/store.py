"""The revisioned metadata tree: stored durably, read per node.

The instance-wide document (spec, secrets, version, peers, resources, extra)
is stored with a revision that only rises, in the same transaction as the
change that caused it. A node's view adds itself and its pending commands.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from metapaas.db import models


def publish(session: Session, instance_id: str, document: dict[str, Any]) -> int | None:
    """Store ``document`` for the instance if it differs; return the new revision or None.

    The row is locked for the update, so two writers (replicas, workers) never
    hand out the same revision.
    """
    row = _locked_row(session, instance_id)
    if row.revision and row.document == document:
        return None
    row.document = document
    return _next_revision(session, row)


def bump(session: Session, instance_id: str) -> int:
    """A new revision with the same document: pending commands changed."""
    return _next_revision(session, _locked_row(session, instance_id))


def _locked_row(session: Session, instance_id: str) -> models.MetadataDocument:
    """The instance's row, locked for this transaction; a new one at revision 0."""
    row = session.scalar(
        select(models.MetadataDocument)
        .where(models.MetadataDocument.instance_id == instance_id)
        .with_for_update()
    )
    if row is None:
        row = models.MetadataDocument(instance_id=instance_id, revision=0, document={})
        session.add(row)
    return row


def _next_revision(session: Session, row: models.MetadataDocument) -> int:
    row.revision += 1
    session.flush()
    return row.revision


def node_view(session: Session, node: models.Node, after: int) -> dict[str, Any] | None:
    """What ``node`` reads: None when nothing is newer than ``after``.

    An ``after`` ahead of the store (a node that outlived a restored database)
    gets the full view marked as a reset.
    """
    row = session.get(models.MetadataDocument, node.instance_id)
    if row is None or not row.document:
        return None
    if row.revision == after:
        return None
    reset = after > row.revision
    commands = session.scalars(
        select(models.NodeCommand)
        .where(
            models.NodeCommand.node_name == node.name,
            models.NodeCommand.state.in_(
                [models.CommandState.PENDING, models.CommandState.RUNNING]
            ),
        )
        .order_by(models.NodeCommand.created_at)
    )
    return {
        **row.document,
        "revision": row.revision,
        "reset": reset,
        "node": {
            "name": node.name,
            "role": node.role,
            "ordinal": node.ordinal,
            "address": node.address,
            "ports": node.ports,
        },
        "commands": [{"id": c.id, "name": c.name, "timeout": c.timeout} for c in commands],
    }
