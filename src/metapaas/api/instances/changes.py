"""The changes a user asks for: instances and child resources created, updated and
deleted, and a failed instance retried.

Each function runs in the caller's transaction and writes the audit entry beside its
change. It records the desired state and the request (an operation ``PENDING``, a work
item) and wakes the orchestrator, which alone moves what the instance does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError

from metapaas import orchestrator, sdk
from metapaas.api.deps import Context
from metapaas.api.instances import backups
from metapaas.api.instances.desired import desired, refuse_immutable
from metapaas.api.instances.lookups import live_instances, open_operation, resources_of
from metapaas.api.instances.requests import operation, refuse_if_gone
from metapaas.api.problems import invalid_from
from metapaas.db import models
from metapaas.errors import Conflict, Invalid
from metapaas.iam import permissions
from metapaas.orchestrator import queue
from metapaas.plugins import LoadedType

QUEUED = "queued: the orchestrator has not taken it up yet"


# -- instances ----------------------------------------------------------------


def create_instance(
    ctx: Context, loaded: LoadedType, body: BaseModel
) -> tuple[models.Instance, models.Operation, dict[str, str]]:
    """Record a new instance, the child resources its type creates with it and its create
    operation; also returns its secrets, given or generated, which the create response
    shows once (never a node-only one)."""
    slug = loaded.slug
    project_id = ctx.principal.target_project(getattr(body, "project_id", None))
    ctx.principal.require(permissions.instance(slug, "create"), project_id, what="project")
    if ctx.session.get(models.Project, project_id) is None:
        raise Invalid.field("project_id", "not_found", "no such project")
    models_ = loaded.derived.instances
    values = body.model_dump(mode="json", exclude={"project_id", "restore"})
    common = {k: values.pop(k) for k in ("name", "version", "description")}
    wanted = desired(models_, ctx.state.sealer, values)
    _ensure_unique_name(ctx, slug, project_id, common["name"])
    instance = models.Instance(
        type_slug=slug,
        project_id=project_id,
        spec=wanted.spec,
        sealed_secrets=wanted.sealed,
        created_by=ctx.principal.user_id,
        status_reason=QUEUED,
        **common,
    )
    ctx.session.add(instance)
    flush_unique(ctx, "name")
    action = permissions.instance(slug, "create")
    ctx.audit(action, "instance", instance.id, project_id, name=instance.name)
    restore = getattr(body, "restore", None)
    if restore is not None:
        backups.record_restore(ctx, loaded, instance, restore)
    else:
        _add_initial_resources(ctx, loaded, instance)
    _admit(ctx, loaded, instance)
    op = operation(ctx, instance, "create")
    shown = {k: v for k, v in wanted.secrets.items() if k not in models_.node_only}
    return instance, op, shown


def _add_initial_resources(ctx: Context, loaded: LoadedType, instance: models.Instance) -> None:
    """The child resources the type's ``initial_resources`` hook asks for, each checked by
    its collection's create model as if a user had sent it."""
    with _refusals():
        wanted = loaded.declaration.initial_resources(_public_view(ctx, loaded, instance))
    for collection, items in wanted.items():
        models_ = loaded.derived.resources.get(collection)
        if models_ is None:
            raise Invalid.field(
                collection,
                "unknown_collection",
                f"the {loaded.slug} type has no collection {collection!r} to create in",
            )
        for index, item in enumerate(items):
            try:
                body = models_.create.model_validate(item)
            except ValidationError as exc:
                raise invalid_from(exc, prefix=f"{collection}.{index}") from exc
            _add_resource(ctx, instance, loaded, collection, body.model_dump(mode="json"))


def update_instance(
    ctx: Context, instance: models.Instance, loaded: LoadedType, body: BaseModel
) -> models.Operation | None:
    """Apply a partial update; returns the operation, or None when nothing changed."""
    refuse_if_gone(ctx, instance)
    models_ = loaded.derived.instances
    given = body.model_dump(mode="json", exclude_unset=True)
    secrets = ctx.state.sealer.unseal(instance.sealed_secrets)
    current = {**instance.spec, **secrets}
    common = {"name": instance.name, "version": instance.version}
    refuse_immutable(models_, given, {**current, **common})
    description = given.pop("description", instance.description)
    version = given.pop("version", instance.version)
    _refuse_deprecated(loaded, instance.version, version)
    given.pop("name", None)
    wanted = desired(models_, ctx.state.sealer, given, current)
    unchanged = version == instance.version and description == instance.description
    if unchanged and wanted.same_as(instance.spec, secrets):
        return None
    instance.spec = wanted.spec
    instance.sealed_secrets = wanted.sealed
    instance.version = version
    instance.description = description
    instance.generation += 1
    _admit(ctx, loaded, instance)
    op = operation(ctx, instance, "update")
    ctx.audit(
        permissions.instance(loaded.slug, "update"),
        "instance",
        instance.id,
        instance.project_id,
        fields=sorted(body.model_fields_set),
    )
    return op


def delete_instance(ctx: Context, instance: models.Instance) -> models.Operation:
    """Record the request to delete; the orchestrator removes the nodes and the instance.

    Asking again while a delete is under way returns the same operation.
    """
    existing = open_operation(ctx, instance, "delete")
    if existing is not None:
        return existing
    op = operation(ctx, instance, "delete")
    action = permissions.instance(instance.type_slug, "delete")
    ctx.audit(action, "instance", instance.id, instance.project_id)
    return op


