"""The audit log: every mutation, in the same transaction as the mutation itself."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from metapaas.db import models
from metapaas.iam.principal import Principal


def record(
    session: Session,
    actor: Principal | None,
    action: str,
    *,
    target_type: str,
    target_id: str,
    project_id: str | None = None,
    request_id: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    """Add an entry; it commits or rolls back with the change it describes."""
    session.add(
        models.AuditEntry(
            actor_id=actor.user_id if actor else None,
            actor_name=actor.name if actor else "system",
            action=action,
            target_type=target_type,
            target_id=target_id,
            project_id=project_id,
            request_id=request_id,
            details=details or {},
        )
    )
