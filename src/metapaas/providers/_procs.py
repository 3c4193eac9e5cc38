"""Process facts from ``/proc``, and stopping a node's process tree.

A node's agent leads its own session and process group. The provider records
its pid with its start time (field 22 of ``/proc/<pid>/stat``), so a pid the
kernel has since handed to another process is never taken for the node and
never signalled. Zombies count as dead: this machine's init may not reap them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DEAD_STATES = frozenset({"Z", "X", "x"})
POLL_INTERVAL = 0.05
KILL_WAIT = 5.0


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` the provider needs."""

    pid: int
    state: str
    ppid: int
    pgrp: int
    start_time: int

    @property
    def alive(self) -> bool:
        return self.state not in DEAD_STATES


def stat(pid: int) -> ProcStat | None:
    """The process's stat, or ``None`` when no process has that pid."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and ")"; the rest follows the last ")".
    fields = text[text.rindex(")") + 2 :].split()
    return ProcStat(pid, fields[0], int(fields[1]), int(fields[2]), int(fields[19]))


def alive(pid: int, start_time: int) -> bool:
    """Whether ``pid`` is still the process that started at ``start_time`` and not a zombie."""
    found = stat(pid)
    return found is not None and found.start_time == start_time and found.alive


def stop_tree(pid: int, start_time: int, grace: float, reap: Callable[[], None]) -> None:
    """SIGTERM the group led by ``pid``, wait up to ``grace``, then SIGKILL what is left.

    The SIGKILL also reaches descendants that moved to sessions of their own,
    found while their parents still live. ``reap`` collects the leader if it
    is the caller's child, so it does not linger as a zombie.
    """
    if not _owns_group(pid, start_time):
        return
    _signal(pid, signal.SIGTERM, group=True)
    if _wait_empty(pid, grace, reap):
        return
    for member in _tree(pid):
        _signal(member, signal.SIGKILL, group=False)
    _wait_empty(pid, KILL_WAIT, reap)


def stop_strays(directory: Path, grace: float, reap: Callable[[], None]) -> None:
    """Stop every process tree working in ``directory`` or below it.

    A provider killed between starting an agent and recording its pid leaves an
    agent nobody recorded; its working directory (the node's, wherever the
    directory was moved since) still says whose it is.
    """
    strays = working_in(directory)
    for proc in strays:
        if proc.pid == proc.pgrp:  # a group's leader: its whole tree goes as a node's would
            stop_tree(proc.pid, proc.start_time, grace, reap)
    if strays:
        for proc in working_in(directory):  # whatever no group stop reached
            _signal(proc.pid, signal.SIGKILL, group=False)
        reap()


def working_in(directory: Path) -> list[ProcStat]:
    """Living processes whose working directory is ``directory`` or below it."""
    inside = str(directory.resolve())
    found = []
    for proc in _all():
        with contextlib.suppress(OSError):
            cwd = os.readlink(f"/proc/{proc.pid}/cwd").removesuffix(" (deleted)")
            if cwd == inside or cwd.startswith(inside + "/"):
                found.append(proc)
    return found


def _owns_group(pid: int, start_time: int) -> bool:
    """Whether the group ``pid`` can still be the node's.

    While any member of a group lives the kernel does not reuse its number, so
    the group is the node's unless ``pid`` now names a process started later.
    """
    found = stat(pid)
    return found is None or found.start_time == start_time


def _all() -> list[ProcStat]:
    found = (stat(int(entry)) for entry in os.listdir("/proc") if entry.isdigit())
    return [proc for proc in found if proc is not None and proc.alive]


def _tree(pgid: int) -> set[int]:
    """Living members of the group and all their living descendants."""
    procs = _all()
    tree = {proc.pid for proc in procs if proc.pgrp == pgid}
    grew = True
    while grew:
        children = {proc.pid for proc in procs if proc.ppid in tree} - tree
        tree |= children
        grew = bool(children)
    return tree


def _group_alive(pgid: int) -> bool:
    return any(proc.pgrp == pgid for proc in _all())


def _wait_empty(pgid: int, timeout: float, reap: Callable[[], None]) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        reap()
        if not _group_alive(pgid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_INTERVAL)


def _signal(pid: int, signum: signal.Signals, *, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
