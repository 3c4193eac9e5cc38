"""The pytest plugin of the testing kit: databases of both backends and a real control plane.

Registered under the ``pytest11`` entry point, so every test run in an
environment with MetaPaaS installed (a plugin's own tests included) has:

``database_factory``
    makes brand-new databases, SQLite files or PostgreSQL databases named
    ``mp_test_<pid>_<hex>`` beside ``METAPAAS_TEST_PG_URL`` (default
    ``postgresql+psycopg://postgres@127.0.0.1:5432/test``), and drops them at
    the end of the session.
``empty_database_url``
    a new, empty database per test, once on each backend (ids ``sqlite`` and
    ``postgresql``). A project whose pytest settings say
    ``metapaas_backends = "sqlite"`` (a scaffolded plugin's do) runs on SQLite
    alone until ``METAPAAS_TEST_PG_URL`` is set.
``e2e_database_url``
    a new, empty database per test on *one* backend, taking turns between the tests
    that ask for it: an end-to-end flow whose database does not matter runs once,
    and the flows together still run on both backends.
``e2e_module_database_url``
    the same for a module's tests together (a server they share): one new
    database per module, its backend taking turns with the others'.
``api``
    an :class:`~metapaas.testing.InProcessControlPlane` on ``empty_database_url``
    with every installed type: the real API and orchestrator in the test's process,
    nodes simulated on a fake clock (``api.converge(slug, name)``).
``control_plane``
    a started :class:`~metapaas.testing.ControlPlane` on ``e2e_database_url``;
    afterwards every instance of every type is deleted, so no node outlives
    the test, and the server is stopped.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import make_url

from metapaas.testing.controlplane import ControlPlane
from metapaas.testing.inprocess import InProcessControlPlane, in_process

BACKENDS = ("sqlite", "postgresql")
PG_URL = os.environ.get("METAPAAS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CLEANUP_SECONDS = 120.0


class DatabaseFactory:
    """Makes brand-new databases of either backend and drops them all at the end."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._pg_databases: list[str] = []

    def new(self, backend: str) -> str:
        """The URL of a new, empty database."""
        name = f"mp_test_{os.getpid()}_{secrets.token_hex(4)}"
        if backend == "sqlite":
            return f"sqlite:///{self._directory / name}.db"
        assert backend == "postgresql", backend
        with _pg_admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        self._pg_databases.append(name)
        return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        """Drop a PostgreSQL database now (SQLite files go with the tmp dir)."""
        name = make_url(url).database
        if url.startswith("postgresql") and name in self._pg_databases:
            with _pg_admin() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
            self._pg_databases.remove(name)

    def drop_all(self) -> None:
        for name in list(self._pg_databases):
            self.drop(make_url(PG_URL).set(database=name).render_as_string(hide_password=False))


def _pg_admin() -> psycopg.Connection[Any]:
    url = make_url(PG_URL).set(drivername="postgresql")
    try:
        return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {PG_URL} does not answer (scripts/ensure-postgres.sh): {exc}")


@pytest.fixture(scope="session")
def database_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(tmp_path_factory.mktemp("databases"))
    yield factory
    factory.drop_all()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "metapaas_backends",
        "database backends of empty_database_url (PostgreSQL is added when "
        "METAPAAS_TEST_PG_URL is set)",
        default=" ".join(BACKENDS),
    )


def backends(config: pytest.Config) -> list[str]:
    chosen = str(config.getini("metapaas_backends")).split()
    if "METAPAAS_TEST_PG_URL" in os.environ and "postgresql" not in chosen:
        chosen.append("postgresql")
    return chosen


_turns = itertools.count()
"""Which backend the next test asking for ``e2e_database_url`` gets. Collection order is
the same in every pytest-xdist worker, so every worker gives a test the same one."""


_module_turns: dict[str, str] = {}
"""The backend each module asking for ``e2e_module_database_url`` got, by module name."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    chosen = backends(metafunc.config)
    if "empty_database_url" in metafunc.fixturenames:
        metafunc.parametrize("empty_database_url", chosen, ids=chosen, indirect=True)
    elif "e2e_database_url" in metafunc.fixturenames:
        turn = [chosen[next(_turns) % len(chosen)]]
        metafunc.parametrize("e2e_database_url", turn, ids=turn, indirect=True)
    elif "e2e_module_database_url" in metafunc.fixturenames:
        module = metafunc.module.__name__
        if module not in _module_turns:
            _module_turns[module] = chosen[next(_turns) % len(chosen)]
        turn = [_module_turns[module]]
        metafunc.parametrize(
            "e2e_module_database_url", turn, ids=turn, indirect=True, scope="module"
        )


def _database_of(request: pytest.FixtureRequest, factory: DatabaseFactory) -> Iterator[str]:
    """A brand-new database with no table at all on the parametrized backend, dropped after
    the test."""
    url = factory.new(request.param)
    yield url
    factory.drop(url)


@pytest.fixture
def empty_database_url(
    request: pytest.FixtureRequest, database_factory: DatabaseFactory
) -> Iterator[str]:
    """A brand-new database with no table at all, dropped after the test."""
    yield from _database_of(request, database_factory)


@pytest.fixture
def e2e_database_url(
    request: pytest.FixtureRequest, database_factory: DatabaseFactory
) -> Iterator[str]:
    """The same, on the one backend this test's turn gave it."""
    yield from _database_of(request, database_factory)


@pytest.fixture(scope="module")
def e2e_module_database_url(
    request: pytest.FixtureRequest, database_factory: DatabaseFactory
) -> Iterator[str]:
    """The same, for a module's tests together, on the one backend the module's turn gave."""
    yield from _database_of(request, database_factory)


@pytest.fixture
def api(tmp_path: Path, empty_database_url: str) -> Iterator[InProcessControlPlane]:
    """The control plane in this process, every installed type on a new database."""
    with in_process(empty_database_url, tmp_path / "home") as plane:
        yield plane


@pytest.fixture
def control_plane(tmp_path: Path, e2e_database_url: str) -> Iterator[ControlPlane]:
    """A real ``metapaas server`` (on one backend: see ``e2e_database_url``) that leaves no
    node behind."""
    plane = ControlPlane(tmp_path / "home", e2e_database_url)
    plane.start()
    yield plane
    try:
        if plane.process is None or plane.process.poll() is not None:
            plane.start()  # a test that killed it still gets its nodes cleaned up
        plane.delete_all_instances(CLEANUP_SECONDS)
    finally:
        plane.stop()
        plane.kill_leftover_agents()  # what a failed cleanup left: no process outlives a test
