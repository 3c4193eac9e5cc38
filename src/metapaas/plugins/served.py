"""Which plugin versions this process serves, and noticing when that should change.

The *served set* is the wheelhouses of the plugins installed at run time that
have a version to serve and are not being removed. A process loads it once, at
start (:func:`activate`: each environment on ``sys.path`` before discovery), and
never changes its loaded code afterwards: when the served set changes, the
:class:`Watcher` prepares the new environments and asks for a hand-over to a
new process (see :mod:`metapaas.serving`). It also records, every few
seconds, what this process has loaded, so the installer knows when every
process serves a new version.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from metapaas.db import models
from metapaas.plugins import wheelhouse

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0
ASK_AGAIN_SECONDS = 30.0
"""A hand-over asked for but not done by then is asked for again."""


def served(session: Session) -> list[str]:
    """The served set: sorted wheelhouse addresses."""
    stmt = select(models.Plugin.wheelhouse).where(
        models.Plugin.wheelhouse != "", models.Plugin.state != models.PluginState.REMOVING
    )
    return sorted(session.scalars(stmt))


def activate(session: Session, home: Path) -> list[str]:
    """Install the served environments if missing and put them on ``sys.path``."""
    loaded = served(session)
    for hash_ in loaded:
        site = str(wheelhouse.materialize(session, home, hash_))
        if site not in sys.path:
            sys.path.append(site)
    return loaded


class Watcher:
    """Records this process's loaded set; calls ``on_change`` when the served set differs."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        readers: sessionmaker[Session],
        home: Path,
        role: str,
        loaded: list[str],
        on_change: Callable[[], None] | None = None,
        *,
        clock: Callable[[], datetime] = models.utcnow,
        interval: float = 1.0,
    ) -> None:
        self.sessions = sessions
        self.readers = readers
        self.home = home
        self.role = role
        self.loaded = sorted(loaded)
        self.on_change = on_change
        self.clock = clock
        self.interval = interval
        self.id = str(uuid.uuid4())
        self.load_error = ""
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._asked_at: float | None = None
        self._beat_at: float | None = None

    def start(self) -> None:
        self.beat()
        self._thread = threading.Thread(target=self._run, name="plugin-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop, and take this process off the record: it no longer counts as loading."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        try:
            with self.sessions.begin() as session:
                session.execute(
                    delete(models.ControlPlaneProcess).where(
                        models.ControlPlaneProcess.id == self.id
                    )
                )
        except Exception:  # the database is away: the row ages out
            log.exception("could not remove this process's record")

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.tick()
            except Exception:  # a database outage: the next tick tries again
                log.exception("plugin watcher tick failed")

    def tick(self) -> None:
        now = self.clock().timestamp()
        if self._beat_at is None or now - self._beat_at >= HEARTBEAT_SECONDS:
            self.beat()
        with self.readers() as session:
            wanted = served(session)
        if wanted == self.loaded or self.on_change is None:
            return
        if self._asked_at is not None and now - self._asked_at < ASK_AGAIN_SECONDS:
            return
        with self.readers() as session:
            for hash_ in wanted:  # ready before the new process starts: it starts faster
                wheelhouse.materialize(session, self.home, hash_)
        log.info("the served plugins changed: asking for a hand-over")
        self._asked_at = now
        self.on_change()

    def beat(self) -> None:
        """Record this process and what it has loaded."""
        self._beat_at = self.clock().timestamp()
        with self.sessions.begin() as session:
            row = session.get(models.ControlPlaneProcess, self.id)
            if row is None:
                row = models.ControlPlaneProcess(
                    id=self.id,
                    role=self.role,
                    hostname=socket.gethostname(),
                    pid=os.getpid(),
                    wheelhouses=self.loaded,
                )
                session.add(row)
            row.seen_at = self.clock()
            row.load_error = self.load_error

    def handover_failed(self, message: str) -> None:
        """The new process could not start: say so (the installer reports it) and ask later."""
        self.load_error = message
        self.beat()
