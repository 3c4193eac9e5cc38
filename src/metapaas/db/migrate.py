"""Independent Alembic migration streams: one for the runtime, one per plugin.

Each stream has its own revision directory and its own version table
(``metapaas_alembic_version`` for the runtime, ``<slug>_alembic_version`` for
a plugin), so applying, upgrading or removing one stream never reads or writes
another's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect

_ALEMBIC_DIR = Path(__file__).parent / "alembic"
_CORE_VERSIONS = Path(__file__).parent / "versions"


class MigrationError(Exception):
    """A stream could not be applied; nothing of it was kept."""


@dataclass(frozen=True)
class Stream:
    """A migration stream; ``table_prefix`` is what every table it creates must start with."""

    name: str
    versions_dir: Path
    table_prefix: str = ""

    @property
    def version_table(self) -> str:
        return f"{self.name}_alembic_version"


CORE_STREAM = Stream(name="metapaas", versions_dir=_CORE_VERSIONS)


def plugin_stream(slug: str, versions_dir: Path) -> Stream:
    return Stream(name=slug, versions_dir=versions_dir, table_prefix=f"{slug}_")


def _config(stream: Stream, connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_ALEMBIC_DIR))
    config.set_main_option("version_locations", str(stream.versions_dir))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    config.attributes["version_table"] = stream.version_table
    return config


def heads(stream: Stream) -> set[str]:
    return set(ScriptDirectory.from_config(_config(stream)).get_heads())


def current(engine: Engine, stream: Stream) -> set[str]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": stream.version_table}
        )
        return set(context.get_current_heads())


def is_current(engine: Engine, stream: Stream) -> bool:
    return current(engine, stream) == heads(stream)


def upgrade(engine: Engine, stream: Stream, revision: str = "heads") -> None:
    """Apply ``stream`` up to ``revision`` in one transaction.

    A plugin stream that creates a table without its slug prefix is rolled
    back whole and reported.
    """
    _run(engine, stream, lambda config: command.upgrade(config, revision))


def downgrade(engine: Engine, stream: Stream, revision: str = "base") -> None:
    _run(engine, stream, lambda config: command.downgrade(config, revision))


def _run(engine: Engine, stream: Stream, step: Callable[[Config], None]) -> None:
    try:
        with engine.begin() as connection:
            before = set(inspect(connection).get_table_names())
            step(_config(stream, connection))
            created = set(inspect(connection).get_table_names()) - before
            _check_prefix(stream, created)
    except MigrationError:
        raise
    except Exception as exc:
        raise MigrationError(f"migration stream {stream.name!r} failed: {exc}") from exc


def _check_prefix(stream: Stream, created: set[str]) -> None:
    if not stream.table_prefix:
        return
    stray = sorted(
        table
        for table in created
        if not table.startswith(stream.table_prefix) and table != stream.version_table
    )
    if stray:
        raise MigrationError(
            f"migration stream {stream.name!r} created tables without the "
            f"{stream.table_prefix!r} prefix: {', '.join(stray)}"
        )
