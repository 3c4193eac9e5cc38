"""Projects, users, API tokens, role bindings and the permission catalog."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, func, select

from metapaas.api.deps import Ctx, InContext
from metapaas.api.listing import Limit, Marker, page
from metapaas.api.problems import problem_responses
from metapaas.api.timestamps import rfc3339
from metapaas.db import models
from metapaas.errors import Conflict, Invalid, NotFound
from metapaas.iam import issue_token, permissions

# Every route reads the caller's token from the database.
router = APIRouter(
    route_class=InContext, prefix="/v1", tags=["iam"], responses=problem_responses(401, 503)
)

NAME = Field(pattern=r"^[a-z][a-z0-9-]{0,61}[a-z0-9]$", description="lowercase, digits, '-'")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProjectCreate(Strict):
    name: str = NAME
    description: str = Field(default="", max_length=1000)


class ProjectUpdate(Strict):
    description: str = Field(max_length=1000)


class UserCreate(Strict):
    name: str = NAME
    is_admin: bool = False
    default_project_id: str | None = None


class TokenCreate(Strict):
    name: str = Field(min_length=1, max_length=63)
    project_id: str | None = Field(default=None, description="Default project of the token.")
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class BindingCreate(Strict):
    user_id: str
    role: models.Role


def project_view(p: models.Project) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "created_at": rfc3339(p.created_at),
    }


def user_view(u: models.User) -> dict[str, Any]:
    return {
        "id": u.id,
        "name": u.name,
        "is_admin": u.is_admin,
        "default_project_id": u.default_project_id,
        "created_at": rfc3339(u.created_at),
    }


def token_view(t: models.ApiToken) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "prefix": t.prefix,
        "project_id": t.project_id,
        "created_at": rfc3339(t.created_at),
        "expires_at": rfc3339(t.expires_at) if t.expires_at else None,
        "last_used_at": rfc3339(t.last_used_at) if t.last_used_at else None,
        "revoked": t.revoked_at is not None,
    }


def _project(ctx: Ctx, project_id: str, permission: str) -> models.Project:
    project = ctx.session.get(models.Project, project_id)
    if project is None:
        raise NotFound("project not found")
    ctx.principal.require(permission, project.id, what="project")
    return project


def _user(ctx: Ctx, user_id: str) -> models.User:
    """A user the caller may manage: itself, or anyone for an admin."""
    if user_id == "me":
        user_id = ctx.principal.user_id
    user = ctx.session.get(models.User, user_id)
    if user is None or (user.id != ctx.principal.user_id and not ctx.principal.is_admin):
        raise NotFound("user not found")
    return user


def _existing_project(ctx: Ctx, project_id: str | None, field: str) -> None:
    if project_id is not None and ctx.session.get(models.Project, project_id) is None:
        raise Invalid.field(field, "not_found", "no such project")


def _binding(ctx: Ctx, project_id: str, user_id: str) -> models.RoleBinding | None:
    """The user's role binding in the project, if it holds one."""
    return ctx.session.scalar(
        select(models.RoleBinding).where(
            models.RoleBinding.project_id == project_id, models.RoleBinding.user_id == user_id
        )
    )


def _unique(ctx: Ctx, model: Any, name: str) -> None:
    if ctx.session.scalar(select(model.id).where(model.name == name)) is not None:
        raise Conflict.field("name", "unique", f"{name!r} is taken")


# -- projects -----------------------------------------------------------------


@router.post(
    "/projects",
    status_code=status.HTTP_201_CREATED,
    summary="Create a project (admin)",
    responses=problem_responses(403, 409),
)
def create_project(ctx: Ctx, body: ProjectCreate) -> dict[str, Any]:
    ctx.principal.require_admin()
    _unique(ctx, models.Project, body.name)
    project = models.Project(name=body.name, description=body.description)
    ctx.session.add(project)
    ctx.session.flush()
    ctx.audit("iam.projects.create", "project", project.id, project.id, name=project.name)
    ctx.session.commit()
    return project_view(project)


@router.get("/projects", summary="Projects the caller holds a role in (all, for admins)")
def list_projects(ctx: Ctx, limit: Limit = 100, marker: Marker = None) -> dict[str, Any]:
    stmt = select(models.Project)
    visible = ctx.principal.visible_projects()
    if visible is not None:
        stmt = stmt.where(models.Project.id.in_(visible))
    rows, next_marker = page(ctx.session, stmt, models.Project, limit, marker)
    return {"items": [project_view(p) for p in rows], "next_marker": next_marker}


