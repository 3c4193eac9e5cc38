"""Who is calling, what they may do, and where."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from metapaas.db import models
from metapaas.errors import Forbidden, Invalid, NotFound, Unauthorized
from metapaas.iam import permissions, tokens


@dataclass(frozen=True)
class Principal:
    user_id: str
    name: str
    is_admin: bool
    default_project_id: str | None
    roles: Mapping[str, models.Role]

    def visible_projects(self) -> frozenset[str] | None:
        """Projects whose contents this caller may see; None means all (admin)."""
        return None if self.is_admin else frozenset(self.roles)

    def can(self, permission: str, project_id: str) -> bool:
        if self.is_admin:
            return True
        role = self.roles.get(project_id)
        return role is not None and permissions.role_grants(role, permission)

    def require(self, permission: str, project_id: str, *, what: str = "resource") -> None:
        """Allow, or refuse: 404 where the caller has no role (existence stays hidden), 403
        where its role lacks the permission."""
        if self.is_admin:
            return
        if project_id not in self.roles:
            raise NotFound(f"{what} not found")
        if not self.can(permission, project_id):
            raise Forbidden(f"permission {permission!r} is required in this project")

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("this needs the global admin role")

    def target_project(self, requested: str | None, field: str = "project_id") -> str:
        """The project a create goes to: the one asked for, else the caller's default."""
        project_id = requested or self.default_project_id
        if project_id is None:
            raise Invalid.field(field, "required", "no project given and the token has no default")
        if not self.is_admin and project_id not in self.roles:
            raise Invalid.field(field, "not_member", "you hold no role in this project")
        return project_id


def authenticate(session: Session, bearer: str | None) -> Principal:
    if not bearer:
        raise Unauthorized("send 'Authorization: Bearer <token>'")
    token = session.scalar(
        select(models.ApiToken).where(models.ApiToken.token_hash == tokens.digest(bearer))
    )
    now = models.utcnow()
    if (
        token is None
        or token.revoked_at is not None
        or (token.expires_at is not None and token.expires_at <= now)
    ):
        raise Unauthorized("the token is unknown, revoked or expired")
    user = session.get(models.User, token.user_id)
    if user is None:
        raise Unauthorized("the token's user no longer exists")
    _note_use(session, token, now)
    bindings = session.scalars(
        select(models.RoleBinding).where(models.RoleBinding.user_id == user.id)
    )
    return Principal(
        user_id=user.id,
        name=user.name,
        is_admin=user.is_admin,
        default_project_id=token.project_id or user.default_project_id,
        roles={b.project_id: models.Role(b.role) for b in bindings},
    )


LAST_USED_PRECISION = timedelta(minutes=1)
"""``last_used_at`` moves at most this often: one write a minute per token, not one a request."""


def _note_use(session: Session, token: models.ApiToken, now: datetime) -> None:
    """Record when the token was last used; committed at once, before the request's own
    work, so a read-only request records it too and a failed one still counts."""
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        token.last_used_at = now
        session.commit()
