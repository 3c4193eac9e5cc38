"""Instances and child resources of any type: the logic behind the derived routes.

Nothing here knows a particular type; everything comes from the type's
declaration and the models derived from it. Each function runs in the
caller's transaction and writes the audit entry beside its change.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute

from metapaas import orchestrator, sdk
from metapaas.api.deps import Context
from metapaas.api.problems import invalid_from
from metapaas.api.timestamps import rfc3339
from metapaas.db import models
from metapaas.errors import Conflict, Invalid, NotFound
from metapaas.orchestrator import queue
from metapaas.plugins import LoadedType, ModelSet

S = models.InstanceStatus
GONE = (S.DELETING, S.DELETED)
QUEUED = "queued: the orchestrator has not taken it up yet"


# -- views --------------------------------------------------------------------


def instance_view(instance: models.Instance) -> dict[str, Any]:
    return {
        **instance.spec,
        "id": instance.id,
        "type": instance.type_slug,
        "name": instance.name,
        "project_id": instance.project_id,
        "version": instance.version,
        "description": instance.description,
        "status": instance.status,
        "status_reason": instance.status_reason,
        "generation": instance.generation,
        "observed_generation": instance.observed_generation,
        "endpoints": instance.endpoints,
        "created_at": rfc3339(instance.created_at),
        "updated_at": rfc3339(instance.updated_at),
    }


def resource_view(resource: models.Resource, secrets: Mapping[str, str]) -> dict[str, Any]:
    """A child resource; ``secrets`` is given only in the create response."""
    return {
        **resource.spec,
        **secrets,
        "id": resource.id,
        "instance_id": resource.instance_id,
        "name": resource.name,
        "created_at": rfc3339(resource.created_at),
        "updated_at": rfc3339(resource.updated_at),
    }


def operation_view(op: models.Operation) -> dict[str, Any]:
    return {
        "id": op.id,
        "kind": op.kind,
        "instance_id": op.instance_id,
        "project_id": op.project_id,
        "state": op.state,
        "progress": op.progress,
        "error": op.error,
        "created_at": rfc3339(op.created_at),
        "updated_at": rfc3339(op.updated_at),
    }


# -- lookups ------------------------------------------------------------------


def live_instances(slug: str) -> Select[models.Instance]:
    return select(models.Instance).where(
        models.Instance.type_slug == slug, models.Instance.deleted_at.is_(None)
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


# -- instances ----------------------------------------------------------------


def create_instance(
    ctx: Context, loaded: LoadedType, body: BaseModel
) -> tuple[models.Instance, models.Operation, dict[str, str]]:
    """Record a new instance, the child resources its type creates with it and its create
    operation; also returns its secrets, given or generated, which the create response
    shows once (never a node-only one)."""
    slug = loaded.slug
    project_id = ctx.principal.target_project(getattr(body, "project_id", None))
    ctx.principal.require(f"{slug}.instances.create", project_id, what="project")
    if ctx.session.get(models.Project, project_id) is None:
        raise Invalid.field("project_id", "not_found", "no such project")
    models_ = _models(loaded)
    values = body.model_dump(mode="json", exclude={"project_id"})
    common = {k: values.pop(k) for k in ("name", "version", "description")}
    spec, secrets = _split_secrets(
        models_, _validate_spec(models_.spec, _with_generated(models_, values))
    )
    _ensure_unique_name(ctx, slug, project_id, common["name"])
    instance = models.Instance(
        type_slug=slug,
        project_id=project_id,
        spec=spec,
        sealed_secrets=ctx.state.sealer.seal(secrets),
        created_by=ctx.principal.user_id,
        status_reason=QUEUED,
        **common,
    )
    ctx.session.add(instance)
    flush_unique(ctx, "name")
    ctx.audit(f"{slug}.instances.create", "instance", instance.id, project_id, name=instance.name)
    _add_initial_resources(ctx, loaded, instance)
    _admit(ctx, loaded, instance)
    op = _operation(ctx, instance, "create")
    return instance, op, _without(secrets, models_.node_only)


def _add_initial_resources(ctx: Context, loaded: LoadedType, instance: models.Instance) -> None:
    """The child resources the type's ``initial_resources`` hook asks for, each checked by
    its collection's create model as if a user had sent it."""
    with _refusals():
        wanted = loaded.declaration.initial_resources(_public_view(ctx, loaded, instance))
    assert loaded.schemas is not None
    for collection, items in wanted.items():
        models_ = loaded.schemas.resources.get(collection)
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
    _refuse_if_gone(ctx, instance)
    models_ = _models(loaded)
    given = body.model_dump(mode="json", exclude_unset=True)
    current_common = {"name": instance.name, "version": instance.version}
    secrets = ctx.state.sealer.unseal(instance.sealed_secrets)
    current = {**instance.spec, **secrets}
    _refuse_immutable(models_, given, {**current, **current_common})
    description = given.pop("description", instance.description)
    version = given.pop("version", instance.version)
    _refuse_deprecated(loaded, instance.version, version)
    given.pop("name", None)
    merged = _validate_spec(models_.spec, _with_generated(models_, {**current, **given}))
    spec, new_secrets = _split_secrets(models_, merged)
    changed = (
        spec != instance.spec
        or new_secrets != secrets
        or version != instance.version
        or description != instance.description
    )
    if not changed:
        return None
    instance.spec = spec
    instance.sealed_secrets = ctx.state.sealer.seal(new_secrets)
    instance.version = version
    instance.description = description
    instance.generation += 1
    _admit(ctx, loaded, instance)
    op = _operation(ctx, instance, "update")
    ctx.audit(
        f"{loaded.slug}.instances.update",
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
    existing = _open_operation(ctx, instance, "delete")
    if existing is not None:
        return existing
    op = _operation(ctx, instance, "delete")
    ctx.audit(
        f"{instance.type_slug}.instances.delete", "instance", instance.id, instance.project_id
    )
    return op


# -- child resources ----------------------------------------------------------


def create_resource(
    ctx: Context, instance: models.Instance, loaded: LoadedType, collection: str, body: BaseModel
) -> tuple[models.Resource, dict[str, str]]:
    _refuse_if_gone(ctx, instance)
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
    models_ = _models(loaded, collection)
    spec, secrets = _split_secrets(models_, _with_generated(models_, values))
    name = str(spec["name"])
    exists = ctx.session.scalar(
        resources_of(instance, collection).where(models.Resource.name == name)
    )
    if exists is not None:
        raise Conflict.field("name", "unique", f"{collection} {name!r} already exists")
    resource = models.Resource(
        instance_id=instance.id,
        collection=collection,
        name=name,
        spec=spec,
        sealed_secrets=ctx.state.sealer.seal(secrets),
    )
    ctx.session.add(resource)
    flush_unique(ctx, "name")
    ctx.audit(
        f"{loaded.slug}.{collection}.create",
        collection,
        resource.id,
        instance.project_id,
        instance_id=instance.id,
        name=name,
    )
    return resource, secrets


def update_resource(
    ctx: Context,
    instance: models.Instance,
    loaded: LoadedType,
    resource: models.Resource,
    body: BaseModel,
) -> bool:
    _refuse_if_gone(ctx, instance)
    models_ = _models(loaded, resource.collection)
    given = body.model_dump(mode="json", exclude_unset=True)
    secrets = ctx.state.sealer.unseal(resource.sealed_secrets)
    current = {**resource.spec, **secrets}
    _refuse_immutable(models_, given, current)
    merged = _validate_spec(models_.spec, _with_generated(models_, current | given))
    spec, new_secrets = _split_secrets(models_, merged)
    if spec == resource.spec and new_secrets == secrets:
        return False
    resource.spec = spec
    resource.sealed_secrets = ctx.state.sealer.seal(new_secrets)
    _admit(ctx, loaded, instance)
    _bump(ctx, instance)
    ctx.audit(
        f"{loaded.slug}.{resource.collection}.update",
        resource.collection,
        resource.id,
        instance.project_id,
        fields=sorted(given),
    )
    return True


def delete_resource(
    ctx: Context, instance: models.Instance, loaded: LoadedType, resource: models.Resource
) -> None:
    _refuse_if_gone(ctx, instance)
    ctx.session.delete(resource)
    _admit(ctx, loaded, instance)
    _bump(ctx, instance)
    ctx.audit(
        f"{instance.type_slug}.{resource.collection}.delete",
        resource.collection,
        resource.id,
        instance.project_id,
        name=resource.name,
    )


# -- helpers ------------------------------------------------------------------


def _models(loaded: LoadedType, collection: str | None = None) -> ModelSet:
    assert loaded.schemas is not None
    if collection is None:
        return loaded.schemas.instances
    return loaded.schemas.resources[collection]


def _with_generated(models_: ModelSet, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with a value made for every generated secret that has none; made before
    the spec validates them, so a generated value is checked like a given one."""
    made = {f: make() for f, make in models_.generators.items() if values.get(f) is None}
    return {**values, **made}


def _split_secrets(
    models_: ModelSet, values: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Secret fields leave the spec for sealed storage."""
    spec = {k: v for k, v in values.items() if k not in models_.secrets}
    secrets = {k: str(v) for k, v in values.items() if k in models_.secrets and v is not None}
    return spec, secrets


def _without(values: Mapping[str, str], names: frozenset[str]) -> dict[str, str]:
    return {k: v for k, v in values.items() if k not in names}


def _validate_spec(spec_model: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    try:
        return spec_model.model_validate(values).model_dump(mode="json")
    except ValidationError as exc:
        raise invalid_from(exc) from exc


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


def _refuse_immutable(
    models_: ModelSet, given: Mapping[str, Any], current: Mapping[str, Any]
) -> None:
    for field in sorted(models_.immutable & set(given)):
        if given[field] != current.get(field):
            raise Invalid.field(field, "immutable", "cannot be changed after create")


def _refuse_deprecated(loaded: LoadedType, current: str, wanted: str) -> None:
    """An instance may stay on a deprecated version but never move to one."""
    deprecated = {v.name for v in loaded.declaration.versions if v.deprecated}
    if wanted != current and wanted in deprecated:
        raise Invalid.field("version", "deprecated", f"version {wanted!r} is deprecated")


def _refuse_if_gone(ctx: Context, instance: models.Instance) -> None:
    if instance.status in GONE or _open_operation(ctx, instance, "delete") is not None:
        raise Conflict(f"instance {instance.name!r} is being deleted")


def _open_operation(ctx: Context, instance: models.Instance, kind: str) -> models.Operation | None:
    """The instance's pending or running operation of ``kind``: a request under way."""
    return ctx.session.scalar(
        select(models.Operation)
        .where(
            models.Operation.instance_id == instance.id,
            models.Operation.kind == kind,
            models.Operation.state.in_(
                [models.OperationState.PENDING, models.OperationState.RUNNING]
            ),
        )
        .order_by(models.Operation.created_at.desc())
    )


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


def _operation(ctx: Context, instance: models.Instance, kind: str) -> models.Operation:
    op = models.Operation(
        kind=kind,
        instance_id=instance.id,
        project_id=instance.project_id,
        target_generation=instance.generation,
        progress="queued",
        created_by=ctx.principal.user_id,
    )
    ctx.session.add(op)
    ctx.session.flush()
    queue.enqueue(ctx.session, instance.id, ctx.state.clock())
    return op


def _bump(ctx: Context, instance: models.Instance) -> None:
    """Child resources are desired state too: a change makes nodes converge again."""
    instance.generation += 1
    queue.enqueue(ctx.session, instance.id, ctx.state.clock())


# -- actions, events, credentials ----------------------------------------------


def retry_instance(ctx: Context, instance: models.Instance) -> models.Operation:
    """Record the request to try a failed instance again; the orchestrator clears the
    failures (failed nodes re-apply, failed commands run anew) and converges."""
    _refuse_if_gone(ctx, instance)
    existing = _open_operation(ctx, instance, "retry")
    if existing is not None:
        return existing
    if instance.status != S.ERROR:
        raise Conflict(f"only an instance in ERROR can be retried; it is {instance.status}")
    op = _operation(ctx, instance, "retry")
    ctx.audit(
        f"{instance.type_slug}.instances.action",
        "instance",
        instance.id,
        instance.project_id,
        requested="retry",
    )
    return op


def event_views(ctx: Context, instance: models.Instance, limit: int) -> list[dict[str, Any]]:
    rows = ctx.session.scalars(
        select(models.Event)
        .where(models.Event.instance_id == instance.id)
        .order_by(models.Event.id.desc())
        .limit(limit)
    )
    return [
        {
            "id": e.id,
            "at": rfc3339(e.at),
            "kind": e.kind,
            "node": e.node_name,
            "message": e.message,
        }
        for e in rows
    ]


def node_views(ctx: Context, instance: models.Instance) -> list[dict[str, Any]]:
    """Where an instance runs and how each node is, as the orchestrator and the nodes'
    own reports recorded it: no token, credential or secret."""
    rows = ctx.session.scalars(
        select(models.Node)
        .where(models.Node.instance_id == instance.id)
        .order_by(models.Node.role, models.Node.ordinal)
    )
    return [
        {
            "name": n.name,
            "role": n.role,
            "ordinal": n.ordinal,
            "state": n.state,
            "address": n.address,
            "ports": n.ports,
            "agent_state": n.agent_state,
            "health": n.health,
            "applied_generation": n.applied_generation,
            "software": n.software,  # the plugin version the node runs
            "last_seen_at": rfc3339(n.last_seen_at) if n.last_seen_at else None,
            "message": n.message,
        }
        for n in rows
    ]


def credentials(ctx: Context, instance: models.Instance, loaded: LoadedType) -> dict[str, Any]:
    if instance.status != S.ACTIVE and instance.observed_generation == 0:
        raise Conflict(
            f"credentials are readable once the instance is ACTIVE; it is {instance.status}"
        )
    view = orchestrator.instance_view(ctx.session, instance, loaded, ctx.state.sealer)
    nodes = ctx.session.scalars(select(models.Node).where(models.Node.instance_id == instance.id))
    ctx.audit(f"{instance.type_slug}.credentials.get", "instance", instance.id, instance.project_id)
    public = orchestrator.public_view(view, loaded.declaration)
    answer = loaded.declaration.credentials(public, orchestrator.node_views(nodes))
    return orchestrator.without_node_only(answer, view, loaded.declaration)
