"""Routes derived from a type's declaration: instances and each child collection.

No type has code of its own here. The request and response models are built
from the declaration, so FastAPI validates bodies and the OpenAPI document
shows each type's schema.

This module does not use ``from __future__ import annotations``: FastAPI
reads the handlers' annotations, which name models built at run time.
"""

import functools
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from metapaas.api import instances as svc
from metapaas.api.deps import Ctx, InContext
from metapaas.api.instances import backups
from metapaas.api.listing import Limit, Marker, Page, page, page_response
from metapaas.api.problems import problem_responses
from metapaas.db import models
from metapaas.errors import NotFound
from metapaas.iam import permissions
from metapaas.plugins import LoadedType

ProjectQuery = Annotated[
    str | None, Query(description="Project to look a name up in, when it is ambiguous.")
]
# A route naming an instance: hidden or missing (404), a role without the permission (403),
# a name in several projects or a change the instance's state refuses (409).
NAMED = problem_responses(403, 404, 409)


class NodeOut(BaseModel):
    """One data-plane node as its instance's readers see it."""

    name: str
    role: str
    ordinal: int
    state: models.NodeState = Field(description="The orchestrator's view.")
    address: str = Field(description="The host the node runs on; empty until it is placed.")
    ports: dict[str, int]
    agent_state: models.AgentState | Literal[""] = Field(
        description="The agent's last reported state; empty before one."
    )
    health: models.Health = Field(description="The agent's last reported health.")
    applied_generation: int
    last_seen_at: str | None = Field(description="When its agent last reported.")
    message: str = Field(description="What the agent last said was wrong, if anything.")


class NodeList(BaseModel):
    items: list[NodeOut]


class _Same:
    """A loaded type as a cache key: the very object, not an equal one (two loads of one
    type may differ in their wheelhouse or schemas)."""

    __slots__ = ("loaded",)

    def __init__(self, loaded: LoadedType) -> None:
        self.loaded = loaded

    def __hash__(self) -> int:
        return id(self.loaded)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.loaded is self.loaded


def router_for(loaded: LoadedType) -> APIRouter:
    """The type's routes, built once per loaded type and process: every app that serves it
    includes the same router (FastAPI includes a router by reference). Building one costs
    about 10 ms a route (each handler's signature read, a pydantic adapter per parameter),
    and an app is made per test of the API, and per registry when it changes."""
    return _built(_Same(loaded))


@functools.lru_cache(maxsize=64)
def _built(key: _Same) -> APIRouter:
    loaded = key.loaded
    slug = loaded.slug
    # Every route reads the caller's token from the database.
    router = APIRouter(
        route_class=InContext,
        prefix=f"/v1/types/{slug}",
        tags=[f"type: {slug}"],
        responses=problem_responses(401, 503),
    )
    _instance_routes(router, loaded)
    _extra_routes(router, loaded)
    _backup_routes(router, loaded)
    for collection in loaded.derived.resources:
        _resource_routes(router, loaded, collection)
    return router


def _accepted(
    instance: models.Instance, op: models.Operation, secrets: Mapping[str, str] | None = None
) -> JSONResponse:
    body = svc.instance_view(instance) | dict(secrets or {}) | {"operation_id": op.id}
    return JSONResponse(body, status_code=202, headers={"Location": f"/v1/operations/{op.id}"})


