"""The catalog of installed PaaS types."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from metapaas.api.deps import Ctx
from metapaas.plugins import describe

router = APIRouter(prefix="/v1/types", tags=["types"])


@router.get("/", summary="List installed PaaS types, working or not")
def list_types(ctx: Ctx) -> dict[str, Any]:
    return {"items": [describe(t) for t in [*ctx.registry, *ctx.registry.rejected]]}


@router.get("/{slug}/", summary="Show a type with its instance and child resource schemas")
def show_type(ctx: Ctx, slug: str) -> dict[str, Any]:
    return describe(ctx.registry.get(slug), detail=True)
