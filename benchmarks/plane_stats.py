"""What the benchmarks measure of a control plane's processes: their CPU time and memory
from ``/proc``, the samples of its ``/metrics``, and py-spy profiles of its Python work."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from metapaas.testing import ControlPlane


def metrics(text: str) -> dict[str, float]:
    """Prometheus text, unlabelled samples only."""
    found = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if line and not line.startswith("#") and "{" not in name:
            found[name] = float(value)
    return found


def metric_total(text: str, name: str) -> float:
    """The sum of every sample of ``name`` in Prometheus text, whatever its labels."""
    total = 0.0
    for line in text.splitlines():
        sample, _, value = line.rpartition(" ")
        if sample == name or sample.startswith(name + "{"):
            total += float(value)
    return total


# -- measuring processes --------------------------------------------------------------


def _group_stats(pgid: int) -> Iterable[tuple[int, list[str]]]:
    """The pid and ``/proc/<pid>/stat`` fields (after the command name) of every live
    process in the process group ``pgid``: a control plane's supervisor and its
    generations."""
    for entry in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                yield int(entry), fields


def group_cpu_seconds(pgid: int) -> float:
    """User and system CPU time so far of the live processes of a group."""
    ticks = sum(int(f[11]) + int(f[12]) for _, f in _group_stats(pgid))
    return ticks / os.sysconf("SC_CLK_TCK")


def group_rss_bytes(pgid: int) -> int:
    """Resident memory of the live processes of a group."""
    return sum(int(f[21]) for _, f in _group_stats(pgid)) * os.sysconf("SC_PAGE_SIZE")


def generation_pids(plane: ControlPlane) -> list[int]:
    """The control plane's serving processes: its group without the supervisor."""
    if plane.process is None:
        raise RuntimeError("the control plane is not running")
    supervisor = plane.process.pid
    return [pid for pid, _ in _group_stats(supervisor) if pid != supervisor]


SPY = (str(Path(sys.executable).with_name("py-spy")), "record", "--gil", "--nonblocking")


class Profile:
    """py-spy on processes while a stretch runs: only samples holding the GIL (the
    process's Python work; the rest is waiting for a core, the database or a request),
    as collapsed stacks in ``<out>-<pid>.txt``. :meth:`summary` is the share of samples
    in which each of the busiest MetaPaaS functions is on the stack."""

    def __init__(self, out: Path, pids: list[int], rate: int = 50) -> None:
        self.files = [out.with_name(f"{out.name}-{pid}.txt") for pid in pids]
        self.spies = [
            subprocess.Popen(
                [*SPY, "-r", str(rate), "-f", "raw", "-o", str(file), "-p", str(pid)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for pid, file in zip(pids, self.files, strict=True)
        ]

    def stop(self) -> None:
        for spy in self.spies:
            spy.send_signal(signal.SIGINT)  # py-spy writes what it has, then exits
        for spy in self.spies:
            try:
                spy.wait(30)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait(5)

    def summary(self, top: int = 25) -> list[str]:
        samples, inclusive = 0, Counter[str]()
        for file in self.files:
            if not file.exists():
                continue
            for line in file.read_text().splitlines():
                stack, _, count = line.rpartition(" ")
                samples += int(count)
                frames = {_frame(f) for f in stack.split(";") if "metapaas" in f}
                for frame in frames:
                    inclusive[frame] += int(count)
        return [f"{samples} samples holding the GIL"] + [
            f"{share / max(1, samples):6.1%}  {frame}"
            for frame, share in inclusive.most_common(top)
        ]


def _frame(frame: str) -> str:
    """``function (path/to/metapaas/module.py:line)`` without the line and the path's
    head: the same function at another line is one entry."""
    function, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0]
    return f"{function} ({path[path.rfind('metapaas') :]})"
