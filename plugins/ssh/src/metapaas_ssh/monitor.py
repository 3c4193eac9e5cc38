"""The host monitor: the one owner of a host's state.

Every ``interval`` seconds, and at once when woken (a host was registered),
it checks each host over SSH with its pinned key and records what it found:

- ``READY``: the session works and the host can run nodes (a Python of the
  control plane's minor version and machine type, for the runtime bundle's
  compiled modules, that a node's own user may run; ``useradd``, ``userdel``
  and ``setpriv``; the runtime sent and unpacked); its facts say, per type,
  whether it has the Debian packages the type needs (installing them first
  where the host's policy allows it, :mod:`.packages`);
- ``UNSUITABLE`` with the reason when it cannot: what will not heal by itself
  is the host's reason, never a node's endless retry;
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

from metapaas.db import columns
from metapaas.providers import MANAGED, ProviderContext, Sealing
from metapaas.sdk import TemporaryError
from metapaas_ssh import packages
from metapaas_ssh.hostside import Request
from metapaas_ssh.provider import HostSide, SshProvider, target_of
from metapaas_ssh.remote import Completed, SshFailure, Target
from metapaas_ssh.tables import Host, HostNode, HostState, HostVolume

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 10.0
SWEEP_EVERY = 6
STOP_SECONDS = 30.0
NEEDED_TOOLS = ("useradd", "userdel", "setpriv")
NODE_USER = 65534
"""The uid and gid the interpreter is tried as: a node's user is as unprivileged (``nobody``)."""

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
    "missing": [tool for tool in sys.argv[1:] if shutil.which(tool) is None],
}))
"""
"""Run as ``python3 -I -c FACTS_SCRIPT <tool>...``: what the check records of a host."""

AS_A_NODE_SCRIPT = f"""
import subprocess, sys
try:
    subprocess.run([sys.executable, "-I", "-c", "pass"], user={NODE_USER}, group={NODE_USER},
                   extra_groups=[], check=True, timeout=20)
except (OSError, subprocess.SubprocessError) as exc:
    sys.exit(str(exc))
