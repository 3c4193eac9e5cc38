"""Fixtures shared by every MetaPaaS test.

Databases
    ``database_factory`` and ``empty_database_url`` come from the testing
    kit's pytest plugin (:mod:`metapaas.testing.fixtures`).
    ``database_url`` runs a test once on SQLite and once on PostgreSQL (ids
    ``sqlite`` and ``postgresql``). Each backend has one database per test
    session, migrated once with the standard registry (``demo`` + the sample
    ``widgets`` type); before each test every table but the Alembic version
    tables is emptied. Tests must not change that database's schema; a test
    that migrates or needs nothing in it uses ``empty_database_url``, a
    brand-new database of its own.

    PostgreSQL is the server named by ``METAPAAS_TEST_PG_URL`` (default
    ``postgresql+psycopg://postgres@127.0.0.1:5432/test``); the tests create
    databases ``mp_test_<pid>_<hex>`` beside it and drop them at the end.

The API
    ``api`` is the testing kit's :class:`InProcessControlPlane` (a ``TestClient``
    over a fresh app, helpers to make projects, users and instances through the
    REST API itself, simulated nodes), here on the wiped shared database with an
    ``admin`` user and its own ``METAPAAS_HOME`` under ``tmp_path`` (the kit's
    own ``api`` migrates a new database per test). ``make_api`` builds one over
    any registry (e.g. with broken plugins).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData, text

from metapaas.api import build_state, migrate_all
from metapaas.config import Settings
from metapaas.db import make_engine
from metapaas.iam import ensure_admin
from metapaas.plugins import Registry
from metapaas.testing import InProcessControlPlane
from metapaas.testing.fixtures import BACKENDS, DatabaseFactory
from metapaas.testing.inprocess import close, open_client
from tests import sample_plugins


def standard_entry_points() -> list[EntryPoint]:
    """The types the shared test databases are migrated for: ``demo`` and ``widgets``."""
    return [sample_plugins.demo_entry_point(), sample_plugins.WIDGETS]


def standard_registry() -> Registry:
    return Registry.discover(found=standard_entry_points())


# -- databases ------------------------------------------------------------------


@dataclass
class SharedDatabase:
    """One backend's session database, migrated for the standard registry."""

    backend: str
    url: str
    engine: Engine
    registry: Registry
    tables: Sequence[str] = field(default_factory=list)  # children first

    def wipe(self) -> None:
        """Every row gone, children first. A DELETE per table, on PostgreSQL too: a test
        leaves a few rows, and TRUNCATE's new files cost ten times as much (80 ms)."""
        with self.engine.begin() as conn:
            for table in self.tables:
                conn.execute(text(f'DELETE FROM "{table}"'))  # noqa: S608 (reflected names)


def _shared(backend: str, factory: DatabaseFactory, home: Path) -> Iterator[SharedDatabase]:
    url = factory.new(backend)
    state = build_state(Settings(home=home, database_url=url), registry=standard_registry())
    migrate_all(state)
    assert all(t.usable for t in state.registry), [t.reason for t in state.registry]
    reflected = MetaData()
    reflected.reflect(state.engine)
    tables = [
        t.name for t in reversed(reflected.sorted_tables) if not t.name.endswith("_alembic_version")
    ]
    yield SharedDatabase(backend, url, state.engine, state.registry, tables)
    state.engine.dispose()


@pytest.fixture(scope="session")
def _sqlite_database(
    database_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SharedDatabase]:
    yield from _shared("sqlite", database_factory, tmp_path_factory.mktemp("sqlite-home"))


@pytest.fixture(scope="session")
def _postgresql_database(
    database_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SharedDatabase]:
    yield from _shared("postgresql", database_factory, tmp_path_factory.mktemp("pg-home"))


@pytest.fixture(params=BACKENDS, ids=BACKENDS)
def shared_database(request: pytest.FixtureRequest) -> SharedDatabase:
    """This test's backend's session database, emptied (version tables kept)."""
    database: SharedDatabase = request.getfixturevalue(f"_{request.param}_database")
    database.wipe()
    return database


@pytest.fixture
def database_url(shared_database: SharedDatabase) -> str:
    """A migrated, empty database on each backend (``sqlite`` and ``postgresql``)."""
    return shared_database.url


@pytest.fixture
def engine_for() -> Iterator[Callable[[str], Engine]]:
    """Engines opened by a test through this fixture are disposed after it."""
    opened: list[Engine] = []

    def open_(url: str) -> Engine:
        engine = make_engine(url)
        opened.append(engine)
        return engine

    yield open_
    for engine in opened:
        engine.dispose()


# -- the API --------------------------------------------------------------------

MakeApi = Callable[..., InProcessControlPlane]


@pytest.fixture
def make_api(shared_database: SharedDatabase, tmp_path: Path) -> Iterator[MakeApi]:
    """Build an :class:`InProcessControlPlane` over the wiped shared database; ``registry``
    defaults to the standard one. The registry's types are recorded in ``paas_types`` but
    not migrated."""
    opened: list[InProcessControlPlane] = []

    def make(registry: Registry | None = None) -> InProcessControlPlane:
        settings = Settings(home=tmp_path / "home", database_url=shared_database.url)
        state = build_state(
            settings, registry=shared_database.registry if registry is None else registry
        )
        with state.sessions.begin() as session:
            state.registry.record(session)
            token = ensure_admin(session)
        if token is None:  # a second app over the same database in one test
            token = opened[0].admin_token
        api = open_client(state, token)
        opened.append(api)
        return api

    yield make
    for api in opened:
        close(api)


@pytest.fixture
def api(make_api: MakeApi) -> InProcessControlPlane:
    """The control plane with the standard types, a fresh ``admin`` and nothing else."""
    return make_api()
