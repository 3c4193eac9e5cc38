"""Placement pins: where a project's or a type's new nodes go (admins only).

A pin names a provider (``local``, ``ssh``, or one of another distribution)
and, for a provider with hosts, a pool: the labels a host must have. A
project's pin wins over its type's; with neither, the server's default
provider places. Nodes that exist stay where they are: a pin applies to nodes
made or replaced after it (:mod:`metapaas.providers.routing`).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from metapaas.api.deps import Context, Ctx, InContext
from metapaas.api.problems import problem_responses
from metapaas.api.routes.hosts import LabelKey, LabelValue
from metapaas.api.timestamps import rfc3339
from metapaas.db import models
from metapaas.errors import Invalid, NotFound
from metapaas.providers.routing import installed

router = APIRouter(
    route_class=InContext,
    prefix="/v1/placement/pins",
    tags=["placement"],
    responses=problem_responses(401, 403, 503),
)

Scope = Literal["project", "type"]


class PinBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str = Field(min_length=1, max_length=63, description="An installed provider.")
    host_labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict,
        max_length=64,
        description="For a provider with hosts: new nodes go to hosts having every label.",
    )


def pin_view(pin: models.PlacementPin) -> dict[str, Any]:
    return {
        "scope": pin.scope,
        "target": pin.target,
        "provider": pin.provider,
        "host_labels": pin.host_labels,
        "created_at": rfc3339(pin.created_at),
    }


def _check_target(ctx: Context, scope: Scope, target: str) -> None:
    if scope == "project" and ctx.session.get(models.Project, target) is None:
        raise NotFound(f"no project {target!r}")
    if scope == "type":
        ctx.registry.get(target)  # a 404 naming the type


@router.get("", summary="List the placement pins")
def list_pins(ctx: Ctx) -> dict[str, Any]:
    ctx.principal.require_admin()
    rows = ctx.session.scalars(
        select(models.PlacementPin).order_by(models.PlacementPin.scope, models.PlacementPin.target)
    )
    return {"items": [pin_view(pin) for pin in rows]}


@router.put(
    "/{scope}/{target}",
    summary="Pin a project's or a type's new nodes to a provider and a pool of hosts",
    responses={200: {"description": "The pin"}, **problem_responses(404, 422)},
)
def set_pin(ctx: Ctx, scope: Scope, target: str, body: PinBody) -> dict[str, Any]:
    ctx.principal.require_admin()
    _check_target(ctx, scope, target)
    known = installed()
    if body.provider not in known:
        raise Invalid.field(
            "provider", "installed", f"must be an installed provider: {', '.join(known)}"
        )
    pin = ctx.session.get(models.PlacementPin, (scope, target), with_for_update=True)
    if pin is None:
        pin = models.PlacementPin(scope=scope, target=target)
        ctx.session.add(pin)
    pin.provider = body.provider
    pin.host_labels = body.host_labels
    ctx.session.flush()
    ctx.audit("placement.pin", scope, target, provider=body.provider, host_labels=body.host_labels)
    view = pin_view(pin)
    ctx.session.commit()
    return view


@router.delete(
    "/{scope}/{target}",
    status_code=204,
    summary="Remove a pin: new nodes go to the default provider again",
    responses={204: {"description": "Removed"}, **problem_responses(404)},
)
def remove_pin(ctx: Ctx, scope: Scope, target: str) -> Response:
    ctx.principal.require_admin()
    pin = ctx.session.get(models.PlacementPin, (scope, target), with_for_update=True)
    if pin is None:
        raise NotFound(f"no pin of {scope} {target!r}")
    ctx.session.delete(pin)
    ctx.audit("placement.unpin", scope, target)
    ctx.session.commit()
    return Response(status_code=204)
