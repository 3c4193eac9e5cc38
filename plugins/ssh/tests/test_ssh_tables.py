"""The ssh distribution's stream makes exactly the tables its models declare."""

from __future__ import annotations

from metapaas_ssh import Ssh, tables

from metapaas.db import CORE_STREAM, make_engine, migrate, plugin_stream
from metapaas.testing import drift


def test_its_stream_makes_exactly_its_tables(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        migrate.upgrade(engine, CORE_STREAM)
        assert Ssh.migrations is not None
        migrate.upgrade(engine, plugin_stream(Ssh.name, Ssh.migrations))
        assert drift(engine, tables.Base.metadata) == []
    finally:
        engine.dispose()
