"""Keep a node's services running: start, reap, restart with backoff, stop.

Each service runs in its own process group (its own session), so stopping it
also stops whatever it forked. Backoff is measured with an injected clock, so
tests advance time instead of sleeping.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metapaas.agent.process import kill_group
from metapaas.agent.render import render_argv, render_env
from metapaas.sdk import Service

Clock = Callable[[], float]

FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0
STABLE_AFTER = 30.0
"""A service that ran this long before exiting restarts after ``FIRST_BACKOFF`` again."""
MAX_LOG_BYTES = 10 * 1024 * 1024
"""A service log larger than this is rotated to ``<name>.log.1`` (one generation kept)."""
LOG_CHECK_SECONDS = 10.0

log = logging.getLogger(__name__)


@dataclass
class _Supervised:
    """One service: its rendered command line and where it is in its restart cycle."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    stop_timeout: float
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    next_start: float = 0.0
    backoff: float = 0.0
    start_error: str = ""


class Supervisor:
    """The services of one node, rendered once from the metadata they start with.

    A later template change reaches a running service through the template's
    ``reload`` argv, not through a restart.
    """

    def __init__(
        self,
        services: Sequence[Service],
        node_dir: Path,
        context: Mapping[str, Any],
        *,
        clock: Clock = time.monotonic,
        max_log_bytes: int = MAX_LOG_BYTES,
    ) -> None:
        self._node_dir = node_dir
        self._clock = clock
        self._services = [_render(service, context) for service in services]
        self._max_log_bytes = max_log_bytes
        self._next_log_check = clock()

    def running(self, name: str) -> bool:
        """Whether the named service's process is alive right now."""
        return self.pid(name) is not None

    def pid(self, name: str) -> int | None:
        """The pid (and process group) of the named service while it is alive."""
        for supervised in self._services:
            process = supervised.process
            if supervised.name == name and process is not None and process.poll() is None:
                return process.pid
        return None

    def problems(self) -> list[str]:
        """Why services could not be started at all (a missing or unexecutable binary)."""
        return [s.start_error for s in self._services if s.start_error]

    def ensure_started(self) -> None:
        """Start every service that is not running and whose backoff has passed."""
        now = self._clock()
        for supervised in self._services:
            if supervised.process is None and now >= supervised.next_start:
                self._start(supervised, now)

    def tick(self) -> list[str]:
        """Reap services that exited, schedule their restart, start the due ones.

        Returns what happened, for a person ("service web exited with code 1; ...").
        """
        now = self._clock()
        happened = []
        for supervised in self._services:
            process = supervised.process
            if process is not None and process.poll() is not None:
                happened.append(_reap(supervised, process, now))
        self.ensure_started()
        if now >= self._next_log_check:
            self._next_log_check = now + LOG_CHECK_SECONDS
            self._bound_logs()
        return happened

    def _bound_logs(self) -> None:
        """Copy a log over its size bound to ``.1`` and truncate it in place.

        The service keeps its descriptor, opened for appending, so its next
        line lands at the start of the emptied file (logrotate's copytruncate);
        a line written between the copy and the truncation is lost.
        """
        for supervised in self._services:
            path = self._log_path(supervised)
            try:
                if path.stat().st_size <= self._max_log_bytes:
                    continue
                shutil.copyfile(path, path.with_name(f"{path.name}.1"))
                os.truncate(path, 0)
            except FileNotFoundError:
                continue

    def _log_path(self, supervised: _Supervised) -> Path:
        return self._node_dir / "logs" / f"{supervised.name}.log"

    def stop_all(self) -> None:
        """SIGTERM every service's group, wait ``stop_timeout``, then SIGKILL the group.

        The SIGKILL goes to the group even when the leader exited in time: a
        child that ignored SIGTERM must not outlive the node.
        """
        live = [(s, s.process) for s in self._services if s.process is not None]
        for _, process in live:
            kill_group(process.pid, signal.SIGTERM)
        signalled_at = time.monotonic()
        for supervised, process in live:
            remaining = signalled_at + supervised.stop_timeout - time.monotonic()
            try:
                process.wait(timeout=max(remaining, 0))
            except subprocess.TimeoutExpired:
                log.warning("service %s ignored SIGTERM; killing it", supervised.name)
            kill_group(process.pid)
            process.wait()
            supervised.process = None

    def _start(self, supervised: _Supervised, now: float) -> None:
        path = self._log_path(supervised)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as log_file:
            try:
                supervised.process = subprocess.Popen(
                    _dies_with_agent(supervised.argv),
                    cwd=self._node_dir,
                    env={**os.environ, **supervised.env},
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                supervised.start_error = f"service {supervised.name} cannot start: {exc}"
                _schedule_restart(supervised, now, ran=0.0)
                return
        supervised.start_error = ""
        supervised.started_at = now
        log.info("started service %s (pid %d)", supervised.name, supervised.process.pid)


def _reap(supervised: _Supervised, process: subprocess.Popen[bytes], now: float) -> str:
    kill_group(process.pid)  # what it forked goes with it
    supervised.process = None
    _schedule_restart(supervised, now, ran=now - supervised.started_at)
    message = (
        f"service {supervised.name} exited with code {process.returncode}; "
        f"restarting in {supervised.backoff:g} s"
    )
    log.warning("%s", message)
    return message


def _schedule_restart(supervised: _Supervised, now: float, *, ran: float) -> None:
    """Double the delay on every quick exit; a run of ``STABLE_AFTER`` resets it."""
    if supervised.backoff == 0.0 or ran >= STABLE_AFTER:
        supervised.backoff = FIRST_BACKOFF
    else:
        supervised.backoff = min(supervised.backoff * 2, MAX_BACKOFF)
    supervised.next_start = now + supervised.backoff


def _render(service: Service, context: Mapping[str, Any]) -> _Supervised:
    where = f"service {service.name}"
    return _Supervised(
        name=service.name,
        argv=render_argv(service.argv, context, where=where),
        env=render_env(service.env, context, where=where),
        stop_timeout=service.stop_timeout,
    )


def _dies_with_agent(argv: Sequence[str]) -> list[str]:
    """A service must not outlive a SIGKILLed agent: it would hold the node's ports.

    Each service has its own session (so stopping one spares the others), which
    takes it out of the agent's process group; the kernel's parent-death signal,
    set by util-linux ``setpriv`` where present, ties it to the agent instead.
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None or shutil.which(argv[0]) is None:
        return list(argv)  # a missing binary must still fail to start, visibly
    return [setpriv, "--pdeathsig", "KILL", "--", *argv]
