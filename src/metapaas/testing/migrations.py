"""Whether a migration stream makes the tables its models declare, no more, no less."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, MetaData


def drift(engine: Engine, metadata: MetaData) -> list[Any]:
    """What the tables of ``metadata`` in ``engine``'s database lack or have beyond what
    ``metadata`` declares (Alembic's autogenerate comparison, column types included);
    empty when a stream's migrations and its models agree. Tables ``metadata`` does not
    name (another stream's) are left out."""

    def ours(name: str | None, kind: str, _parent: Any) -> bool:
        return kind != "table" or name in metadata.tables

    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": ours}
        )
        return list(compare_metadata(context, metadata))
