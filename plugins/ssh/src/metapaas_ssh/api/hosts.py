"""Hosts of the pool: register, list, drain, remove (admins only).

A registration records the host ``PENDING`` and wakes the host monitor
(:mod:`metapaas_ssh.monitor`; the runtime starts it once a host is
registered), which alone moves a host's state. The private key is sealed at
once and never shown again; the host key is pinned as given. A drain records
intent: the orchestrator moves the host's nodes elsewhere, one at a time,
each while the others of its instance serve.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from metapaas.api import extend
from metapaas.api.extend import Conflict, Context, Ctx, NotFound, problem_responses, rfc3339
from metapaas.providers import INSTANCE, TYPE, ProviderContext
from metapaas_ssh import NAME, SshSettings
from metapaas_ssh.api.bodies import HostBody
from metapaas_ssh.tables import Host, HostNode, HostVolume

router = APIRouter(
    route_class=extend.InContext,
    prefix="/v1/hosts",
    tags=["hosts"],
    responses=problem_responses(401, 403, 503),
)

Pool = Annotated[ProviderContext[SshSettings], Depends(extend.provider_context(NAME))]


def host_view(session: Session, host: Host) -> dict[str, Any]:
    placed = list(
        session.scalars(
            select(HostNode).where(HostNode.host_name == host.name).order_by(HostNode.node_name)
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


def _host(ctx: Context, name: str, *, lock: bool = False) -> Host:
    host = ctx.session.get(Host, name, with_for_update=lock)
    if host is None:
        raise NotFound(f"no host {name!r} is registered")
    return host


@router.get("", summary="List the hosts, with their state, capacity and nodes")
def list_hosts(ctx: Ctx) -> dict[str, Any]:
    ctx.principal.require_admin()
    hosts = ctx.session.scalars(select(Host).order_by(Host.name))
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
def register_host(ctx: Ctx, pool: Pool, body: HostBody) -> JSONResponse:
    ctx.principal.require_admin()
    if ctx.session.get(Host, body.name) is not None:
        raise Conflict(f"host {body.name} is registered already")
    host = Host(
        name=body.name,
        address=body.address,
        port=body.port,
        user=body.user,
        sealed_private_key=pool.sealer.seal({"private_key": body.private_key}),
        host_key=body.host_key,
        capacity_nodes=body.capacity.nodes,
        capacity_memory_mb=body.capacity.memory_mb,
        labels=body.labels,
        install_packages=body.install_packages,
    )
    ctx.session.add(host)
    extend.flush_unique(ctx, "name")
    ctx.audit("host.register", "host", host.name, address=host.address, user=host.user)
    view = host_view(ctx.session, host)
    ctx.session.commit()
    pool.wake()
    return JSONResponse(view, status_code=201, headers={"Location": f"/v1/hosts/{host.name}"})


@router.post(
    "/{name}/actions/drain",
    status_code=202,
    summary="Drain a host: its nodes move to other hosts, one at a time, health-gated",
    responses={202: {"description": "The host, draining"}, **problem_responses(404)},
)
def drain_host(ctx: Ctx, pool: Pool, name: str) -> JSONResponse:
    ctx.principal.require_admin()
    host = _host(ctx, name, lock=True)
    host.draining = True
    ctx.audit("host.drain", "host", host.name)
    placed = ctx.session.scalars(select(HostNode).where(HostNode.host_name == host.name))
    instances = {str(node.labels.get(INSTANCE, "")) for node in placed} - {""}
    view = host_view(ctx.session, host)
    ctx.session.commit()
    pool.reconcile(instances)  # looked at now, not at the resync
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
    ctx.session.commit()
    return view


@router.delete(
    "/{name}",
    status_code=204,
    summary="Remove a host that holds no node",
    responses={204: {"description": "Removed"}, **problem_responses(404, 409)},
)
def remove_host(ctx: Ctx, pool: Pool, name: str) -> None:
    ctx.principal.require_admin()
    _host(ctx, name, lock=True)
    nodes = _count(ctx.session, HostNode, name)
    volumes = _count(ctx.session, HostVolume, name)
    if nodes or volumes:
        raise Conflict(
            f"host {name} holds {nodes} node(s) and {volumes} volume(s): drain it and delete "
            "their instances' data first"
        )
    ctx.session.delete(_host(ctx, name))
    ctx.audit("host.remove", "host", name)
    ctx.session.commit()
    pool.wake()  # the last host gone: the monitor may stop


def _count(session: Session, placed: type[HostNode] | type[HostVolume], host: str) -> int:
    query = select(func.count()).select_from(placed).where(placed.host_name == host)
    return int(session.scalar(query) or 0)