def _instance_routes(router: APIRouter, loaded: LoadedType) -> None:
    slug = loaded.slug
    models_ = loaded.derived.instances
    Create = models_.create
    Update = models_.update
    Out = models_.out

    @router.post(
        "/instances",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=Out,
        summary=f"Create a {slug} instance",
        operation_id=f"{slug}_create_instance",
        responses=problem_responses(403, 409),
    )
    def create(ctx: Ctx, body: Annotated[Create, Body()]) -> Response:  # type: ignore[valid-type]
        instance, op, secrets = svc.create_instance(ctx, loaded, body)
        ctx.commit()
        return _accepted(instance, op, secrets)

    @router.get(
        "/instances",
        response_model=Page,
        summary=f"List {slug} instances",
        operation_id=f"{slug}_list_instances",
    )
    def list_(
        ctx: Ctx,
        limit: Limit = 100,
        marker: Marker = None,
        name: str | None = None,
        status_: Annotated[models.InstanceStatus | None, Query(alias="status")] = None,
        project_id: str | None = None,
    ) -> Response:
        stmt = svc.live_instances(slug)
        visible = ctx.principal.visible_projects()
        if visible is not None:
            allowed = [
                p for p in visible if ctx.principal.can(permissions.instance(slug, "list"), p)
            ]
            stmt = stmt.where(models.Instance.project_id.in_(allowed))
        if project_id is not None:
            stmt = stmt.where(models.Instance.project_id == project_id)
        if name is not None:
            stmt = stmt.where(models.Instance.name == name)
        if status_ is not None:
            stmt = stmt.where(models.Instance.status == status_)
        rows, next_marker = page(ctx.session, stmt, models.Instance, limit, marker)
        return page_response([svc.instance_view(i) for i in rows], next_marker)

    @router.get(
        "/instances/{ref}",
        response_model=Out,
        summary=f"Show a {slug} instance by id or name",
        operation_id=f"{slug}_get_instance",
        responses=NAMED,
    )
    def show(ctx: Ctx, ref: str, project_id: ProjectQuery = None) -> dict[str, Any]:
        instance = svc.find_instance(ctx, slug, ref, permissions.instance(slug, "get"), project_id)
        return svc.instance_view(instance)

    @router.patch(
        "/instances/{ref}",
        response_model=Out,
        summary=f"Update a {slug} instance",
        operation_id=f"{slug}_update_instance",
        responses={202: {"description": "Accepted; nodes converge to the new generation"}, **NAMED},
    )
    def update(
        ctx: Ctx,
        ref: str,
        body: Annotated[Update, Body()],  # type: ignore[valid-type]
        project_id: ProjectQuery = None,
    ) -> Response:
        instance = svc.find_instance(
            ctx, slug, ref, permissions.instance(slug, "update"), project_id
        )
        op = svc.update_instance(ctx, instance, loaded, body)
        ctx.commit()
        if op is None:
            return JSONResponse(svc.instance_view(instance))
        return _accepted(instance, op)

    @router.delete(
        "/instances/{ref}",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=Out,
        summary=f"Delete a {slug} instance",
        operation_id=f"{slug}_delete_instance",
        responses=NAMED,
    )
    def delete(ctx: Ctx, ref: str, project_id: ProjectQuery = None) -> Response:
        instance = svc.find_instance(
            ctx, slug, ref, permissions.instance(slug, "delete"), project_id
        )
        op = svc.delete_instance(ctx, instance)
        ctx.commit()
        return _accepted(instance, op)


def _resource_routes(router: APIRouter, loaded: LoadedType, collection: str) -> None:
    slug = loaded.slug
    models_ = loaded.derived.resources[collection]
    Create = models_.create
    Update = models_.update
    Out = models_.out
    base = f"/instances/{{ref}}/{collection}"

    def permission(verb: str) -> str:
        return permissions.collection(slug, collection, verb)

    tag = f"{slug}_{collection}"

    @router.post(
        base,
        status_code=status.HTTP_201_CREATED,
        response_model=Out,
        summary=f"Create {collection} in a {slug} instance; secrets are shown only here",
        operation_id=f"{tag}_create",
        responses=NAMED,
    )
    def create(
        ctx: Ctx,
        ref: str,
        body: Annotated[Create, Body()],  # type: ignore[valid-type]
        project_id: ProjectQuery = None,
    ) -> Response:
        instance = svc.find_instance(ctx, slug, ref, permission("create"), project_id)
        resource, secrets = svc.create_resource(ctx, instance, loaded, collection, body)
        ctx.commit()
        return JSONResponse(svc.resource_view(resource, secrets), status_code=201)

    @router.get(
        base,
        response_model=Page,
        summary=f"List {collection}",
        operation_id=f"{tag}_list",
        responses=NAMED,
    )
    def list_(
        ctx: Ctx,
        ref: str,
        limit: Limit = 100,
        marker: Marker = None,
        name: str | None = None,
        project_id: ProjectQuery = None,
    ) -> Response:
        instance = svc.find_instance(ctx, slug, ref, permission("list"), project_id)
        stmt = svc.resources_of(instance, collection)
        if name is not None:
            stmt = stmt.where(models.Resource.name == name)
        rows, next_marker = page(ctx.session, stmt, models.Resource, limit, marker)
        return page_response([svc.resource_view(r, {}) for r in rows], next_marker)

    @router.get(
        f"{base}/{{child}}",
        response_model=Out,
        summary=f"Show one of {collection}",
        operation_id=f"{tag}_get",
        responses=NAMED,
    )
    def show(ctx: Ctx, ref: str, child: str, project_id: ProjectQuery = None) -> dict[str, Any]:
        instance = svc.find_instance(ctx, slug, ref, permission("get"), project_id)
        return svc.resource_view(svc.find_resource(ctx, instance, collection, child), {})

    @router.patch(
        f"{base}/{{child}}",
        response_model=Out,
        summary=f"Update one of {collection}",
        operation_id=f"{tag}_update",
        responses=NAMED,
    )
    def update(
        ctx: Ctx,
        ref: str,
        child: str,
        body: Annotated[Update, Body()],  # type: ignore[valid-type]
        project_id: ProjectQuery = None,
    ) -> dict[str, Any]:
        instance = svc.find_instance(ctx, slug, ref, permission("update"), project_id)
        resource = svc.find_resource(ctx, instance, collection, child)
        svc.update_resource(ctx, instance, loaded, resource, body)
        ctx.commit()
        return svc.resource_view(resource, {})

    @router.delete(
        f"{base}/{{child}}",
        status_code=status.HTTP_204_NO_CONTENT,
        summary=f"Delete one of {collection}",
        operation_id=f"{tag}_delete",
        responses=NAMED,
    )
    def delete(ctx: Ctx, ref: str, child: str, project_id: ProjectQuery = None) -> Response:
        instance = svc.find_instance(ctx, slug, ref, permission("delete"), project_id)
        resource = svc.find_resource(ctx, instance, collection, child)
        svc.delete_resource(ctx, instance, loaded, resource)
        ctx.commit()
        return Response(status_code=204)


