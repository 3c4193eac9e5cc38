"""What the API answers about instances, their children, operations, events and nodes:
dicts built from the stored rows, never a token, a credential hash or a sealed secret."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from metapaas import orchestrator
from metapaas.api.deps import Context
from metapaas.api.timestamps import rfc3339
from metapaas.db import models
from metapaas.errors import Conflict
from metapaas.iam import permissions
from metapaas.plugins import LoadedType


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
    """Where an instance runs and how each node is, as the orchestrator recorded it and
    its agent last reported (of the node's current incarnation): no token, credential or
    secret."""
    rows = ctx.session.scalars(
        select(models.Node)
        .where(models.Node.instance_id == instance.id)
        .order_by(models.Node.role, models.Node.ordinal)
    )
    return [_node_view(n) for n in rows]


def _node_view(node: models.Node) -> dict[str, Any]:
    report = node.report
    return {
        "name": node.name,
        "role": node.role,
        "ordinal": node.ordinal,
        "state": node.state,
        "address": node.address,
        "ports": node.ports,
        "agent_state": report.state if report is not None else "",
        "health": report.health if report is not None else models.Health.UNKNOWN,
        "applied_generation": report.applied_generation if report is not None else 0,
        "software": node.software,  # the plugin version the node runs
        "last_seen_at": rfc3339(report.last_seen_at) if report is not None else None,
        "message": report.message if report is not None else "",
    }


def credentials(ctx: Context, instance: models.Instance, loaded: LoadedType) -> dict[str, Any]:
    """What the type's ``credentials`` hook answers for the instance, without a node-only
    secret, and ``ca_certificate`` (PEM) when its nodes serve TLS; the read is audited."""
    if instance.status != models.InstanceStatus.ACTIVE and instance.observed_generation == 0:
        raise Conflict(
            f"credentials are readable once the instance is ACTIVE; it is {instance.status}"
        )
    slug = instance.type_slug
    ctx.audit(permissions.credentials(slug), "instance", instance.id, instance.project_id)
    shown = orchestrator.credentials(ctx.session, instance, loaded, ctx.state.sealer)
    query = select(models.Node).where(models.Node.instance_id == instance.id)
    if any(node.tls_certificate for node in ctx.session.scalars(query)):
        # What a client verifies the nodes' certificates with, beside what it connects to.
        shown["ca_certificate"] = ctx.state.authority().certificate_pem
    return shown
