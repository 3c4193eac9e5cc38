"""Instance events: what happened, for the people who run the instance."""

from __future__ import annotations

from sqlalchemy.orm import Session

from metapaas.db import models


def record(session: Session, instance_id: str, kind: str, message: str, node: str = "") -> None:
    """Add an event; it commits or rolls back with the change it tells of."""
    session.add(models.Event(instance_id=instance_id, kind=kind, message=message, node_name=node))
