"""First start: the ``admin`` user, its default project and a token shown once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from metapaas.db import models
from metapaas.iam import audit, tokens

ADMIN_NAME = "admin"
DEFAULT_PROJECT = "default"


def ensure_admin(session: Session) -> str | None:
    """Create the admin, a ``default`` project and a token; return the token only when new."""
    if session.scalar(select(models.User).where(models.User.name == ADMIN_NAME)):
        return None
    project = session.scalar(select(models.Project).where(models.Project.name == DEFAULT_PROJECT))
    if project is None:
        project = models.Project(name=DEFAULT_PROJECT, description="Created at first start")
        session.add(project)
        session.flush()
    admin = models.User(name=ADMIN_NAME, is_admin=True, default_project_id=project.id)
    session.add(admin)
    session.flush()
    session.add(models.RoleBinding(user_id=admin.id, project_id=project.id, role=models.Role.OWNER))
    token, _ = issue_token(session, admin.id, "bootstrap", project.id)
    audit.record(session, None, "iam.users.create", target_type="user", target_id=admin.id)
    return token


def issue_token(
    session: Session,
    user_id: str,
    name: str,
    project_id: str | None,
    expires_at: datetime | None = None,
) -> tuple[str, models.ApiToken]:
    """A new token and its stored row; the token itself is not kept."""
    token = tokens.new_token()
    row = models.ApiToken(
        user_id=user_id,
        name=name,
        token_hash=tokens.digest(token),
        prefix=tokens.display_prefix(token),
        project_id=project_id,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return token, row
