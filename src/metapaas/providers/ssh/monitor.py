"""The host monitor: the one owner of a host's state.

Every ``interval`` seconds, and at once when woken (a host was registered),
it checks each host over SSH with its pinned key and records what it found:

- ``READY``: the session works and the host can run nodes (a Python of the
  control plane's minor version and machine type, for the runtime bundle's
  compiled modules; ``useradd``, ``userdel`` and ``setpriv``); its facts say,
  per type, whether it has the Debian packages the type needs (installing
  them first where the host's policy allows it, :mod:`.packages`);
- ``UNSUITABLE`` with the reason when it cannot;
- ``UNREACHABLE`` with the reason when no session opens (down, refused, a host
  key other than the pinned one).

A host that turns ``READY`` (a new one, or one that is back) is swept: what it
holds that no row places there — nodes replaced elsewhere while it was away,
their volumes — is removed, as the local provider's garbage collection does
by label. A ready host is swept again every ``SWEEP_EVERY`` checks.
"""

from __future__ import annotations

import json
import logging
import platform
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from metapaas.db import Sealer, models
from metapaas.providers.base import MANAGED
from metapaas.providers.hostside import Request
from metapaas.providers.ssh import packages
from metapaas.providers.ssh.provider import HostSide, target_of
from metapaas.providers.ssh.remote import Completed, SshFailure, Target

log = logging.getLogger(__name__)

H = models.HostState
INTERVAL_SECONDS = 10.0
SWEEP_EVERY = 6
NEEDED_TOOLS = ("useradd", "userdel", "setpriv")

FACTS_SCRIPT = """
import json, os, platform, shutil, sys
memory = 0
with open("/proc/meminfo") as meminfo:
    for line in meminfo:
        if line.startswith("MemTotal:"):
            memory = int(line.split()[1]) // 1024
print(json.dumps({
    "python": sys.executable,
    "python_version": ".".join(map(str, sys.version_info[:3])),
    "machine": platform.machine(),
    "memory_mb": memory,
    "systemd": os.path.isdir("/run/systemd/system"),
    "missing": [t for t in %r if shutil.which(t) is None],
}))
""" % (NEEDED_TOOLS,)  # noqa: UP031 (the script's own braces stay literal)


@dataclass(frozen=True)
class Finding:
    state: str
    reason: str = ""
    facts: dict[str, Any] = field(default_factory=dict)


def suitability(facts: dict[str, Any]) -> str:
    """Why a host with these facts cannot run nodes, or "" when it can."""
    wanted = "{}.{}".format(*sys.version_info[:2])
    found = str(facts.get("python_version", ""))
    if found.rsplit(".", 1)[0] != wanted:
        return (
            f"its python3 is {found or 'unknown'}: nodes run the control plane's runtime, "
            f"built for Python {wanted}"
        )
    if facts.get("machine") != platform.machine():
        return f"its machine is {facts.get('machine')}, the runtime's is {platform.machine()}"
    if facts.get("missing"):
        return "missing: " + ", ".join(facts["missing"]) + " (passwd, util-linux)"
    return ""


class HostMonitor:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        sealer: Sealer,
        host_side: HostSide,
        *,
        interval: float = INTERVAL_SECONDS,
        wakeup: threading.Event | None = None,
        packages: Mapping[str, Sequence[str]] | None = None,
        clock: Callable[[], datetime] = models.utcnow,
    ) -> None:
        self._sessions = sessions
        self._packages = dict(packages or {})  # type slug -> the Debian packages it needs
        self._sealer = sealer
        self._host_side = host_side
        self._interval = interval
        self._clock = clock
        self._checks: dict[str, int] = {}
        self.wakeup = wakeup or threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="host-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def check_all(self) -> None:
        with self._sessions() as session:
            names = list(session.scalars(select(models.Host.name).order_by(models.Host.name)))
        for name in names:
            if self._stopping.is_set():
                return
            try:
                self.check(name)
            except Exception:  # one host's trouble must not stop the others' checks
                log.exception("checking host %s", name)

    def check(self, name: str) -> Finding | None:
        """Check host ``name`` now, record the finding, and sweep it when it turned ready."""
        with self._sessions() as session:
            host = session.get(models.Host, name)
            if host is None:
                return None
            before, target = host.state, target_of(host, self._sealer)
            may_install = host.install_packages
        finding = self._inspect(target, may_install)
        if finding.state == H.READY and before != H.READY:
            self._host_side.software.forget(name)  # it may have been rebuilt meanwhile
        count = self._checks[name] = self._checks.get(name, 0) + 1
        if finding.state == H.READY and (before != H.READY or count % SWEEP_EVERY == 0):
            self._sweep(target, finding)
        self._record(name, finding)
        return finding

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.check_all()
            except Exception:  # the database may be away: try again next interval
                log.exception("checking hosts")
            self.wakeup.wait(self._interval)
            self.wakeup.clear()

    def _inspect(self, target: Target, may_install: bool) -> Finding:
        remotes = self._host_side.remotes
        try:
            done = remotes.run(target, ["python3", "-I", "-c", FACTS_SCRIPT], timeout=20)
        except SshFailure as exc:  # a refused host key too: the reason names it
            return Finding(H.UNREACHABLE, str(exc))
        if done.exit_status == 127:
            return Finding(H.UNSUITABLE, "python3 is not installed")
        if done.exit_status != 0:
            error = done.stderr.decode(errors="replace").strip()[-300:]
            return Finding(H.UNSUITABLE, f"the check failed: {error}")
        facts: dict[str, Any] = json.loads(done.stdout)
        reason = suitability(facts)
        if reason:
            return Finding(H.UNSUITABLE, reason, facts)

        def run(argv: Sequence[str], timeout: float) -> Completed:
            return remotes.run(target, argv, timeout=timeout)

        try:
            facts["types"] = packages.type_findings(run, self._packages, may_install=may_install)
        except SshFailure as exc:
            return Finding(H.UNREACHABLE, str(exc))
        return Finding(H.READY, "", facts)

    def _sweep(self, target: Target, finding: Finding) -> None:
        """Remove from the host the nodes and volumes no row places there."""
        python = str(finding.facts["python"])
        address = target.address

        def ask(request: Request) -> Any:
            return self._host_side.call(target, python, request)

        nodes = ask(Request(op="list_nodes", address=address, labels={MANAGED: "true"}))
        volumes = ask(Request(op="list_volumes", address=address, labels={MANAGED: "true"}))
        with self._sessions() as session:
            placed = set(
                session.scalars(
                    select(models.HostNode.node_name).where(
                        models.HostNode.host_name == target.name
                    )
                )
            )
            kept = set(
                session.scalars(
                    select(models.HostVolume.node_name).where(
                        models.HostVolume.host_name == target.name
                    )
                )
            )
        for node in nodes:
            if node["name"] not in placed:
                log.info("host %s: removing node %s, placed elsewhere", target.name, node["name"])
                ask(Request(op="delete_node", address=address, name=node["name"]))
        for volume in volumes:
            if volume["name"] not in kept:
                log.info("host %s: removing the stale volume of %s", target.name, volume["name"])
                ask(Request(op="delete_volume", address=address, name=volume["name"]))

    def _record(self, name: str, finding: Finding) -> None:
        with self._sessions.begin() as session:
            host = session.get(models.Host, name, with_for_update=True)
            if host is None:
                return
            if host.state != finding.state:
                log.info("host %s: %s -> %s %s", name, host.state, finding.state, finding.reason)
            host.state = finding.state
            host.state_reason = finding.reason
            if finding.facts:
                host.facts = finding.facts
            host.checked_at = self._clock()