@router.get(
    "/projects/{project_id}", summary="Show a project", responses=problem_responses(403, 404)
)
def show_project(ctx: Ctx, project_id: str) -> dict[str, Any]:
    return project_view(_project(ctx, project_id, "iam.projects.get"))


@router.patch(
    "/projects/{project_id}",
    summary="Update a project (owner)",
    responses=problem_responses(403, 404),
)
def update_project(ctx: Ctx, project_id: str, body: ProjectUpdate) -> dict[str, Any]:
    project = _project(ctx, project_id, "iam.projects.update")
    if body.description != project.description:  # a no-op changes nothing and audits nothing
        project.description = body.description
        ctx.audit("iam.projects.update", "project", project.id, project.id)
        ctx.session.commit()
    return project_view(project)


@router.delete(
    "/projects/{project_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an empty project (admin)",
    responses=problem_responses(403, 404, 409),
)
def delete_project(ctx: Ctx, project_id: str) -> Response:
    ctx.principal.require_admin()
    project = _project(ctx, project_id, "iam.projects.delete")
    live = ctx.session.scalar(
        select(func.count())
        .select_from(models.Instance)
        .where(models.Instance.project_id == project.id, models.Instance.deleted_at.is_(None))
    )
    if live:
        raise Conflict(f"the project still has {live} instance(s)")
    ctx.audit("iam.projects.delete", "project", project.id, project.id, name=project.name)
    # What is left are deleted instances' tombstones and their operations: they go
    # with the project (the audit log keeps the history).
    tombstones = select(models.Instance.id).where(models.Instance.project_id == project.id)
    ctx.session.execute(delete(models.WorkItem).where(models.WorkItem.instance_id.in_(tombstones)))
    ctx.session.execute(delete(models.Operation).where(models.Operation.project_id == project.id))
    ctx.session.execute(delete(models.Instance).where(models.Instance.project_id == project.id))
    ctx.session.delete(project)
    ctx.session.commit()
    return Response(status_code=204)


# -- role bindings ------------------------------------------------------------


@router.get(
    "/projects/{project_id}/members",
    summary="Who holds which role in a project",
    responses=problem_responses(403, 404),
)
def list_members(ctx: Ctx, project_id: str) -> dict[str, Any]:
    project = _project(ctx, project_id, "iam.role_bindings.list")
    rows = ctx.session.execute(
        select(models.RoleBinding, models.User)
        .join(models.User, models.User.id == models.RoleBinding.user_id)
        .where(models.RoleBinding.project_id == project.id)
        .order_by(models.User.name)
    )
    return {
        "items": [
            {"user_id": user.id, "user": user.name, "role": binding.role} for binding, user in rows
        ]
    }


@router.put(
    "/projects/{project_id}/members",
    summary="Give a user a role in a project, replacing any role it had (owner)",
    responses=problem_responses(403, 404),
)
def bind_member(ctx: Ctx, project_id: str, body: BindingCreate) -> dict[str, Any]:
    project = _project(ctx, project_id, "iam.role_bindings.create")
    if ctx.session.get(models.User, body.user_id) is None:
        raise Invalid.field("user_id", "not_found", "no such user")
    binding = _binding(ctx, project.id, body.user_id) or models.RoleBinding(
        project_id=project.id, user_id=body.user_id
    )
    binding.role = body.role
    ctx.session.add(binding)
    ctx.audit("iam.role_bindings.create", "role_binding", body.user_id, project.id, role=body.role)
    ctx.session.commit()
    return {"user_id": body.user_id, "project_id": project.id, "role": body.role}


@router.delete(
    "/projects/{project_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a user's role in a project (owner)",
    responses=problem_responses(403, 404),
)
def unbind_member(ctx: Ctx, project_id: str, user_id: str) -> Response:
    project = _project(ctx, project_id, "iam.role_bindings.delete")
    binding = _binding(ctx, project.id, user_id)
    if binding is None:
        raise NotFound("the user holds no role in this project")
    ctx.session.delete(binding)
    ctx.audit("iam.role_bindings.delete", "role_binding", user_id, project.id)
    ctx.session.commit()
    return Response(status_code=204)


