"""The backend's own ``INSERT``, which has ``ON CONFLICT``: one statement that inserts a
row or updates the one there, so two writers of the same key never race to a failed
commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert(session: Session, table: Any) -> postgresql.Insert | sqlite.Insert:
    """An insert into ``table`` (a model or a table) in the dialect ``session`` writes to."""
    dialect = session.get_bind().dialect.name
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
