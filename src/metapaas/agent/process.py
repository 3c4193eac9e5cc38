"""Run one short-lived command: argv (no shell), its own process group, a timeout.

Checks, reloads, command health checks and lifecycle commands all run here,
so they share one way of bounding time and output. Output goes to a temporary
file rather than a pipe: a daemon a command leaves behind cannot hold the
agent waiting for end-of-file, and memory stays bounded whatever it prints.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

OUTPUT_TAIL_BYTES = 4096
_POLL_SECONDS = 0.05
"""How often ``while_waiting`` runs during a command: as often as a health check probes a
service that is starting (``health.STARTUP_PROBE_SECONDS``), so a long ``init`` does not
hold back the report that the service answers."""


@dataclass(frozen=True)
class Outcome:
    """How a command ended: ``exit_code`` is None when it timed out or never started."""

    exit_code: int | None
    output: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def run(
    argv: Sequence[str],
    *,
    cwd: Path,
    timeout: float,
    env: Mapping[str, str] | None = None,
    while_waiting: Callable[[], None] | None = None,
) -> Outcome:
    """Run ``argv`` to completion or ``timeout``, then kill its whole process group.

    ``while_waiting`` is called every ``_POLL_SECONDS`` while the command runs,
    so a long command does not stop the caller's own periodic work.
    """
    with tempfile.TemporaryFile() as output:
        try:
            process = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env={**os.environ, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            return Outcome(exit_code=None, output=f"cannot start {argv[0]}: {exc}")
        exit_code = _wait(process, timeout, while_waiting)
        kill_group(process.pid)
        if exit_code is None:
            process.wait()
            return Outcome(None, tail(output, f"\n[timed out after {timeout:g} s; killed]"))
        return Outcome(exit_code, tail(output))


def _wait(
    process: subprocess.Popen[bytes], timeout: float, while_waiting: Callable[[], None] | None
) -> int | None:
    """The exit code, or None when ``timeout`` passed first."""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            return process.wait(timeout=min(remaining, _POLL_SECONDS))
        except subprocess.TimeoutExpired:
            if while_waiting is not None:
                while_waiting()
    return process.poll()


def kill_group(pgid: int, sig: signal.Signals = signal.SIGKILL) -> None:
    """Signal a whole process group; a group already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def tail(file: IO[bytes], note: str = "") -> str:
    """The last 4 KiB of what a command printed, ``note`` included in the budget."""
    budget = OUTPUT_TAIL_BYTES - len(note.encode())
    size = file.seek(0, os.SEEK_END)
    file.seek(max(0, size - budget))
    return file.read(budget).decode("utf-8", errors="ignore") + note
