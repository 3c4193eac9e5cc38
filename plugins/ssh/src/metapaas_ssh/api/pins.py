"""Placement pins over the API: where a project's or a type's new nodes go (admins only).

See :mod:`metapaas_ssh.pins` for what a pin means to the orchestrator.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy import select

from metapaas.api import extend
from metapaas.api.extend import Context, Ctx, Invalid, NotFound, problem_responses, rfc3339
from metapaas_ssh.api.bodies import PinBody
from metapaas_ssh.tables import Pin, PinScope

router = APIRouter(
    route_class=extend.InContext,
    prefix="/v1/placement/pins",
    tags=["placement"],
    responses=problem_responses(401, 403, 503),
)


def pin_view(pin: Pin) -> dict[str, Any]:
    return {
        "scope": pin.scope,
        "target": pin.target,
        "provider": pin.provider,
        "host_labels": pin.host_labels,
        "created_at": rfc3339(pin.created_at),
    }


def _check_target(ctx: Context, scope: PinScope, target: str) -> None:
    if scope == PinScope.PROJECT:
        extend.require_project(ctx, target)
    else:
        extend.require_type(ctx, target)


@router.get("", summary="List the placement pins")
def list_pins(ctx: Ctx) -> dict[str, Any]:
    ctx.principal.require_admin()
    rows = ctx.session.scalars(select(Pin).order_by(Pin.scope, Pin.target))
    return {"items": [pin_view(pin) for pin in rows]}


@router.put(
    "/{scope}/{target}",
    summary="Pin a project's or a type's new nodes to a provider and a pool of hosts",
    responses={200: {"description": "The pin"}, **problem_responses(404, 422)},
)
def set_pin(ctx: Ctx, scope: PinScope, target: str, body: PinBody) -> dict[str, Any]:
    ctx.principal.require_admin()
    _check_target(ctx, scope, target)
    known = extend.provider_names(ctx)
    if body.provider not in known:
        raise Invalid.field(
            "provider", "installed", f"must be an installed provider: {', '.join(known)}"
        )
    pin = ctx.session.get(Pin, (scope, target), with_for_update=True)
    if pin is None:
        pin = Pin(scope=scope, target=target)
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
def remove_pin(ctx: Ctx, scope: PinScope, target: str) -> Response:
    ctx.principal.require_admin()
    pin = ctx.session.get(Pin, (scope, target), with_for_update=True)
    if pin is None:
        raise NotFound(f"no pin of {scope} {target!r}")
    ctx.session.delete(pin)
    ctx.audit("placement.unpin", scope, target)
    ctx.session.commit()
    return Response(status_code=204)
