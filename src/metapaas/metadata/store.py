"""The revisioned metadata tree: stored durably, read per node.

The instance-wide document (spec, secrets, version, peers, resources, extra)
is stored with a revision that only rises, in the same transaction as the
change that caused it. A node's view adds itself and its pending commands.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from metapaas.db import Sealer, models


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


def node_view(
    session: Session, node: models.Node, after: int, sealer: Sealer, authority: str
) -> bytes | None:
    """What ``node`` reads, as JSON: None when nothing is newer than ``after``.

    A node with a certificate reads it in its own part, with its key (unsealed for it
    alone) and ``authority``, the CA certificate that signed it, as ``node.pem``.

    An ``after`` ahead of the store (a node that outlived a restored database)
    gets the full view marked as a reset. The revision is read first, so a
    long-poll that finds nothing new never loads the document; the document is
    encoded once per revision and process (every node of the instance reads the
    same one: a thousand nodes, one encoding), and the node's own part joined to it.
    """
    stored = models.MetadataDocument
    head = session.execute(
        select(stored.revision, stored.updated_at).where(stored.instance_id == node.instance_id)
    ).one_or_none()
    if head is None or head.revision == after:
        return None
    revision, document = _encoded_document(
        session, node.instance_id, head.revision, head.updated_at
    )
    if document == b"{}":  # a revision without a document yet: nothing to read
        return None
    # A node has a few commands (an ``init`` per replacement or retry): which are still
    # open is read in Python, by the one reading of a command's state.
    commands = session.scalars(
        select(models.NodeCommand)
        .where(models.NodeCommand.node_name == node.name)
        .order_by(models.NodeCommand.created_at)
    )
    own = {
        "revision": revision,
        "reset": after > revision,
        "node": {
            "name": node.name,
            "role": node.role,
            "ordinal": node.ordinal,
            "address": node.address,
            "ports": node.ports,
            **_certificate(node, sealer, authority),
        },
        "commands": [
            {"id": c.id, "name": c.name, "args": c.args, "timeout": c.timeout}
            for c in commands
            if c.state in models.OPEN_COMMANDS
        ],
    }
    # Both are JSON objects with keys of their own (the document's are fixed by
    # ``metadata_document``): one object is the two joined.
    return document[:-1] + b"," + _encode(own)[1:]


def _certificate(node: models.Node, sealer: Sealer, authority: str) -> dict[str, Any]:
    if not node.tls_certificate:
        return {}
    key = sealer.unseal(node.tls_sealed_key)["key"]
    return {"pem": {"certificate": node.tls_certificate, "key": key, "authority": authority}}


_documents: OrderedDict[tuple[str, int, datetime], bytes] = OrderedDict()
_documents_lock = threading.Lock()
DOCUMENTS_KEPT = 64
"""Encoded documents kept per process: the instances whose nodes read now, most recent first."""


def _encoded_document(
    session: Session, instance_id: str, revision: int, updated_at: datetime
) -> tuple[int, bytes]:
    """The instance's stored document, encoded, with its revision.

    ``revision`` and ``updated_at`` are what the caller read; a revision's
    document never changes, and ``updated_at`` tells a revision written anew (a
    restored database counting again) from the one kept. Not kept yet, the
    document is read with its own revision in one statement: under PostgreSQL's
    read committed, a second statement may see a newer revision than the first.
    """
    key = (instance_id, revision, updated_at)
    with _documents_lock:
        if (kept := _documents.get(key)) is not None:
            _documents.move_to_end(key)
            return revision, kept
    stored = models.MetadataDocument
    revision, updated_at, document = session.execute(
        select(stored.revision, stored.updated_at, stored.document).where(
            stored.instance_id == instance_id
        )
    ).one()
    encoded = _encode(document)
    with _documents_lock:
        _documents[(instance_id, revision, updated_at)] = encoded
        while len(_documents) > DOCUMENTS_KEPT:
            _documents.popitem(last=False)
    return revision, encoded


def _encode(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
