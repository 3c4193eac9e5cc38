"""The plugin installer survives a crash at every step of an install and of a removal.

A crash point follows every commit the installer makes and every probe
process it runs (the probe commits a plugin's migrations on its own). The points
are counted from a run without a crash, so a new step is covered without editing
the test; that run also keeps, at each point, what a SIGKILL there would leave (the
committed database and the home's files: :mod:`tests.snapshots`). Each crash is then
a new installer started on one of those states, and the check that it converges:
the operation succeeded, the plugin is where it was asked to be, one wheelhouse, the
tables there. An upgrade takes the install's steps (resolve, check, promote, load)
from a plugin that already serves; its end-to-end test is in ``test_lifecycle.py``:
each restart here costs a pip resolve, so the scenarios are kept to the two that differ.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from metapaas.db import CORE_STREAM, make_engine, make_sessionmaker, migrate, models
from metapaas.plugins import Registry
from metapaas.plugins.installer import Installer
from metapaas.plugins.probe import ProbeOutcome
from metapaas.testing.fixtures import DatabaseFactory
from tests import snapshots
from tests.crashing import CrashPoints
from tests.snapshots import Snapshot

NAME = "metapaas-hello"
STEPS = 20
"""More passes than any change takes (about five): a bound, not a wait."""
Request = Callable[[Session, dict[str, Path]], None]


def dead_id() -> str:
    """The claim name of a process of this host that is gone, as a crashed installer's is."""
    finished = subprocess.Popen(["true"])
    finished.wait()
    return f"{socket.gethostname()}:{finished.pid}"


class CrashingInstaller(Installer):
    """The installer with a crash point after each probe process it runs."""

    points: CrashPoints

    def probe(self, site: Path, name: str, taken: dict[str, str], *flags: str) -> ProbeOutcome:
        outcome = super().probe(site, name, taken, *flags)
        self.points.reached(f"after probe {' '.join(flags)}")
        return outcome


def install(session: Session, wheels: dict[str, Path]) -> None:
    session.add(models.Plugin(name=NAME, request={"package": str(wheels["1"])}, request_id=1))
    session.add(models.Operation(kind="plugin.install", plugin_name=NAME))


def remove(session: Session, _wheels: dict[str, Path]) -> None:
    """What the API records for a removal: the request, and an operation."""
    plugin = session.get(models.Plugin, NAME)
    assert plugin is not None
    plugin.request, plugin.request_id = {"remove": True, "purge": True}, plugin.request_id + 1
    session.add(models.Operation(kind="plugin.remove", plugin_name=NAME))


@dataclass(frozen=True)
class Scenario:
    before: tuple[Request, ...]  # requests done, without crashes, before the one under test
    request: Request
    version: str | None  # the version served at the end; None: the plugin is gone


SCENARIOS = {
    "install": Scenario((), install, "1.0.0"),
    "removal with its tables": Scenario((install,), remove, None),
}


@dataclass
class Plane:
    """A database and a home, with installers as processes would build them."""

    url: str
    home: Path

    def __post_init__(self) -> None:
        self.engine = make_engine(self.url)
        migrate.upgrade(self.engine, CORE_STREAM)
        self.readers = make_sessionmaker(self.engine, read_only=True)
        self.registry = Registry.discover()

    def installer(self, points: CrashPoints | None = None) -> Installer:
        if points is None:
            return Installer(
                make_sessionmaker(self.engine), self.readers, self.registry, self.home, self.url
            )
        sessions: sessionmaker[Session] = make_sessionmaker(self.engine)
        event.listen(sessions, "after_commit", lambda _s: points.reached("commit"))
        crashing = CrashingInstaller(
            sessions, self.readers, self.registry, self.home, self.url, installer_id=dead_id()
        )
        crashing.points = points
        return crashing

    def request(self, request: Request, wheels: dict[str, Path]) -> None:
        with make_sessionmaker(self.engine).begin() as session:
            request(session, wheels)

    def operation_ended(self) -> bool:
        with self.readers() as session:
            stmt = select(models.Operation).where(models.Operation.plugin_name == NAME)
            return all(op.state not in models.OPEN_OPERATIONS for op in session.scalars(stmt))


def settle(plane: Plane, installer: Installer) -> None:
    for _ in range(STEPS):
        if plane.operation_ended():
            return
        installer.run_once()
    raise AssertionError(f"the change did not end in {STEPS} passes")


class KeptPoints(CrashPoints):
    """Points that do not crash: at each one, ``keep`` saves what a crash would leave."""

    def __init__(self, keep: Callable[[int], None]) -> None:
        super().__init__(crash_at=None)
        self._keep = keep

    def reached(self, label: str) -> None:
        super().reached(label)
        self._keep(len(self.labels) - 1)


def run_keeping_points(
    plane: Plane, scenario: Scenario, wheels: dict[str, Path], kept: Path
) -> list[Snapshot]:
    """Prepare, request and converge without a crash, keeping the state at every point."""
    for request in scenario.before:
        plane.request(request, wheels)
        settle(plane, plane.installer())
    plane.request(scenario.request, wheels)
    states: list[Snapshot] = []

    def keep(point: int) -> None:
        states.append(snapshots.take(plane.url, plane.home, kept / str(point)))

    settle(plane, plane.installer(KeptPoints(keep)))
    check(plane, scenario)
    return states


def restart_after_crash(plane: Plane, scenario: Scenario) -> None:
    """What the next process does on the state a crash left: recover, converge, check."""
    restarted = plane.installer()
    restarted.recover()
    settle(plane, restarted)
    check(plane, scenario)


def check(plane: Plane, scenario: Scenario) -> None:
    with plane.readers() as session:
        ops = list(session.scalars(select(models.Operation).order_by(models.Operation.created_at)))
        assert [(op.state, op.error) for op in ops] == [("SUCCEEDED", "")] * len(ops)
        plugin = session.get(models.Plugin, NAME)
        tables = set(inspect(plane.engine).get_table_names())
        if scenario.version is None:
            assert plugin is None
            assert not {t for t in tables if t.startswith("hello_")}
            return
        assert plugin is not None
        assert (plugin.state, plugin.version, plugin.candidate) == (
            "ACTIVE",
            scenario.version,
            "",
        )
        assert (plugin.claimed_by, plugin.claimed_until) == ("", None)
        (house,) = session.scalars(select(models.Wheelhouse))  # one, however often it ran
        assert house.hash == plugin.wheelhouse
        assert (plane.home / "plugins" / plugin.wheelhouse).is_dir()
        assert "hello_notes" in tables
    leftovers = [p.name for p in (plane.home / "plugins").iterdir() if p.name.startswith(".")]
    assert leftovers == []


@pytest.mark.parametrize("scenario", list(SCENARIOS.values()), ids=list(SCENARIOS))
def test_a_crash_at_any_step_of_the_installer_converges(
    tmp_path: Path,
    empty_database_url: str,
    database_factory: DatabaseFactory,
    wheels: dict[str, Path],
    scenario: Scenario,
) -> None:
    plane = Plane(empty_database_url, tmp_path / "home-0")
    states = run_keeping_points(plane, scenario, wheels, tmp_path / "kept")
    assert len(states) >= 4, "a change takes a claim, a step and a release at least"
    for point, state in enumerate(states):
        home = tmp_path / f"home-{point + 1}"
        url = snapshots.restore(state, database_factory, home)
        try:
            restart_after_crash(Plane(url, home), scenario)
        finally:
            database_factory.drop(url)
