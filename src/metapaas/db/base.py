"""The declarative base of the runtime's own tables, on the column types every table
shares (:mod:`metapaas.db.columns`; a distribution's tables have a base of their own)."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from metapaas.db import columns


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=columns.NAMING_CONVENTION)
    type_annotation_map = columns.TYPE_ANNOTATION_MAP