def _extra_routes(router: APIRouter, loaded: LoadedType) -> None:
    slug = loaded.slug

    @router.get(
        "/instances/{ref}/events",
        summary=f"What happened to a {slug} instance, newest first",
        operation_id=f"{slug}_instance_events",
        responses=NAMED,
    )
    def events(
        ctx: Ctx, ref: str, limit: Limit = 100, project_id: ProjectQuery = None
    ) -> dict[str, Any]:
        instance = svc.find_instance(ctx, slug, ref, permissions.instance(slug, "get"), project_id)
        return {"items": svc.event_views(ctx, instance, limit)}

    @router.get(
        "/instances/{ref}/nodes",
        response_model=NodeList,
        summary=f"The nodes of a {slug} instance: role, address, state and health",
        operation_id=f"{slug}_instance_nodes",
        responses=NAMED,
    )
    def nodes(ctx: Ctx, ref: str, project_id: ProjectQuery = None) -> dict[str, Any]:
        instance = svc.find_instance(ctx, slug, ref, permissions.instance(slug, "get"), project_id)
        return {"items": svc.node_views(ctx, instance)}

    @router.get(
        "/instances/{ref}/credentials",
        summary=f"Connection details and secrets of a {slug} instance",
        operation_id=f"{slug}_instance_credentials",
        responses=NAMED,
    )
    def credentials(ctx: Ctx, ref: str, project_id: ProjectQuery = None) -> dict[str, Any]:
        instance = svc.find_instance(ctx, slug, ref, permissions.credentials(slug), project_id)
        body = svc.credentials(ctx, instance, loaded)
        ctx.commit()
        return body

    @router.post(
        "/instances/{ref}/actions/retry",
        status_code=status.HTTP_202_ACCEPTED,
        summary=f"Retry a {slug} instance in ERROR",
        operation_id=f"{slug}_instance_retry",
        responses=NAMED,
    )
    def retry(ctx: Ctx, ref: str, project_id: ProjectQuery = None) -> Response:
        instance = svc.find_instance(
            ctx, slug, ref, permissions.instance(slug, "action"), project_id
        )
        op = svc.retry_instance(ctx, instance)
        ctx.commit()
        return _accepted(instance, op)


