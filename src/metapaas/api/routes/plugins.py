"""Plugins: install, upgrade and remove PaaS types while the control plane serves (admins only).

A request records intent (the plugin's ``request`` and an operation) and wakes
the installer (:mod:`metapaas.plugins.installer`), which alone moves the
plugin's state. Bundled plugins, installed with the runtime, are listed too
and change only with it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from metapaas.api.deps import Context, Ctx, InContext
from metapaas.api.instances import operation_view
from metapaas.api.problems import problem_responses
from metapaas.api.timestamps import rfc3339
from metapaas.db import models
from metapaas.errors import Conflict, Invalid, NotFound
from metapaas.plugins import LoadedType
from metapaas.plugins.installer import live_instances
from metapaas.plugins.resolve import distribution_name
from metapaas.plugins.wheelhouse import canonical

# Every route reads the caller's token from the database, and needs an admin.
router = APIRouter(
    route_class=InContext,
    prefix="/v1/plugins",
    tags=["plugins"],
    responses=problem_responses(401, 403, 503),
)


PACKAGE_MAX_LENGTH = 200
"""Of a requirement, a path or a URL: the distribution name in it is no longer, and fits
every column that names a distribution."""


class PackageBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    package: str = Field(
        min_length=1,
        max_length=PACKAGE_MAX_LENGTH,
        description="A requirement (`metapaas-hello==0.2.0`), a wheel or sdist path on the "
        "control plane's machine, or a URL to one.",
    )
    sha256: str | None = Field(
        default=None,
        title="SHA-256",
        pattern=r"^[0-9a-fA-F]{64}$",
        description="The SHA-256 the plugin's own wheel must have.",
    )
    index_url: str | None = Field(
        default=None,
        title="Index URL",
        max_length=2000,
        pattern=r"^(https?|file)://",
        description="The package index to resolve from instead of the configured one.",
    )

    def named(self) -> str:
        """The distribution the package is, or a 422 naming ``package``."""
        try:
            return distribution_name(self.package)
        except ValueError as exc:
            raise Invalid.field("package", "format", str(exc)) from exc

    def request(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


def plugin_view(ctx: Context, plugin: models.Plugin) -> dict[str, Any]:
    op = _latest_operation(ctx, plugin.name)
    return {
        "name": plugin.name,
        "bundled": False,
        "state": plugin.state,
        "progress": plugin.progress,
        "error": plugin.error,
        "version": plugin.version,
        "sha256": plugin.sha256,
        "wheelhouse": plugin.wheelhouse,
        "types": plugin.types,
        "request": plugin.request,
        "operation_id": op.id if op is not None else None,
        "rollout": _rollout(ctx, plugin),
        "created_at": rfc3339(plugin.created_at),
        "updated_at": rfc3339(plugin.updated_at),
    }


def _rollout(ctx: Context, plugin: models.Plugin) -> dict[str, int]:
    """How many nodes of its types' live instances run the served version, of how many."""
    stmt = (
        select(models.Node.wheelhouse, func.count())
        .join(models.Instance, models.Node.instance_id == models.Instance.id)
        .where(models.Instance.type_slug.in_(plugin.types), models.Instance.deleted_at.is_(None))
        .group_by(models.Node.wheelhouse)
    )
    counts = {wheelhouse: int(count) for wheelhouse, count in ctx.session.execute(stmt)}
    return {"nodes": sum(counts.values()), "on_served_version": counts.get(plugin.wheelhouse, 0)}


def bundled_views(ctx: Context) -> dict[str, dict[str, Any]]:
    """The plugins installed with the runtime, by distribution, from the loaded types."""
    installed = set(ctx.session.scalars(select(models.Plugin.name)))
    by_distribution: dict[str, list[LoadedType]] = defaultdict(list)
    for loaded in ctx.registry:
        name = canonical(loaded.found.distribution or loaded.found.entry_point)
        if name not in installed:
            by_distribution[name].append(loaded)
    return {
        name: {
            "name": name,
            "bundled": True,
            "state": "ACTIVE" if all(t.usable for t in types) else "ERROR",
            "progress": "",
            "error": "; ".join(f"{t.slug}: {t.reason}" for t in types if not t.usable),
            "version": types[0].found.distribution_version,
            "sha256": "",
            "wheelhouse": "",
            "types": [t.slug for t in types],
            "request": {},
            "operation_id": None,
            "rollout": None,
            "created_at": None,
            "updated_at": None,
        }
        for name, types in sorted(by_distribution.items())
    }


def _latest_operation(ctx: Context, name: str) -> models.Operation | None:
    stmt = (
        select(models.Operation)
        .where(models.Operation.plugin_name == name)
        .order_by(models.Operation.created_at.desc())
        .limit(1)
    )
    return ctx.session.scalars(stmt).first()


