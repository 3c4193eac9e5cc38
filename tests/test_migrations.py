"""Independent migration streams: the runtime's and one per plugin (Storage)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine, inspect, text

from metapaas.db import CORE_STREAM, MigrationError, migrate, models, plugin_stream
from metapaas.plugins import Registry
from metapaas.testing import drift
from tests import sample_plugins
from tests.sample_plugins import gizmos, stray, widgets

WIDGETS = plugin_stream("widgets", widgets.Widgets.migrations)
GIZMOS = plugin_stream("gizmos", gizmos.Gizmos.migrations)
STRAY = plugin_stream("stray", stray.Stray.migrations)
CORE_TABLES = {"projects", "users", "api_tokens", "role_bindings", "instances", "audit_log"}

EngineFor = Callable[[str], Engine]


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def _versions(engine: Engine, table: str) -> list[str]:
    if table not in _tables(engine):
        return []
    with engine.connect() as conn:
        return sorted(conn.execute(text(f'SELECT version_num FROM "{table}"')).scalars())  # noqa: S608


@pytest.fixture
def engine(empty_database_url: str, engine_for: EngineFor) -> Engine:
    return engine_for(empty_database_url)


def test_core_and_plugin_streams_upgrade_each_into_its_own_version_table(engine: Engine) -> None:
    migrate.upgrade(engine, CORE_STREAM)
    migrate.upgrade(engine, WIDGETS)
    migrate.upgrade(engine, GIZMOS)

    tables = _tables(engine)
    assert tables >= CORE_TABLES
    assert {"widgets_inventory", "widgets_shelves", "gizmos_things"} <= tables
    assert WIDGETS.version_table == "widgets_alembic_version"
    assert _versions(engine, "metapaas_alembic_version") == sorted(migrate.heads(CORE_STREAM))
    assert _versions(engine, "widgets_alembic_version") == ["w002"]
    assert _versions(engine, "gizmos_alembic_version") == ["g001"]
    assert "alembic_version" not in tables
    assert all(migrate.is_current(engine, s) for s in (CORE_STREAM, WIDGETS, GIZMOS))


def test_a_stream_is_pending_until_applied_and_upgrading_again_changes_nothing(
    engine: Engine,
) -> None:
    migrate.upgrade(engine, CORE_STREAM)
    assert not migrate.is_current(engine, WIDGETS)
    migrate.upgrade(engine, WIDGETS, "w001")
    assert not migrate.is_current(engine, WIDGETS)
    assert "widgets_shelves" not in _tables(engine)
    migrate.upgrade(engine, WIDGETS)
    before = _tables(engine)
    migrate.upgrade(engine, WIDGETS)
    assert _tables(engine) == before
    assert migrate.is_current(engine, WIDGETS)


def test_downgrading_one_plugin_to_base_drops_only_its_tables(engine: Engine) -> None:
    for stream in (CORE_STREAM, WIDGETS, GIZMOS):
        migrate.upgrade(engine, stream)
    core_version = _versions(engine, "metapaas_alembic_version")

    migrate.downgrade(engine, WIDGETS, "base")

    tables = _tables(engine)
    assert not {t for t in tables if t.startswith("widgets_") and t != "widgets_alembic_version"}
    assert _versions(engine, "widgets_alembic_version") == []
    assert tables >= CORE_TABLES | {"gizmos_things"}
    assert _versions(engine, "gizmos_alembic_version") == ["g001"]
    assert _versions(engine, "metapaas_alembic_version") == core_version
    assert migrate.is_current(engine, GIZMOS)
    assert not migrate.is_current(engine, WIDGETS)


def test_downgrading_one_revision_keeps_the_earlier_ones(engine: Engine) -> None:
    migrate.upgrade(engine, CORE_STREAM)
    migrate.upgrade(engine, WIDGETS)
    migrate.downgrade(engine, WIDGETS, "w001")
    assert "widgets_inventory" in _tables(engine)
    assert "widgets_shelves" not in _tables(engine)
    assert _versions(engine, "widgets_alembic_version") == ["w001"]


def test_a_stream_creating_an_unprefixed_table_fails_and_leaves_nothing(engine: Engine) -> None:
    migrate.upgrade(engine, CORE_STREAM)
    before = _tables(engine)

    with pytest.raises(MigrationError, match="without the 'stray_' prefix: inventory"):
        migrate.upgrade(engine, STRAY)

    assert _tables(engine) == before
    assert _versions(engine, "stray_alembic_version") == []
    with pytest.raises(MigrationError):  # and it fails the same way again
        migrate.upgrade(engine, STRAY)
    assert _tables(engine) == before


def test_the_registry_marks_a_failing_stream_error_and_migrates_the_others(
    engine: Engine,
) -> None:
    registry = Registry.discover(
        found=[sample_plugins.demo_entry_point(), sample_plugins.WIDGETS, sample_plugins.STRAY]
    )
    migrate.upgrade(engine, CORE_STREAM)

    registry.migrate(engine)

    assert registry.get("stray").status == "ERROR"
    assert "inventory" in registry.get("stray").reason
    assert registry.get("widgets").status == "ACTIVE"
    assert registry.get("demo").status == "ACTIVE"
    tables = _tables(engine)
    assert "widgets_inventory" in tables
    assert not {"inventory", "stray_ok"} & tables
    assert registry.is_current(engine)  # a type in ERROR is not waited for


def test_the_runtimes_stream_makes_exactly_the_tables_its_models_declare(engine: Engine) -> None:
    migrate.upgrade(engine, CORE_STREAM)
    assert drift(engine, models.Base.metadata) == []
