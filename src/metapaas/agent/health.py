"""Decide whether a node serves: run its health checks on their intervals.

A check turns ``unhealthy`` after ``failure_threshold`` failures in a row and
``healthy`` after one success; before its first result it is ``unknown``.
The node is as healthy as its worst check. Time comes from an injected clock.

Until a check first passes it runs every ``STARTUP_PROBE_SECONDS`` (at most
its interval), so a node is healthy as soon as its service answers rather than
an interval later; its failures still count once per interval, so a slow start
is not taken for an unhealthy service sooner than before.
"""

from __future__ import annotations

import functools
import os
import socket
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from metapaas.agent import process
from metapaas.agent.render import render_argv, render_text
from metapaas.sdk import HealthCheck, PermanentError

Health = Literal["unknown", "healthy", "unhealthy"]
Probe = Callable[[], bool]
Clock = Callable[[], float]

_WORST_FIRST: tuple[Health, ...] = ("unhealthy", "unknown", "healthy")
STARTUP_PROBE_SECONDS = 0.05


@dataclass
class _Tracked:
    check: HealthCheck
    probe: Probe
    next_due: float = 0.0
    failures: int = 0
    status: Health = "unknown"
    passed_once: bool = False
    counted_at: float | None = None  # when a failure last counted toward the threshold

    def record(self, passed: bool, now: float) -> None:
        if passed:
            self.failures, self.status, self.passed_once = 0, "healthy", True
            return
        last = self.counted_at
        if not self.passed_once and last is not None and now - last < self.check.interval:
            return  # a quick startup probe: the failure counts once per interval
        self.failures += 1
        self.counted_at = now
        if self.failures >= self.check.failure_threshold:
            self.status = "unhealthy"

    @property
    def interval(self) -> float:
        if self.passed_once:
            return self.check.interval
        return min(self.check.interval, STARTUP_PROBE_SECONDS)


class HealthMonitor:
    """Runs each probe when its interval is due; ``status`` is the node's health."""

    def __init__(
        self, probes: Sequence[tuple[HealthCheck, Probe]], *, clock: Clock = time.monotonic
    ) -> None:
        self._tracked = [_Tracked(check, probe) for check, probe in probes]
        self._clock = clock

    @property
    def status(self) -> Health:
        """The worst check's status; a node that declares no check is healthy."""
        statuses = {tracked.status for tracked in self._tracked}
        return next((s for s in _WORST_FIRST if s in statuses), "healthy")

    def tick(self) -> Health:
        """Run the checks that are due and return the node's health."""
        for tracked in self._tracked:
            now = self._clock()
            if now >= tracked.next_due:
                tracked.record(tracked.probe(), now)
                tracked.next_due = now + tracked.interval
        return self.status

    def seconds_to_next_check(self) -> float | None:
        """How long until a check is due (None without checks): the agent's loop wakes then."""
        if not self._tracked:
            return None
        return max(0.0, min(t.next_due for t in self._tracked) - self._clock())


def monitor_for(
    checks: Sequence[HealthCheck],
    node_dir: Path,
    context: Mapping[str, Any],
    *,
    clock: Clock = time.monotonic,
) -> HealthMonitor:
    """A monitor of the plugin's checks, their targets rendered from the metadata."""
    return HealthMonitor([(c, probe_for(c, node_dir, context)) for c in checks], clock=clock)


def probe_for(check: HealthCheck, node_dir: Path, context: Mapping[str, Any]) -> Probe:
    """The callable that runs one check once and says whether it passed."""
    where = f"{check.kind} health check"
    if check.kind == "tcp":
        host, port = _host_port(render_text(check.target, context, where=where))
        return functools.partial(tcp_probe, host, port, check.timeout)
    if check.kind == "http":
        url = render_text(check.target, context, where=where)
        authority = render_text(check.authority, context, where=where) if check.authority else None
        return functools.partial(http_probe, url, check.timeout, authority)
    argv = render_argv(check.argv, context, where=where)
    return functools.partial(command_probe, argv, node_dir, check.timeout)


def tcp_probe(host: str, port: int, timeout: float) -> bool:
    """Passes when a TCP connection to ``host:port`` opens within ``timeout``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_probe(url: str, timeout: float, authority: str | None = None) -> bool:
    """Passes on a 2xx answer to ``GET url`` within ``timeout``; proxies are ignored. An
    ``https`` server must present a certificate that ``authority`` (a CA file) signed, or
    one the system trusts when it is None."""
    try:
        client = _http_client() if authority is None else _verifying_client(*_stamp(authority))
        return client.get(url, timeout=timeout).is_success
    except (httpx.HTTPError, OSError):  # OSError: the CA file missing or not a certificate
        return False


@functools.cache
def _http_client() -> httpx.Client:
    """One client for every HTTP check of the agent: making one builds a TLS context,
    about 40 ms of CPU, which a check every second would pay each time."""
    return httpx.Client(trust_env=False)


def _stamp(path: str) -> tuple[str, int, int]:
    """The file with what changes when it is replaced (the agent renames a new one over it)."""
    stat = os.stat(path)
    return path, stat.st_mtime_ns, stat.st_ino


@functools.lru_cache(maxsize=8)
def _verifying_client(path: str, mtime_ns: int, inode: int) -> httpx.Client:
    """A client trusting the CA file ``path`` alone, kept while the file is unchanged (its
    connections are reused, as ``_http_client``'s are) and made anew once it is replaced."""
    return httpx.Client(trust_env=False, verify=ssl.create_default_context(cafile=path))


def command_probe(argv: Sequence[str], node_dir: Path, timeout: float) -> bool:
    """Passes when ``argv`` exits 0 within ``timeout``."""
    return process.run(argv, cwd=node_dir, timeout=timeout).ok


def _host_port(target: str) -> tuple[str, int]:
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise PermanentError(f"tcp health check target {target!r} is not host:port")
    return host.strip("[]"), int(port)