def retry_instance(ctx: Context, instance: models.Instance) -> models.Operation:
    """Record the request to try a failed instance again; the orchestrator clears the
    failures (failed nodes re-apply, failed commands run anew) and converges."""
    refuse_if_gone(ctx, instance)
    existing = open_operation(ctx, instance, "retry")
    if existing is not None:
        return existing
    if instance.status != models.InstanceStatus.ERROR:
        raise Conflict(f"only an instance in ERROR can be retried; it is {instance.status}")
    op = operation(ctx, instance, "retry")
    ctx.audit(
        permissions.instance(instance.type_slug, "action"),
        "instance",
        instance.id,
        instance.project_id,
        requested="retry",
    )
    return op


# -- child resources ----------------------------------------------------------


def create_resource(
    ctx: Context, instance: models.Instance, loaded: LoadedType, collection: str, body: BaseModel
) -> tuple[models.Resource, dict[str, str]]:
    refuse_if_gone(ctx, instance)
    resource, secrets = _add_resource(
        ctx, instance, loaded, collection, body.model_dump(mode="json")
    )
    _admit(ctx, loaded, instance)
    _bump(ctx, instance)
    return resource, secrets


def _add_resource(
    ctx: Context,
    instance: models.Instance,
    loaded: LoadedType,
    collection: str,
    values: Mapping[str, Any],
) -> tuple[models.Resource, dict[str, str]]:
    """Write one child resource and its audit entry; returns it and its secrets."""
    wanted = desired(loaded.derived.resources[collection], ctx.state.sealer, values)
    name = str(wanted.spec["name"])
    exists = ctx.session.scalar(
        resources_of(instance, collection).where(models.Resource.name == name)
    )
    if exists is not None:
        raise Conflict.field("name", "unique", f"{collection} {name!r} already exists")
    resource = models.Resource(
        instance_id=instance.id,
        collection=collection,
        name=name,
        spec=wanted.spec,
        sealed_secrets=wanted.sealed,
    )
    ctx.session.add(resource)
    flush_unique(ctx, "name")
    ctx.audit(
        permissions.collection(loaded.slug, collection, "create"),
        collection,
        resource.id,
        instance.project_id,
        instance_id=instance.id,
        name=name,
    )
    return resource, wanted.secrets


def update_resource(
    ctx: Context,
    instance: models.Instance,
    loaded: LoadedType,
    resource: models.Resource,
    body: BaseModel,
) -> bool:
    refuse_if_gone(ctx, instance)
    models_ = loaded.derived.resources[resource.collection]
    given = body.model_dump(mode="json", exclude_unset=True)
    secrets = ctx.state.sealer.unseal(resource.sealed_secrets)
    current = {**resource.spec, **secrets}
    refuse_immutable(models_, given, current)
    wanted = desired(models_, ctx.state.sealer, given, current)
    if wanted.same_as(resource.spec, secrets):
        return False
    resource.spec = wanted.spec
    resource.sealed_secrets = wanted.sealed
    _admit(ctx, loaded, instance)
    _bump(ctx, instance)
    ctx.audit(
        permissions.collection(loaded.slug, resource.collection, "update"),
        resource.collection,
        resource.id,
        instance.project_id,
        fields=sorted(given),
    )
    return True


def delete_resource(
    ctx: Context, instance: models.Instance, loaded: LoadedType, resource: models.Resource
) -> None:
    refuse_if_gone(ctx, instance)
    ctx.session.delete(resource)
    _admit(ctx, loaded, instance)
    _bump(ctx, instance)
    ctx.audit(
        permissions.collection(instance.type_slug, resource.collection, "delete"),
        resource.collection,
        resource.id,
        instance.project_id,
        name=resource.name,
    )


# -- what every change does -------------------------------------------------------


def _admit(ctx: Context, loaded: LoadedType, instance: models.Instance) -> None:
    """Ask the type's ``validate`` hook about the state this request would commit."""
    with _refusals():
        loaded.declaration.validate(_public_view(ctx, loaded, instance))


@contextmanager
def _refusals() -> Iterator[None]:
    """A hook's ``sdk.Invalid`` is the API's 422 naming the same field and rule."""
    try:
        yield
    except sdk.Invalid as exc:
        raise Invalid.field(exc.field, exc.rule, exc.message) from exc


def _public_view(ctx: Context, loaded: LoadedType, instance: models.Instance) -> sdk.InstanceView:
    """What the hooks that answer users see: the instance without its node-only secrets."""
    view = orchestrator.instance_view(ctx.session, instance, loaded, ctx.state.sealer)
    return orchestrator.public_view(view, loaded.declaration)


def _refuse_deprecated(loaded: LoadedType, current: str, wanted: str) -> None:
    """An instance may stay on a deprecated version but never move to one."""
    deprecated = {v.name for v in loaded.declaration.versions if v.deprecated}
    if wanted != current and wanted in deprecated:
        raise Invalid.field("version", "deprecated", f"version {wanted!r} is deprecated")


def _ensure_unique_name(ctx: Context, slug: str, project_id: str, name: str) -> None:
    taken = ctx.session.scalar(
        live_instances(slug).where(
            models.Instance.project_id == project_id, models.Instance.name == name
        )
    )
    if taken is not None:
        raise Conflict.field("name", "unique", f"a {slug} instance named {name!r} exists")


def flush_unique(ctx: Context, field: str) -> None:
    """Flush now so a concurrent duplicate surfaces as 409, not as a failed commit."""
    try:
        ctx.session.flush()
    except IntegrityError as exc:
        ctx.session.rollback()
        raise Conflict.field(field, "unique", "the name was taken concurrently") from exc


def _bump(ctx: Context, instance: models.Instance) -> None:
    """Child resources are desired state too: a change makes nodes converge again."""
    instance.generation += 1
    queue.enqueue(ctx.session, instance.id, ctx.state.clock())
