"""Finding instances, child resources and requests under way, as the caller may see them."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import InstrumentedAttribute

from metapaas.api.deps import Context
from metapaas.db import models
from metapaas.errors import Conflict, NotFound


def live_instances(slug: str) -> Select[models.Instance]:
    return select(models.Instance).where(
        models.Instance.type_slug == slug,
        models.Instance.deleted_at.is_(None),
        models.Instance.drill_of.is_(None),
    )


def find_instance(
    ctx: Context, slug: str, ref: str, permission: str, project_id: str | None = None
) -> models.Instance:
    """An instance by uuid or by name, checked against the caller's roles.

    A name is looked up in ``project_id`` when given, else among the projects
    the caller can see; a name found in several of them must be qualified. The
    id is looked up first, alone: one condition on either column would read
    every instance of the type (no index serves ``id = ? OR name = ?``).
    """
    visible = ctx.principal.visible_projects()

    def seen(column: InstrumentedAttribute[str]) -> list[models.Instance]:
        stmt = live_instances(slug).where(column == ref)
        if project_id is not None:
            stmt = stmt.where(models.Instance.project_id == project_id)
        found = ctx.session.scalars(stmt)
        return [i for i in found if visible is None or i.project_id in visible]

    candidates = seen(models.Instance.id) or seen(models.Instance.name)
    if not candidates:
        raise NotFound(f"{slug} instance {ref!r} not found")
    if len(candidates) > 1:
        raise Conflict.field(
            "project_id", "ambiguous", f"{ref!r} names instances in several projects"
        )
    instance = candidates[0]
    ctx.principal.require(permission, instance.project_id, what=f"{slug} instance")
    return instance


def resources_of(instance: models.Instance, collection: str) -> Select[models.Resource]:
    return select(models.Resource).where(
        models.Resource.instance_id == instance.id, models.Resource.collection == collection
    )


def find_resource(
    ctx: Context, instance: models.Instance, collection: str, ref: str
) -> models.Resource:
    resource = ctx.session.scalar(
        resources_of(instance, collection).where(
            (models.Resource.id == ref) | (models.Resource.name == ref)
        )
    )
    if resource is None:
        raise NotFound(f"{collection} {ref!r} not found in instance {instance.name!r}")
    return resource


def open_operation(ctx: Context, instance: models.Instance, kind: str) -> models.Operation | None:
    """The instance's pending or running operation of ``kind``: a request under way."""
    return ctx.session.scalar(
        select(models.Operation)
        .where(
            models.Operation.instance_id == instance.id,
            models.Operation.kind == kind,
            models.Operation.state.in_(models.OPEN_OPERATIONS),
        )
        .order_by(models.Operation.created_at.desc())
    )