def _backup_routes(router: APIRouter, loaded: LoadedType) -> None:
    """An instance's policy, backups and recovery window: for every type, so a type
    without backups answers a 409 naming it."""
    slug = loaded.slug

    def permission(collection: str, verb: str) -> str:
        return permissions.collection(slug, collection, verb)

    def named(ctx: Ctx, ref: str, needs: str, project_id: str | None) -> models.Instance:
        instance = svc.find_instance(ctx, slug, ref, needs, project_id)
        backups.backups_of(loaded)  # the instance first: another project's stays unknown
        return instance

    @router.put(
        "/instances/{ref}/backup-policy",
        response_model=backups.PolicyOut,
        summary=f"Set when a {slug} instance is backed up and how long backups are kept",
        operation_id=f"{slug}_set_backup_policy",
        responses=problem_responses(403, 404, 409, 422),
    )
    def set_policy(
        ctx: Ctx, ref: str, body: backups.PolicyBody, project_id: ProjectQuery = None
    ) -> dict[str, Any]:
        instance = named(ctx, ref, permission("backup_policy", "update"), project_id)
        backups.set_policy(ctx, instance, loaded, body)
        ctx.session.flush()
        view = backups.policy_view(ctx, instance)
        ctx.commit()
        return view

    @router.get(
        "/instances/{ref}/backup-policy",
        response_model=backups.PolicyOut,
        summary=f"A {slug} instance's backup policy, with its next runs",
        operation_id=f"{slug}_get_backup_policy",
        responses=NAMED,
    )
    def get_policy(ctx: Ctx, ref: str, project_id: ProjectQuery = None) -> dict[str, Any]:
        instance = named(ctx, ref, permission("backup_policy", "get"), project_id)
        return backups.policy_view(ctx, instance)

    @router.post(
        "/instances/{ref}/backups",
        status_code=status.HTTP_202_ACCEPTED,
        summary=f"Back up a {slug} instance now",
        operation_id=f"{slug}_create_backup",
        responses=problem_responses(403, 404, 409, 422),
    )
    def create_backup(
        ctx: Ctx,
        ref: str,
        body: Annotated[backups.BackupBody | None, Body()] = None,
        project_id: ProjectQuery = None,
    ) -> Response:
        instance = named(ctx, ref, permission("backups", "create"), project_id)
        op = backups.request_backup(ctx, instance, loaded, body or backups.BackupBody())
        ctx.commit()
        return _backup_accepted(op.id, op)

    @router.get(
        "/instances/{ref}/backups",
        summary=f"A {slug} instance's backups, newest first",
        operation_id=f"{slug}_list_backups",
        responses=NAMED,
    )
    def list_backups(ctx: Ctx, ref: str, project_id: ProjectQuery = None) -> dict[str, Any]:
        instance = named(ctx, ref, permission("backups", "list"), project_id)
        return {"items": backups.backup_views(ctx, instance.id)}

    @router.get(
        "/instances/{ref}/backups/{backup}",
        response_model=backups.BackupOut,
        summary=f"One backup of a {slug} instance",
        operation_id=f"{slug}_get_backup",
        responses=NAMED,
    )
    def get_backup(
        ctx: Ctx, ref: str, backup: str, project_id: ProjectQuery = None
    ) -> dict[str, Any]:
        instance = named(ctx, ref, permission("backups", "get"), project_id)
        return backups.backup_view(backups.find_backup(ctx, instance.id, backup))

    @router.delete(
        "/instances/{ref}/backups/{backup}",
        status_code=status.HTTP_202_ACCEPTED,
        summary=f"Delete one backup of a {slug} instance, unless a later point needs it",
        operation_id=f"{slug}_delete_backup",
        responses=problem_responses(403, 404, 409),
    )
    def delete_backup(ctx: Ctx, ref: str, backup: str, project_id: ProjectQuery = None) -> Response:
        instance = named(ctx, ref, permission("backups", "delete"), project_id)
        found = backups.find_backup(ctx, instance.id, backup)
        op = backups.request_deletion(ctx, instance, found)
        ctx.commit()
        return _backup_accepted(found.id, op)

    @router.get(
        "/instances/{ref}/recovery-window",
        response_model=backups.WindowOut,
        summary=f"The earliest and latest points a {slug} instance can be restored to",
        operation_id=f"{slug}_recovery_window",
        responses=NAMED,
    )
    def recovery_window(ctx: Ctx, ref: str, project_id: ProjectQuery = None) -> dict[str, Any]:
        instance = named(ctx, ref, permission("backups", "get"), project_id)
        return backups.window_view(ctx, instance, loaded)

    @router.get(
        "/deleted-instances/{instance_id}/backups",
        summary=f"The backups a deleted {slug} instance left, kept for its retention",
        operation_id=f"{slug}_deleted_instance_backups",
        responses=problem_responses(403, 404),
    )
    def deleted_backups(ctx: Ctx, instance_id: str) -> dict[str, Any]:
        instance = ctx.session.get(models.Instance, instance_id)
        if instance is None or instance.type_slug != slug or instance.deleted_at is None:
            raise NotFound(f"no deleted {slug} instance {instance_id!r}")
        ctx.principal.require(permission("backups", "list"), instance.project_id, what="project")
        backups.backups_of(loaded)
        return {"items": backups.backup_views(ctx, instance.id)}


def _backup_accepted(backup_id: str, op: models.Operation) -> JSONResponse:
    body = {"backup_id": backup_id, "operation": svc.operation_view(op)}
    return JSONResponse(body, status_code=202, headers={"Location": f"/v1/operations/{op.id}"})
