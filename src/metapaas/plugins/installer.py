"""The plugin installer: a reconciler for plugins, as the orchestrator is for instances.

The API records intent on a ``plugins`` row (``request``, a rising
``request_id``) and an operation; the installer alone moves the plugin's
state. Each pass claims one plugin with a lease and takes the next step of its
request, every step idempotent and its outcome committed before the next, so a
crash anywhere is followed by the same step again:

install or upgrade (``INSTALLING``)
  1. *resolve*: pip resolves the package against the runtime's environment and
     fetches the wheels; they are stored as a wheelhouse, its address the
     ``candidate``;
  2. *check*: the candidate's environment is installed from the database and a
     probe process imports it, checks the contract and the slugs, and applies
     its migrations; then the candidate is *promoted*: it becomes the served
     version (the previous one served until here);
  3. *load*: every control-plane process sees the served set change and hands
     over to a new process generation that loads it; when all live processes
     report it, the plugin is ``ACTIVE``.

remove (``REMOVING``): wait until no live process has it loaded, drop its
tables if asked (``purge``), delete the row.

Any failure of steps 1 and 2 (pip's message, an import error, a contract
violation, a failed migration, a dependency conflict) ends in ``ERROR`` with
the message and the last good version still served.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from metapaas.db import claims, models
from metapaas.plugins import wheelhouse
from metapaas.plugins.probe import ProbeOutcome
from metapaas.plugins.registry import Registry
from metapaas.plugins.resolve import (
    PackageRequest,
    ResolveError,
    resolve,
    runtime_distributions,
)

log = logging.getLogger(__name__)

LEASE_SECONDS = 900.0
"""Longer than any step: pip may build an sdist."""
PROCESS_LIVE_SECONDS = 10.0
"""A control-plane process that has not reported for this long is gone."""
PROBE_TIMEOUT_SECONDS = 300.0
OPEN_STATES = (models.PluginState.INSTALLING, models.PluginState.REMOVING)


class InstallError(Exception):
    """A step failed for good: the plugin turns ``ERROR`` with this message."""


class Installer:
    """Claims plugins with an open request and takes their next step."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        readers: sessionmaker[Session],
        registry: Registry,
        home: Path,
        database_url: str,
        *,
        clock: Callable[[], datetime] = models.utcnow,
        poll_seconds: float = 1.0,
        wakeup: threading.Event | None = None,
        installer_id: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.readers = readers
        self.registry = registry
        self.home = home
        self.database_url = database_url
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.wakeup = wakeup or threading.Event()
        self.installer_id = installer_id or claims.holder_id()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the loop ---------------------------------------------------------------------

    def start(self) -> None:
        self.recover()
        self._thread = threading.Thread(target=self._run, name="plugin-installer", daemon=True)
        self._thread.start()

    def recover(self) -> int:
        """Free the claims of installers on this host that died (a crash, a SIGKILL), so
        their plugins go on now rather than when the lease runs out."""
        released = 0
        with self.sessions.begin() as session:
            held = select(models.Plugin).where(models.Plugin.claimed_by != "")
            for plugin in session.scalars(held):
                if claims.held_by_the_dead(plugin.claimed_by):
                    plugin.claimed_by, plugin.claimed_until = "", None
                    released += 1
        return released

    def stop(self) -> None:
        self._stopping.set()
        self.wakeup.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                worked = self.run_once()
            except Exception:  # a database outage: look again after the poll
                log.exception("plugin installer pass failed")
                worked = False
            if not worked:
                self.wakeup.wait(self.poll_seconds)
                self.wakeup.clear()

    def run_once(self) -> bool:
        """Take one step of one due plugin; False when none was due."""
        name = self._claim()
        if name is None:
            return False
        delay = 0.0
        try:
            delay = self._advance(name)
        except InstallError as exc:
            self._fail(name, str(exc))
        finally:
            self._release(name, delay)
        return True

    # -- claiming ---------------------------------------------------------------------

    def _due(self, now: datetime) -> tuple[ColumnElement[bool], ...]:
        return (
            or_(
                models.Plugin.request_id > models.Plugin.taken_request,
                models.Plugin.state.in_(OPEN_STATES),
            ),
            models.Plugin.due_at <= now,
            or_(models.Plugin.claimed_until.is_(None), models.Plugin.claimed_until < now),
        )

    def _claim(self) -> str | None:
        now = self.clock()
        with self.readers() as session:  # an idle look never takes the write lock
            if session.scalar(select(models.Plugin.name).where(*self._due(now)).limit(1)) is None:
                return None
        with self.sessions.begin() as session:
            stmt = (
                select(models.Plugin)
                .where(*self._due(now))
                .order_by(models.Plugin.due_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            plugin = session.scalars(stmt).first()
            if plugin is None:
                return None
            plugin.claimed_by = self.installer_id
            plugin.claimed_until = now + timedelta(seconds=LEASE_SECONDS)
            return plugin.name

    def _release(self, name: str, delay: float) -> None:
        with self.sessions.begin() as session:
            plugin = session.get(models.Plugin, name)
            if plugin is not None:
                plugin.claimed_by, plugin.claimed_until = "", None
                plugin.due_at = self.clock() + timedelta(seconds=delay)

    # -- steps ------------------------------------------------------------------------

    def _advance(self, name: str) -> float:
        """Take the next step; returns the seconds after which to look again."""
        with self.sessions.begin() as session:
            plugin = session.get(models.Plugin, name)
            if plugin is None:
                return 0.0
            if plugin.request_id > plugin.taken_request:
                self._take(session, plugin)
            state, candidate = plugin.state, plugin.candidate
            resolved = plugin.promoted_request == plugin.taken_request
            request = dict(plugin.request)
        if state == models.PluginState.REMOVING:
            return self._remove(name, purge=bool(request.get("purge")))
        if state != models.PluginState.INSTALLING:
            return 0.0
        if candidate:
            self._check(name, candidate)
            return 0.0
        if not resolved:
            self._resolve(name, PackageRequest.of(request))
            return 0.0
        return self._await_load(name)

    def _take(self, session: Session, plugin: models.Plugin) -> None:
        removing = bool(plugin.request.get("remove"))
        plugin.taken_request = plugin.request_id
        plugin.state = models.PluginState.REMOVING if removing else models.PluginState.INSTALLING
        plugin.candidate = ""
        plugin.error = ""
        plugin.progress = "unloading" if removing else f"resolving {plugin.request['package']}"
        self._operation(session, name=plugin.name, state=models.OperationState.RUNNING)

    def _resolve(self, name: str, request: PackageRequest) -> None:
        runtime = runtime_distributions(self.home / "plugins")
        with tempfile.TemporaryDirectory(prefix="metapaas-resolve-") as scratch:
            try:
                found = resolve(request, Path(scratch), runtime)
            except ResolveError as exc:
                raise InstallError(str(exc)) from exc
            if found.name != name:
                raise InstallError(
                    f"{request.package} is the distribution {found.name}, not {name}"
                )
            with self.sessions.begin() as session:
                self._refuse_conflicts(session, name, found.wheels)
                hash_ = wheelhouse.store(session, found.name, found.version, found.wheels)
                self._update(
                    session, name, candidate=hash_, progress=f"checking {name} {found.version}"
                )

    def _refuse_conflicts(self, session: Session, name: str, wheels: list[Path]) -> None:
        """Two plugins' own dependencies share one ``sys.path``: their versions must agree."""
        mine = wheelhouse.names_and_versions(w.name for w in wheels)
        others = select(models.Plugin).where(
            models.Plugin.name != name, models.Plugin.wheelhouse != ""
        )
        for other in session.scalars(others):
            theirs = wheelhouse.distributions(session, other.wheelhouse)
            clash = sorted(
                f"{dist} {mine[dist]} (it has {theirs[dist]})"
                for dist in mine.keys() & theirs.keys()
                if mine[dist] != theirs[dist]
            )
            if clash:
                raise InstallError(
                    f"dependency conflict with plugin {other.name}: needs " + ", ".join(clash)
                )

    def _check(self, name: str, candidate: str) -> None:
        with self.readers() as session:
            site = wheelhouse.materialize(session, self.home, candidate)
            taken = self._taken_slugs(session, name)
            version = session.get(models.Wheelhouse, candidate)
        outcome = self.probe(site, name, taken, "--migrate")
        if outcome.error:
            raise InstallError(outcome.error)
        with self.sessions.begin() as session:
            plugin = _held(session, name)
            if version is None:
                raise InstallError(f"the wheelhouse {candidate} is no longer recorded")
            plugin.version = version.version
            plugin.sha256 = next(
                f["sha256"]
                for f in version.files
                if wheelhouse.names_and_versions([f["filename"]]).keys() == {name}
            )
            plugin.wheelhouse = candidate
            plugin.types = outcome.types
            plugin.candidate = ""
            plugin.promoted_request = plugin.taken_request
            plugin.progress = f"loading {name} {version.version} into the control-plane processes"
            self._operation(session, name=name, progress=plugin.progress)

    def _taken_slugs(self, session: Session, name: str) -> dict[str, str]:
        """Slugs other plugins provide: the bundled ones and those installed at run time."""
        taken = {
            t.slug: t.found.distribution
            for t in self.registry
            if wheelhouse.canonical(t.found.distribution) != name
        }
        others = select(models.Plugin).where(models.Plugin.name != name)
        for other in session.scalars(others):
            taken.update(dict.fromkeys(other.types, other.name))
        return taken

    def probe(self, site: Path, name: str, taken: dict[str, str], *flags: str) -> ProbeOutcome:
        """Run :mod:`metapaas.plugins.probe` on ``site`` in a process of its own."""
        argv = [sys.executable, "-m", "metapaas.plugins.probe", "--site", str(site)]
        argv += ["--distribution", name, "--database-url", self.database_url, *flags]
        argv += [f"--taken={slug}={owner}" for slug, owner in sorted(taken.items())]
        completed = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_SECONDS,
            env=wheelhouse.clean_env(),
            check=False,
        )
        lines = completed.stdout.strip().splitlines()
        if completed.returncode != 0 or not lines:
            raise InstallError(f"loading {name} failed: {wheelhouse.last_lines(completed.stderr)}")
        return ProbeOutcome.model_validate_json(lines[-1])

    def _await_load(self, name: str) -> float:
        with self.sessions.begin() as session:
            plugin = _held(session, name)
            live = self.live_processes(session)
            failed = [p for p in live if p.load_error]
            if failed:
                raise InstallError(
                    f"{failed[0].hostname} pid {failed[0].pid} could not load the plugins: "
                    f"{failed[0].load_error}"
                )
            lagging = [p for p in live if plugin.wheelhouse not in p.wheelhouses]
            if lagging:
                progress = (
                    f"loaded by {len(live) - len(lagging)} of {len(live)} control-plane "
                    f"processes; waiting for {_names(lagging)}"
                )
                self._update(session, name, progress=progress)
                return 0.5
            plugin.state = models.PluginState.ACTIVE
            plugin.progress = f"loaded by {len(live)} control-plane processes"
            self._operation(
                session, name=name, state=models.OperationState.SUCCEEDED, progress=plugin.progress
            )
            return 0.0

    def _remove(self, name: str, *, purge: bool) -> float:
        with self.sessions.begin() as session:
            plugin = _held(session, name)
            served = plugin.wheelhouse
            created = live_instances(session, plugin.types)
            if created:  # since the request was accepted
                raise InstallError(
                    f"instances of its types were created meanwhile ({created}): delete them first"
                )
            holding = [p for p in self.live_processes(session) if served in p.wheelhouses]
            if holding:
                self._update(
                    session, name, progress=f"unloading: still loaded by {_names(holding)}"
                )
                return 0.5
        if purge and served:
            with self.readers() as session:
                site = wheelhouse.materialize(session, self.home, served)
            outcome = self.probe(site, name, {}, "--purge")
            if outcome.error:
                raise InstallError(f"purging its tables failed: {outcome.error}")
        with self.sessions.begin() as session:
            self._operation(
                session,
                name=name,
                state=models.OperationState.SUCCEEDED,
                progress="removed" + (" with its tables" if purge else "; its tables are kept"),
            )
            removed = session.get(models.Plugin, name)
            if removed is not None:
                session.delete(removed)
        return 0.0

    def live_processes(self, session: Session) -> list[models.ControlPlaneProcess]:
        since = self.clock() - timedelta(seconds=PROCESS_LIVE_SECONDS)
        stmt = select(models.ControlPlaneProcess).where(models.ControlPlaneProcess.seen_at >= since)
        return list(session.scalars(stmt))

    # -- recording --------------------------------------------------------------------

    def _fail(self, name: str, message: str) -> None:
        log.warning("plugin %s: %s", name, message)
        with self.sessions.begin() as session:
            plugin = session.get(models.Plugin, name)
            if plugin is None:
                return
            plugin.state = models.PluginState.ERROR
            plugin.error = message
            plugin.candidate = ""
            plugin.progress = ""
            self._operation(session, name=name, state=models.OperationState.FAILED, error=message)

    def _update(
        self, session: Session, name: str, *, candidate: str | None = None, progress: str
    ) -> None:
        plugin = _held(session, name)
        if candidate is not None:
            plugin.candidate = candidate
        plugin.progress = progress
        self._operation(session, name=name, progress=progress)

    @staticmethod
    def _operation(
        session: Session,
        *,
        name: str,
        state: models.OperationState | None = None,
        progress: str | None = None,
        error: str = "",
    ) -> None:
        """Move the plugin's open operation along."""
        stmt = (
            select(models.Operation)
            .where(
                models.Operation.plugin_name == name,
                models.Operation.state.in_(models.OPEN_OPERATIONS),
            )
            .order_by(models.Operation.created_at.desc())
            .limit(1)
        )
        op = session.scalars(stmt).first()
        if op is None:
            return
        if state is not None:
            op.state = state
        if progress is not None:
            op.progress = progress
        if error:
            op.error = error


def _names(processes: list[models.ControlPlaneProcess]) -> str:
    return ", ".join(f"{p.role} {p.hostname}:{p.pid}" for p in processes)


def live_instances(session: Session, slugs: list[str]) -> int:
    """Instances of these types not yet deleted: while any is left, the plugin stays."""
    stmt = select(func.count()).where(
        models.Instance.type_slug.in_(slugs), models.Instance.deleted_at.is_(None)
    )
    return int(session.scalar(stmt) or 0)


def _held(session: Session, name: str) -> models.Plugin:
    """The row of the plugin this installer holds the claim of (only an installer removes
    it, so a row gone is an error to report, not a state to act on)."""
    plugin = session.get(models.Plugin, name)
    if plugin is None:
        raise InstallError(f"plugin {name} is no longer recorded")
    return plugin
