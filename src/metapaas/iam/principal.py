"""Who is calling, what they may do, and where."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from metapaas import db
from metapaas.db import models
from metapaas.errors import Forbidden, Invalid, NotFound, Unauthorized
from metapaas.iam import permissions, tokens

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    user_id: str
    name: str
    is_admin: bool
    default_project_id: str | None
    roles: Mapping[str, models.Role]
    token_id: str = ""
    token_last_used_at: datetime | None = None
    """When the token was last used before this request, as authentication read it."""

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


def given_bearer(bearer: str | None) -> str:
    """The token a request sent; without one it is refused before anything else."""
    if not bearer:
        raise Unauthorized("send 'Authorization: Bearer <token>'")
    return bearer


def authenticate(session: Session, bearer: str | None) -> Principal:
    """Who ``bearer`` acts for; only reads, so a read-only request may authenticate."""
    bearer = given_bearer(bearer)
    # One round trip for the token, its user and the user's roles (a row per role, or
    # one without): this runs on every request.
    found = session.execute(
        select(models.ApiToken, models.User, models.RoleBinding)
        .join(models.User, models.User.id == models.ApiToken.user_id)
        .outerjoin(models.RoleBinding, models.RoleBinding.user_id == models.User.id)
        .where(models.ApiToken.token_hash == tokens.digest(bearer))
    ).all()
    now = models.utcnow()
    if not found:
        raise Unauthorized("the token is unknown, revoked or expired")
    token, user, _ = found[0]
    if token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= now):
        raise Unauthorized("the token is unknown, revoked or expired")
    return Principal(
        user_id=user.id,
        name=user.name,
        is_admin=user.is_admin,
        default_project_id=token.project_id or user.default_project_id,
        roles={b.project_id: models.Role(b.role) for _, _, b in found if b is not None},
        token_id=token.id,
        token_last_used_at=token.last_used_at,
    )


LAST_USED_PRECISION = timedelta(minutes=1)
"""``last_used_at`` moves at most this often: one write a minute per token, not one a request."""


def note_use(writers: sessionmaker[Session], principal: Principal) -> None:
    """Record when the principal's token was used, in a short write transaction of its own.

    Called before the request's own work, so a read-only request records it too and a
    failed one still counts. The condition is checked again in the ``UPDATE``: of
    requests racing on one token, one writes. A database too busy to take the write is
    no reason to refuse the request: the use is recorded by a later one.
    """
    now = models.utcnow()
    last = principal.token_last_used_at
    if not principal.token_id or (last is not None and now - last < LAST_USED_PRECISION):
        return
    try:
        with writers.begin() as session:
            session.execute(
                update(models.ApiToken)
                .where(
                    models.ApiToken.id == principal.token_id,
                    or_(
                        models.ApiToken.last_used_at.is_(None),
                        models.ApiToken.last_used_at <= now - LAST_USED_PRECISION,
                    ),
                )
                .values(last_used_at=now)
            )
    except Exception as exc:
        if db.outage(exc) is None:
            raise
        log.info("use of token %s not recorded this time: %s", principal.token_id, db.summary(exc))
