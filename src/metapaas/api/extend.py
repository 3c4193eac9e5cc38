"""What a provider distribution's routes use of the API: its one import of it.

A router built with ``route_class=InContext`` gets, in each handler, a
:class:`Context` (``Ctx``): the caller's principal (``ctx.principal.require_admin()``),
the request's session, ``ctx.audit(...)`` for the change it commits and
``ctx.registry`` for the types. :func:`provider_context` hands a handler its
provider's :class:`~metapaas.providers.ProviderContext`. Errors are the
runtime's problems (:class:`NotFound`, :class:`Conflict`, :class:`Invalid`),
answered as ``application/problem+json``; declare them with
:func:`problem_responses`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request

from metapaas.api.deps import Context, Ctx, InContext
from metapaas.api.instances import flush_unique
from metapaas.api.problems import problem_responses
from metapaas.api.timestamps import rfc3339
from metapaas.db import models
from metapaas.errors import Conflict, Invalid, NotFound
from metapaas.providers import ProviderContext

__all__ = [
    "Conflict",
    "Context",
    "Ctx",
    "InContext",
    "Invalid",
    "NotFound",
    "flush_unique",
    "problem_responses",
    "provider_context",
    "provider_names",
    "require_project",
    "require_type",
    "rfc3339",
]


def provider_context(
    name: str,
) -> Callable[[Request], Coroutine[Any, Any, ProviderContext[Any]]]:
    """A dependency giving provider ``name``'s context in this process:
    ``Annotated[ProviderContext[MySettings], Depends(provider_context("mine"))]``."""

    async def dependency(request: Request) -> ProviderContext[Any]:
        found = request.app.state.metapaas.providers.get(name)
        if found is None:  # its routes are mounted only while it is installed and usable
            raise NotFound(f"provider {name!r} is not usable here")
        context: ProviderContext[Any] = found.context
        return context

    return dependency


def provider_names(ctx: Context) -> list[str]:
    """The providers usable in this process, by name."""
    names: list[str] = ctx.state.providers.names()
    return names


def require_project(ctx: Context, project_id: str) -> None:
    """A 404 naming the project unless it exists."""
    if ctx.session.get(models.Project, project_id) is None:
        raise NotFound(f"no project {project_id!r}")


def require_type(ctx: Context, slug: str) -> None:
    """A 404 naming the type unless it is installed."""
    ctx.registry.get(slug)
