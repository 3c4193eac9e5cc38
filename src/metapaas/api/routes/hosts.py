"""Hosts of the ``ssh`` provider's pool: register, list, drain, remove (admins only).

A registration records the host ``PENDING`` and wakes the host monitor
(:mod:`metapaas.providers.ssh.monitor`), which alone moves a host's state.
The private key is sealed at once and never shown again; the host key is
pinned as given. A drain records intent: the orchestrator moves the host's
nodes elsewhere, one at a time, each while the others of its instance serve.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import func, select

from metapaas.api.deps import Context, Ctx, InContext
from metapaas.api.instances import flush_unique
from metapaas.api.problems import problem_responses
from metapaas.api.timestamps import rfc3339
from metapaas.db import models
from metapaas.errors import Conflict, NotFound
from metapaas.orchestrator import queue
from metapaas.providers import INSTANCE, TYPE, ssh

router = APIRouter(
    route_class=InContext,
    prefix="/v1/hosts",
    tags=["hosts"],
    responses=problem_responses(401, 403, 503),
)

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,61}[a-z0-9]$"
# A host's labels, and the labels a placement pin asks a host to have.
LabelKey = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9./-]{0,62}$")]
LabelValue = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{0,63}$")]


class Capacity(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nodes: int = Field(ge=1, le=10_000, description="Nodes the host may run at once.")
    memory_mb: int = Field(
        ge=64, le=models.INT_MAX, description="Memory the host gives nodes, in MB."
    )


class HostBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="Unique among hosts.")
    address: str = Field(
        min_length=1,
        max_length=255,
        pattern=r"^[A-Za-z0-9.:-]+$",
        description="The host's IP address or DNS name, where the control plane reaches it "
        "and where clients reach its nodes.",
    )
    port: int = Field(default=22, ge=1, le=65535)
    user: str = Field(
        default="root",
        pattern=r"^[a-z_][a-z0-9_-]{0,31}$",
        description="The login: root, or a user that may run `sudo -n`.",
    )
    private_key: str = Field(
        min_length=1,
        max_length=20_000,
        description="The login's private key (OpenSSH or PEM, unencrypted): sealed at rest, "
        "never shown again.",
    )
    host_key: str = Field(
        min_length=1,
        max_length=20_000,
        description="The host's public key (`ssh-ed25519 AAAA...`), pinned: a host "
        "presenting another is refused.",
    )
    capacity: Capacity
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=64)
    install_packages: bool = Field(
        default=False,
        description="The host's policy: whether the control plane may install (apt-get) "
        "the Debian packages a type's nodes need. Without it, a host missing them runs no "
        "node of that type.",
    )

    @field_validator("private_key")
    @classmethod
    def _usable_private_key(cls, text: str) -> str:
        _as_format(ssh.check_private_key, text)  # its public half is not kept
        return text

    @field_validator("host_key")
    @classmethod
    def _public_host_key(cls, text: str) -> str:
        return _as_format(ssh.check_host_key, text)


def _as_format(check: Callable[[str], str], text: str) -> str:
    """``check(text)``; its ``ValueError`` is the rule ``format``: a key the document cannot
    describe by a pattern (it must parse as an SSH key)."""
    try:
        return check(text)
    except ValueError as exc:
        raise PydanticCustomError("format", str(exc)) from exc


def host_view(session: Any, host: models.Host) -> dict[str, Any]:
    placed = list(
        session.scalars(
            select(models.HostNode)
            .where(models.HostNode.host_name == host.name)
            .order_by(models.HostNode.node_name)
        )
    )
    return {
        "name": host.name,
        "address": host.address,
        "port": host.port,
        "user": host.user,
        "host_key": host.host_key,
        "capacity": {"nodes": host.capacity_nodes, "memory_mb": host.capacity_memory_mb},
        "used": {"nodes": len(placed), "memory_mb": sum(n.memory_mb for n in placed)},
        "labels": host.labels,
        "install_packages": host.install_packages,
        "state": host.state,
        "state_reason": host.state_reason,
        "draining": host.draining,
        "facts": host.facts,
        "nodes": [
            {
                "name": node.node_name,
                "instance_id": node.labels.get(INSTANCE, ""),
                "type": node.labels.get(TYPE, ""),
                "ports": node.ports,
                "memory_mb": node.memory_mb,
            }
            for node in placed
        ],
        "checked_at": rfc3339(host.checked_at) if host.checked_at else None,
        "created_at": rfc3339(host.created_at),
    }


def _host(ctx: Context, name: str, *, lock: bool = False) -> models.Host:
    host = ctx.session.get(models.Host, name, with_for_update=lock)
    if host is None:
        raise NotFound(f"no host {name!r} is registered")
    return host


@router.get("", summary="List the hosts, with their state, capacity and nodes")
def list_hosts(ctx: Ctx) -> dict[str, Any]:
    ctx.principal.require_admin()
    hosts = ctx.session.scalars(select(models.Host).order_by(models.Host.name))
    return {"items": [host_view(ctx.session, host) for host in hosts]}


@router.get("/{name}", summary="Show a host", responses=problem_responses(404))
def show_host(ctx: Ctx, name: str) -> dict[str, Any]:
    ctx.principal.require_admin()
    return host_view(ctx.session, _host(ctx, name))


@router.post(
    "",
    status_code=201,
    summary="Register a host; the host monitor checks it at once and keeps checking it",
    responses={
        201: {"description": "The host, PENDING until checked"},
        **problem_responses(409, 422),
    },
)
def register_host(ctx: Ctx, body: HostBody) -> JSONResponse:
    ctx.principal.require_admin()
    if ctx.session.get(models.Host, body.name) is not None:
        raise Conflict(f"host {body.name} is registered already")
    host = models.Host(
        name=body.name,
        address=body.address,
        port=body.port,
        user=body.user,
        sealed_private_key=ctx.state.sealer.seal({"private_key": body.private_key}),
        host_key=body.host_key,
        capacity_nodes=body.capacity.nodes,
        capacity_memory_mb=body.capacity.memory_mb,
        labels=body.labels,
        install_packages=body.install_packages,
    )
    ctx.session.add(host)
    flush_unique(ctx, "name")
    ctx.audit("host.register", "host", host.name, address=host.address, user=host.user)
    view = host_view(ctx.session, host)
    ctx.session.commit()
    ctx.state.wake_host_monitor()
    return JSONResponse(view, status_code=201, headers={"Location": f"/v1/hosts/{host.name}"})


@router.post(
    "/{name}/actions/drain",
    status_code=202,
    summary="Drain a host: its nodes move to other hosts, one at a time, health-gated",
    responses={202: {"description": "The host, draining"}, **problem_responses(404)},
)
def drain_host(ctx: Ctx, name: str) -> JSONResponse:
    ctx.principal.require_admin()
    host = _host(ctx, name, lock=True)
    host.draining = True
    ctx.audit("host.drain", "host", host.name)
    placed = select(models.Node.instance_id).where(models.Node.location == host.name)
    for instance_id in set(ctx.session.scalars(placed)):  # looked at now, not at the resync
        queue.enqueue(ctx.session, instance_id, ctx.state.clock())
    view = host_view(ctx.session, host)
    ctx.commit()
    return JSONResponse(view, status_code=202)


@router.post(
    "/{name}/actions/resume",
    summary="End a drain: the host takes new nodes again",
    responses={200: {"description": "The host"}, **problem_responses(404)},
)
def resume_host(ctx: Ctx, name: str) -> dict[str, Any]:
    ctx.principal.require_admin()
    host = _host(ctx, name, lock=True)
    host.draining = False
    ctx.audit("host.resume", "host", host.name)
    view = host_view(ctx.session, host)
    ctx.commit()
    return view


@router.delete(
    "/{name}",
    status_code=204,
    summary="Remove a host that holds no node",
    responses={204: {"description": "Removed"}, **problem_responses(404, 409)},
)
def remove_host(ctx: Ctx, name: str) -> None:
    ctx.principal.require_admin()
    host = _host(ctx, name, lock=True)
    count = ctx.session.scalar(
        select(func.count()).select_from(models.HostNode).where(models.HostNode.host_name == name)
    )
    volumes = ctx.session.scalar(
        select(func.count())
        .select_from(models.HostVolume)
        .where(models.HostVolume.host_name == name)
    )
    if count or volumes:
        raise Conflict(
            f"host {name} holds {count} node(s) and {volumes} volume(s): drain it and delete "
            "their instances' data first"
        )
    ctx.session.delete(host)
    ctx.audit("host.remove", "host", name)
    ctx.session.commit()