# -- users and tokens ---------------------------------------------------------


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    summary="Create a user (admin)",
    responses=problem_responses(403, 409),
)
def create_user(ctx: Ctx, body: UserCreate) -> dict[str, Any]:
    ctx.principal.require_admin()
    _unique(ctx, models.User, body.name)
    _existing_project(ctx, body.default_project_id, "default_project_id")
    user = models.User(**body.model_dump())
    ctx.session.add(user)
    ctx.session.flush()
    ctx.audit("iam.users.create", "user", user.id, name=user.name, is_admin=user.is_admin)
    ctx.session.commit()
    return user_view(user)


@router.get("/users", summary="List users (admin)", responses=problem_responses(403))
def list_users(ctx: Ctx, limit: Limit = 100, marker: Marker = None) -> dict[str, Any]:
    ctx.principal.require_admin()
    rows, next_marker = page(ctx.session, select(models.User), models.User, limit, marker)
    return {"items": [user_view(u) for u in rows], "next_marker": next_marker}


@router.get(
    "/users/{user_id}",
    summary="Show a user; 'me' is the caller",
    responses=problem_responses(404),
)
def show_user(ctx: Ctx, user_id: str) -> dict[str, Any]:
    user = _user(ctx, user_id)
    roles = ctx.session.scalars(
        select(models.RoleBinding).where(models.RoleBinding.user_id == user.id)
    )
    return user_view(user) | {"roles": {b.project_id: b.role for b in roles}}


@router.delete(
    "/users/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a user (admin)",
    responses=problem_responses(403, 404, 409),
)
def delete_user(ctx: Ctx, user_id: str) -> Response:
    ctx.principal.require_admin()
    user = _user(ctx, user_id)
    if user.id == ctx.principal.user_id:
        raise Conflict("you cannot delete yourself")
    ctx.audit("iam.users.delete", "user", user.id, name=user.name)
    ctx.session.delete(user)
    ctx.session.commit()
    return Response(status_code=204)


@router.post(
    "/users/{user_id}/tokens",
    status_code=status.HTTP_201_CREATED,
    summary="Issue an API token; the token is in this response only",
    responses=problem_responses(404),
)
def create_token(ctx: Ctx, user_id: str, body: TokenCreate) -> dict[str, Any]:
    user = _user(ctx, user_id)
    _existing_project(ctx, body.project_id, "project_id")
    in_project = body.project_id is None or _binding(ctx, body.project_id, user.id) is not None
    if not (user.is_admin or in_project):
        raise Invalid.field("project_id", "not_member", "the user holds no role in this project")
    expires_at = (
        models.utcnow() + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    )
    token, row = issue_token(ctx.session, user.id, body.name, body.project_id, expires_at)
    ctx.audit("iam.tokens.create", "token", row.id, body.project_id, user_id=user.id)
    ctx.session.commit()
    return token_view(row) | {"token": token}


@router.get(
    "/users/{user_id}/tokens",
    summary="List a user's tokens (never the tokens)",
    responses=problem_responses(404),
)
def list_tokens(ctx: Ctx, user_id: str) -> dict[str, Any]:
    user = _user(ctx, user_id)
    rows = ctx.session.scalars(
        select(models.ApiToken)
        .where(models.ApiToken.user_id == user.id)
        .order_by(models.ApiToken.created_at)
    )
    return {"items": [token_view(t) for t in rows]}


@router.delete(
    "/users/{user_id}/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a token",
    responses=problem_responses(404),
)
def revoke_token(ctx: Ctx, user_id: str, token_id: str) -> Response:
    user = _user(ctx, user_id)
    token = ctx.session.get(models.ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound("token not found")
    if token.revoked_at is None:
        token.revoked_at = models.utcnow()
        ctx.audit("iam.tokens.delete", "token", token.id, user_id=user.id)
    ctx.session.commit()
    return Response(status_code=204)


@router.get("/permissions", summary="Every permission and the project roles that hold it")
def list_permissions(ctx: Ctx) -> dict[str, Any]:
    types = [t.declaration for t in ctx.registry.usable()]
    return {
        "items": [
            {
                "name": p.name,
                "description": p.description,
                "roles": [r.value for r in models.Role if permissions.role_grants(r, p.name)],
            }
            for p in permissions.catalog(types)
        ]
    }
