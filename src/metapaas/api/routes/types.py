"""The catalog of installed PaaS types."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from metapaas.api.deps import Ctx, InContext
from metapaas.api.problems import problem_responses
from metapaas.plugins import describe

# Every route reads the caller's token from the database.
router = APIRouter(
    route_class=InContext, prefix="/v1/types", tags=["types"], responses=problem_responses(401, 503)
)


@router.get("/", summary="List installed PaaS types, working or not")
def list_types(ctx: Ctx) -> dict[str, Any]:
    return {"items": [describe(t) for t in [*ctx.registry, *ctx.registry.rejected]]}


@router.get(
    "/{slug}/",
    summary="Show a type with its instance and child resource schemas",
    responses=problem_responses(404),
)
def show_type(ctx: Ctx, slug: str) -> dict[str, Any]:
    return describe(ctx.registry.get(slug), detail=True)
