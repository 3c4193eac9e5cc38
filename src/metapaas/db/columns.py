"""Column types and naming shared by every table: the runtime's and a distribution's own.

A provider distribution that keeps tables (``ssh``) declares them on a base
of its own with these, so its timestamps and documents read back as the
runtime's do on both backends::

    class Base(DeclarativeBase):
        metadata = MetaData(naming_convention=columns.NAMING_CONVENTION)
        type_annotation_map = columns.TYPE_ANNOTATION_MAP
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import JSON, DateTime, String, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


INT_MAX = 2**31 - 1
"""The largest value an ``Integer`` column holds on PostgreSQL: the bound of every
integer a request may store."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


E = TypeVar("E", bound=enum.StrEnum)


class StateColumn(TypeDecorator[E]):
    """A state stored as its text and read back as its enum member, so code compares
    members, never spelled-out strings; a value the enum does not have is refused."""

    impl = String(16)
    cache_ok = True

    def __init__(self, states: type[E]) -> None:
        super().__init__()
        self.states = states

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.states(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self.states(value)


JSONDocument = JSON().with_variant(JSONB(), "postgresql")

TYPE_ANNOTATION_MAP: dict[Any, Any] = {datetime: UTCDateTime, dict[str, Any]: JSONDocument}
"""``Mapped[datetime]`` and ``Mapped[dict[str, Any]]`` columns as the runtime stores them."""