"""
"""Run by the interpreter the check found, as root: it starts itself as a node's agent is
started (the local provider's ``Popen`` as the node's user), and fails as that would."""


@dataclass(frozen=True)
class Finding:
    state: HostState
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
    """Checks every host of the pool (see the module docstring); a provider's background work."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        sealer: Sealing,
        host_side: HostSide,
        *,
        interval: float = INTERVAL_SECONDS,
        packages: Callable[[], Mapping[str, Sequence[str]]] = dict,
        clock: Callable[[], datetime] = columns.utcnow,
    ) -> None:
        self._sessions = sessions
        self._packages = packages  # type slug -> the Debian packages its nodes need
        self._sealer = sealer
        self._host_side = host_side
        self._interval = interval
        self._clock = clock
        self._checks: dict[str, int] = {}
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def of(cls, context: ProviderContext[Any], provider: SshProvider) -> HostMonitor:
        """The monitor of the provider's pool, sharing its connections."""
        return cls(
            context.sessions,
            context.sealer,
            provider.host_side,
            interval=context.settings.host_check_seconds,
            packages=context.type_packages,
        )

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="host-monitor", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wakeup.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout=STOP_SECONDS)

    def check_all(self) -> None:
        with self._sessions() as session:
            names = list(session.scalars(select(Host.name).order_by(Host.name)))
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
            host = session.get(Host, name)
            if host is None:
                return None
            before, target = host.state, target_of(host, self._sealer)
            may_install = host.install_packages
        finding = self._inspect(target, may_install)
        if finding.state == HostState.READY and before != HostState.READY:
            self._host_side.software.forget(name)  # it may have been rebuilt meanwhile
        count = self._checks[name] = self._checks.get(name, 0) + 1
        if finding.state == HostState.READY and (
            before != HostState.READY or count % SWEEP_EVERY == 0
        ):
            finding = self._swept(target, finding)
        self._record(name, finding)
        return finding

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.check_all()
            except Exception:  # the database may be away: try again next interval
                log.exception("checking hosts")
            self._wakeup.wait(self._interval)
            self._wakeup.clear()

    def _inspect(self, target: Target, may_install: bool) -> Finding:
        def run(argv: Sequence[str], timeout: float) -> Completed:
            return self._host_side.remotes.run(target, argv, timeout=timeout)

        try:
            done = run(["python3", "-I", "-c", FACTS_SCRIPT, *NEEDED_TOOLS], 20)
            if done.exit_status == 127:
                return Finding(HostState.UNSUITABLE, "python3 is not installed")
            if done.exit_status != 0:
                error = done.stderr.decode(errors="replace").strip()[-300:]
                return Finding(HostState.UNSUITABLE, f"the check failed: {error}")
            facts: dict[str, Any] = json.loads(done.stdout)
            reason = suitability(facts) or _runnable_by_nodes(run, str(facts["python"]))
            if reason:
                return Finding(HostState.UNSUITABLE, reason, facts)
            wanted = self._packages()
            facts["types"] = packages.type_findings(run, wanted, may_install=may_install)
        except SshFailure as exc:  # a refused host key too: the reason names it
            return Finding(HostState.UNREACHABLE, str(exc))
        return Finding(HostState.READY, "", facts)

    def _swept(self, target: Target, finding: Finding) -> Finding:
        """The finding once the host holds the runtime and nothing no row places there.

        A host that cannot take the runtime is UNSUITABLE, saying why; a sweep that
        fails is tried again at the next one, the host keeping what the check found.
        """
        python = str(finding.facts["python"])
        try:
            self._host_side.software.runtime(target, python)
        except TemporaryError as exc:
            reason = f"it cannot take the runtime: {exc}"
            return Finding(HostState.UNSUITABLE, reason, finding.facts)
        try:
            self._sweep(target, python)
        except TemporaryError:
            log.exception("sweeping host %s", target.name)
        return finding

    def _sweep(self, target: Target, python: str) -> None:
        """Remove from the host the nodes and volumes no row places there."""
        address = target.address

        def ask(request: Request) -> Any:
            return self._host_side.call(target, python, request)

        nodes = ask(Request(op="list_nodes", address=address, labels={MANAGED: "true"}))
        volumes = ask(Request(op="list_volumes", address=address, labels={MANAGED: "true"}))
        placed, kept = self._placed(target.name)
        for node in nodes:
            if node["name"] not in placed:
                log.info("host %s: removing node %s, placed elsewhere", target.name, node["name"])
                ask(Request(op="delete_node", address=address, name=node["name"]))
        for volume in volumes:
            if volume["name"] not in kept:
                log.info("host %s: removing the stale volume of %s", target.name, volume["name"])
                ask(Request(op="delete_volume", address=address, name=volume["name"]))

    def _placed(self, host: str) -> tuple[set[str], set[str]]:
        """The nodes and the volumes the rows place on ``host``."""
        with self._sessions() as session:
            nodes = select(HostNode.node_name).where(HostNode.host_name == host)
            volumes = select(HostVolume.node_name).where(HostVolume.host_name == host)
            return set(session.scalars(nodes)), set(session.scalars(volumes))

    def _record(self, name: str, finding: Finding) -> None:
        with self._sessions.begin() as session:
            host = session.get(Host, name, with_for_update=True)
            if host is None:
                return
            if host.state != finding.state:
                log.info("host %s: %s -> %s %s", name, host.state, finding.state, finding.reason)
            host.state = finding.state
            host.state_reason = finding.reason
            if finding.facts:
                host.facts = finding.facts
            host.checked_at = self._clock()


def _runnable_by_nodes(run: Callable[[Sequence[str], float], Completed], python: str) -> str:
    """Why a node's user cannot run the interpreter the check found, or "" when it can.

    The check runs as the login (root); nodes run as users of their own, which
    an interpreter under a private directory (a pyenv in ``/root``) refuses.
    """
    done = run([python, "-I", "-c", AS_A_NODE_SCRIPT], 30)
    if done.exit_status == 0:
        return ""
    error = done.stderr.decode(errors="replace").strip()[-300:] or f"exit {done.exit_status}"
    return f"its python3 {python} cannot be run by a node's user: {error}"