def _accepted(ctx: Context, plugin: models.Plugin, kind: str) -> JSONResponse:
    """Open the operation, audit, commit, wake the installer: the 202 every change answers."""
    op = models.Operation(kind=kind, plugin_name=plugin.name, created_by=ctx.principal.user_id)
    ctx.session.add(op)
    ctx.session.flush()
    ctx.audit(kind, "plugin", plugin.name, request=plugin.request, operation_id=op.id)
    view = plugin_view(ctx, plugin) | {"operation": operation_view(op)}
    ctx.session.commit()
    ctx.state.wake_installer()
    return JSONResponse(
        view,
        status_code=202,
        headers={"Location": f"/v1/operations/{op.id}"},
    )


def _request(
    ctx: Context, plugin: models.Plugin, request: dict[str, Any], kind: str
) -> JSONResponse:
    """Record a new request of an installed plugin for the installer to take up."""
    plugin.request = request
    plugin.request_id += 1
    plugin.due_at = ctx.state.clock()
    return _accepted(ctx, plugin, kind)


def _installed(ctx: Context, name: str) -> models.Plugin:
    """The plugin installed at run time, locked for a change; 404 or 409 otherwise."""
    plugin = ctx.session.get(models.Plugin, canonical(name), with_for_update=True)
    if plugin is not None:
        return plugin
    if canonical(name) in bundled_views(ctx):
        raise Conflict(f"plugin {name} is bundled with the runtime: it changes with the runtime")
    raise NotFound(f"no plugin {name!r} is installed")


def _idle(plugin: models.Plugin) -> None:
    busy = plugin.request_id > plugin.taken_request or plugin.state in (
        models.PluginState.INSTALLING,
        models.PluginState.REMOVING,
    )
    if busy:
        raise Conflict(
            f"plugin {plugin.name} is {plugin.state}: wait for its operation to end "
            f"({plugin.progress or 'queued'})"
        )


@router.get("", summary="List plugins: installed at run time and bundled")
def list_plugins(ctx: Ctx) -> dict[str, Any]:
    ctx.principal.require_admin()
    rows = ctx.session.scalars(select(models.Plugin).order_by(models.Plugin.name))
    installed = [plugin_view(ctx, p) for p in rows]
    return {"items": sorted([*installed, *bundled_views(ctx).values()], key=lambda v: v["name"])}


@router.get("/{name}", summary="Show a plugin", responses=problem_responses(404))
def show_plugin(ctx: Ctx, name: str) -> dict[str, Any]:
    ctx.principal.require_admin()
    plugin = ctx.session.get(models.Plugin, canonical(name))
    if plugin is not None:
        return plugin_view(ctx, plugin)
    bundled = bundled_views(ctx).get(canonical(name))
    if bundled is None:
        raise NotFound(f"no plugin {name!r} is installed")
    return bundled


@router.post(
    "",
    status_code=202,
    summary="Install a plugin: its types serve once every control-plane process loaded it",
    responses={
        202: {"description": "The plugin and the operation installing it"},
        **problem_responses(409, 422),
    },
)
def install_plugin(ctx: Ctx, body: PackageBody) -> JSONResponse:
    ctx.principal.require_admin()
    name = body.named()
    if ctx.session.get(models.Plugin, name) is not None:
        raise Conflict(f"plugin {name} is installed: PATCH /v1/plugins/{name} upgrades it")
    if name in bundled_views(ctx):
        raise Conflict(f"plugin {name} is bundled with the runtime: it changes with the runtime")
    plugin = models.Plugin(
        name=name, request=body.request(), request_id=1, progress="queued", due_at=ctx.state.clock()
    )
    ctx.session.add(plugin)
    return _accepted(ctx, plugin, "plugin.install")


@router.patch(
    "/{name}",
    status_code=202,
    summary="Upgrade (or change) a plugin to another version; the last good one serves meanwhile",
    responses={
        202: {"description": "The plugin and the operation upgrading it"},
        **problem_responses(404, 409, 422),
    },
)
def upgrade_plugin(ctx: Ctx, name: str, body: PackageBody) -> JSONResponse:
    ctx.principal.require_admin()
    plugin = _installed(ctx, name)
    if body.named() != plugin.name:
        raise Invalid.field(
            "package", "same_distribution", f"must be a version of {plugin.name}, not another one"
        )
    _idle(plugin)
    return _request(ctx, plugin, body.request(), "plugin.upgrade")


@router.delete(
    "/{name}",
    status_code=202,
    summary="Remove a plugin with no instances left; its tables stay unless `purge`",
    responses={
        202: {"description": "The plugin and the operation removing it"},
        **problem_responses(404, 409),
    },
)
def remove_plugin(
    ctx: Ctx,
    name: str,
    purge: Annotated[bool, Query(description="Also drop the tables of its types.")] = False,
) -> JSONResponse:
    ctx.principal.require_admin()
    plugin = _installed(ctx, name)
    _idle(plugin)
    live = live_instances(ctx.session, plugin.types)
    if live:
        counted = f"{live} instance of" if live == 1 else f"{live} instances of"
        verb = "exists" if live == 1 else "exist"
        raise Conflict(f"{counted} {', '.join(plugin.types)} {verb}: delete them first")
    return _request(ctx, plugin, {"remove": True, "purge": purge}, "plugin.remove")
