"""Marker pagination shared by every list endpoint: stable, ordered by creation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Select, or_
from sqlalchemy.orm import Session

from metapaas.errors import Invalid


class _Row(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_Row)

Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]
Marker = Annotated[str | None, Query(description="Id of the last item of the previous page.")]


class Page(BaseModel):
    items: list[dict[str, Any]]
    next_marker: str | None


def page_response(items: list[dict[str, Any]], next_marker: str | None) -> JSONResponse:
    """A page, sent as it is: a page returned as a dict is checked against :class:`Page`
    (which holds any dicts) on one more trip to a request thread."""
    return JSONResponse({"items": items, "next_marker": next_marker})


def page(
    session: Session, stmt: Select[T], model: Any, limit: int, marker: str | None
) -> tuple[Sequence[T], str | None]:
    """One page of ``stmt`` after ``marker``, and the marker of the next page, if any."""
    if marker is not None:
        last = session.get(model, marker)
        if last is None:
            raise Invalid.field("marker", "unknown", "no item has this id")
        stmt = stmt.where(
            or_(
                model.created_at > last.created_at,
                (model.created_at == last.created_at) & (model.id > last.id),
            )
        )
    rows = list(session.scalars(stmt.order_by(model.created_at, model.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (str(rows[-1].id) if more and rows else None)
