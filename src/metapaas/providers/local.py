"""The embedded default provider: each node is a process tree on this machine.

Node ``N`` lives in ``<home>/nodes/N/``:

- ``node.json``: the spec without its token (name, labels, control-plane
  URL), the allocated ports by name, the agent's pid and its start time;
- ``bootstrap.token`` (0600): read once by the agent;
- ``control-plane-ca.pem``: the CA certificate the agent verifies the control plane
  with (empty over loopback HTTP);
- ``logs/agent.log``: the agent's stdout and stderr;
- ``data``: a link to the node's volume, ``<home>/volumes/N/data``;
- whatever the agent itself keeps there (its credential, rendered config).

The volume outlives the node: deleting the node keeps ``<home>/volumes/N/``
(its labels in ``volume.json``), and the node created again under that name
finds its data where it left it. ``delete_volume`` removes it.

The agent runs in a session of its own, so it outlives the control plane
process that started it. With ``node_users`` (how the ``ssh`` provider runs
it on a host, as root) each node gets a system user of its own, owning its
node directory and volume (mode 0700), and its agent runs as that user: two
tenants' nodes on one machine cannot read each other's files.

Creating, allocating and recording happen under an exclusive ``flock`` on
``<home>/nodes/.lock``, so two control-plane processes sharing a home never
give one port twice nor start one node twice.

The network of a node is one of two (``METAPAAS_LOCAL_NETWORK``):

``loopback`` (the default)
    Every node shares the machine's ``address`` (127.0.0.1 by default) and is
    told apart by its ports alone, allocated under the lock (``_ports``).
``namespaces``
    Every node has a network namespace of its own with an address on a bridge
    of the control plane's (:mod:`.netns`), recorded in ``node.json`` and
    allocated under the same lock; its agent, and all the agent starts, run
    in it (``nsenter --net``), and each port gets its standard number (the
    type's ``sdk.Port.number``), as on a machine of its own.
    Refused where the machine cannot do it (not root, no ``ip netns``). The
    namespace and veth go with the node, under the lock, before its processes
    are stopped, so the name is free for a new node at once; namespaces no
    node owns are removed by the next create or delete.

A type sees the difference only through ``node.address`` and ``node.ports``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from metapaas.config import environment_dir
from metapaas.providers import _ports, _procs, netns
from metapaas.providers._users import NodeUsers
from metapaas.providers.base import NodeInfo, NodeSpec, VolumeInfo, check_name, matches
from metapaas.providers.contract import ProviderContext, ProviderPlugin
from metapaas.providers.netns import NamespaceNetwork
from metapaas.sdk import VOLUME_DIR, PermanentError, TemporaryError, exclusive, write_private

ADDRESS = "127.0.0.1"
NODE_FILE = "node.json"
BOOTSTRAP_FILE = "bootstrap.token"
CONTROL_PLANE_CA_FILE = "control-plane-ca.pem"  # the agent's CONTROL_PLANE_CA
LOG_FILE = Path("logs") / "agent.log"
VOLUME_FILE = "volume.json"
NAME_ENV = "METAPAAS_NODE_NAME"

AgentArgv = Callable[[str, Path], list[str]]
"""Builds the agent's argv from the control-plane URL and the node directory."""


@dataclass(frozen=True)
class _Record:
    """The content of ``node.json``; ``pid`` is ``None`` while the ports are only reserved."""

    name: str
    labels: dict[str, str]
    control_plane_url: str
    ports: dict[str, int]
    pid: int | None = None
    start_time: int | None = None
    software: str = ""  # the wheelhouse the agent runs; kept so a restart runs the same
    address: str = ""  # the node's own, in a namespace; "" when it shares the provider's

    @classmethod
    def load(cls, path: Path) -> _Record | None:
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return cls(**data)


class LocalProvider:
    """Nodes as process trees under ``home``, reached on ``address`` at allocated ports, or
    with ``network`` each in a namespace of its own at its own address and standard ports.

    ``agent_argv`` replaces ``<python> -m <agent_module> --url U --dir D``;
    tests use it to run a stand-in for the agent.
    """

    def __init__(
        self,
        home: Path,
        python: str = sys.executable,
        agent_module: str = "metapaas.agent",
        *,
        grace: float = 10.0,
        agent_argv: AgentArgv | None = None,
        address: str = ADDRESS,
        node_users: bool = False,
        network: NamespaceNetwork | None = None,
    ) -> None:
        if network is not None and node_users:
            # Popen would drop root before nsenter could enter the namespace.
            raise PermanentError("node users and network namespaces do not go together yet")
        self._nodes = home / "nodes"
        self._trash = self._nodes / ".trash"
        self._volumes = home / "volumes"
        self._python = python
        self._agent_module = agent_module
        self._grace = grace
        self._agent_argv = agent_argv or self._default_argv
        self._address = address
        self._users = NodeUsers() if node_users else None
        self._network = network
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def create_node(self, spec: NodeSpec) -> NodeInfo:
        """Start the node, or return it unchanged when its agent runs; a dead one restarts."""
        check_name(spec.name)
        with self._locked():
            record = _Record.load(self._nodes / spec.name / NODE_FILE)
            if record is not None and self._running(record):
                return self._info(record, running=True)
            return self._info(self._start(spec, record), running=True)

    def restart_node(self, spec: NodeSpec) -> NodeInfo:
        """Stop the node's agent tree and start it again with ``spec``; its directory (its
        data) and its ports stay."""
        check_name(spec.name)
        with self._locked():
            record = _Record.load(self._nodes / spec.name / NODE_FILE)
            return self._info(self._start(spec, record), running=True)

    def delete_node(self, name: str) -> None:
        """Stop the node's process tree and remove its directory; absent is a no-op.

        The directory is first moved to ``nodes/.trash`` under the lock, so the
        name is free at once and the grace period does not hold the lock; its
        ports stay reserved until the directory is gone.
        """
        check_name(name)
        with self._locked():
            node_dir = self._nodes / name
            if node_dir.exists():
                self._trash.mkdir(exist_ok=True)
                node_dir.rename(self._trash / f"{name}.{uuid.uuid4().hex}")
            self._sweep_network()
        self._empty_trash()

    def delete_volume(self, name: str) -> None:
        """Remove the node's volume (and its user), and the node first if it still exists."""
        self.delete_node(name)
        with self._locked():
            volume = self._volumes / name
            if volume.exists():
                trash = self._volumes / ".trash"
                trash.mkdir(exist_ok=True)
                volume.rename(trash / f"{name}.{uuid.uuid4().hex}")
            if self._users is not None:
                self._users.remove(name)
        shutil.rmtree(self._volumes / ".trash", ignore_errors=True)

    def list_volumes(self, labels: Mapping[str, str]) -> list[VolumeInfo]:
        found = []
        for path in self._node_dirs(self._volumes):
            with contextlib.suppress(FileNotFoundError):
                volume_labels = json.loads((path / VOLUME_FILE).read_text(encoding="utf-8"))
                if matches(volume_labels, labels):
                    found.append(VolumeInfo(path.name, volume_labels))
        return found

    def get_node(self, name: str) -> NodeInfo | None:
        check_name(name)
        record = _Record.load(self._nodes / name / NODE_FILE)
        return None if record is None else self._info(record, running=self._running(record))

    def list_nodes(self, labels: Mapping[str, str]) -> list[NodeInfo]:
        records = (_Record.load(path / NODE_FILE) for path in self._node_dirs(self._nodes))
        return [
            self._info(record, running=self._running(record))
            for record in records
            if record is not None and matches(record.labels, labels)
        ]

    def _start(self, spec: NodeSpec, previous: _Record | None) -> _Record:
        """Reserve the ports on disk, then start the agent and record its pid."""
        node_dir = self._nodes / spec.name
        # Services a dead agent left behind would hold its ports, and an agent started
        # just before a crash of this provider's process may live unrecorded.
        self._stop(previous, node_dir)
        (node_dir / LOG_FILE).parent.mkdir(parents=True, exist_ok=True)
        self._attach_volume(spec, node_dir)
        write_private(node_dir / BOOTSTRAP_FILE, spec.bootstrap_token)
        write_private(node_dir / CONTROL_PLANE_CA_FILE, spec.control_plane_ca, mode=0o644)
        if self._users is not None:
            self._users.give(spec.name, node_dir, self._volumes / spec.name)
        reserved = self._reserve(spec, previous, node_dir)
        write_private(node_dir / NODE_FILE, json.dumps(asdict(reserved), indent=2))
        if self._network is not None:
            # Recorded first: a crash from here on leaves a namespace its node's name finds.
            self._network.attach(spec.name, reserved.address)
            self._sweep_network()
        pid, start_time = self._spawn(spec, node_dir)
        started = replace(reserved, pid=pid, start_time=start_time)
        write_private(node_dir / NODE_FILE, json.dumps(asdict(started), indent=2))
        return started

    def _reserve(self, spec: NodeSpec, previous: _Record | None, node_dir: Path) -> _Record:
        """The node's record before its agent runs: its address and ports, the ones it had
        if it had any."""
        others = self._records(excluding=node_dir)
        if self._network is None:
            # Ports a node had in a namespace are standard ones, which loopback never gives.
            have = {} if previous is None or previous.address else previous.ports
            taken = [port for record in others for port in record.ports.values()]
            ports, address = _ports.allocate(spec.ports, have, taken), ""
        else:
            self._network.check_reachable(spec.control_plane_url)
            ports = dict(spec.ports)
            address = previous.address if previous is not None else ""
            address = address or self._network.allocate({record.address for record in others})
        return _Record(
            spec.name,
            dict(spec.labels),
            spec.control_plane_url,
            ports,
            software=spec.software,
            address=address,
        )

    def _sweep_network(self) -> None:
        """Remove the namespaces no node owns (a crash's leftovers, a deleted node's)."""
        if self._network is not None:
            self._network.sweep({path.name for path in self._node_dirs(self._nodes)})

    def _info(self, record: _Record, *, running: bool) -> NodeInfo:
        return NodeInfo(
            record.name,
            dict(record.labels),
            record.address or self._address,
            dict(record.ports),
            running,
            record.software,
        )

    def _attach_volume(self, spec: NodeSpec, node_dir: Path) -> None:
        """Link the node's volume at ``<node dir>/data``, making the volume on first use."""
        volume = self._volumes / spec.name
        data = volume / VOLUME_DIR
        mount = node_dir / VOLUME_DIR
        if not (volume / VOLUME_FILE).exists():
            data.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_private(volume / VOLUME_FILE, json.dumps(dict(spec.labels), indent=2))
        if not mount.is_symlink():
            mount.symlink_to(data, target_is_directory=True)

    def _spawn(self, spec: NodeSpec, node_dir: Path) -> tuple[int, int]:
        argv = self._agent_argv(spec.control_plane_url, node_dir)
        if self._network is not None:
            argv = [*self._network.enter(spec.name), *argv]
        try:
            with (node_dir / LOG_FILE).open("ab") as log:
                child = subprocess.Popen(
                    argv,
                    start_new_session=True,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=node_dir,
                    env=self._agent_env(spec, node_dir),
                    **self._identity(spec.name),
                )
        except OSError as exc:
            raise TemporaryError(f"cannot start the agent of node {spec.name}: {exc}") from exc
        self._children[child.pid] = child
        found = _procs.stat(child.pid)
        if found is None:  # only if someone else reaped our child
            raise TemporaryError(f"the agent of node {spec.name} vanished as it started")
        return child.pid, found.start_time

    def _identity(self, name: str) -> dict[str, Any]:
        """Popen's arguments that run the agent as the node's own user, if nodes have one."""
        if self._users is None:
            return {}
        user = self._users.get(name)
        return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    def _agent_env(self, spec: NodeSpec, node_dir: Path) -> dict[str, str]:
        """The agent's environment: the plugin version it runs comes first on its path (this
        process loads plugins with ``sys.path``, never ``PYTHONPATH``, so none leaks here)."""
        env = {**os.environ, NAME_ENV: spec.name}
        if self._users is not None:
            env |= {"HOME": str(node_dir), "USER": self._users.get(spec.name).pw_name}
        if spec.software:
            site = environment_dir(self._nodes.parent, spec.software)
            if not site.is_dir():
                raise TemporaryError(
                    f"the plugin environment {spec.software} of node {spec.name} is not "
                    "installed on this machine yet"
                )
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
        return env

    def _default_argv(self, url: str, node_dir: Path) -> list[str]:
        return [self._python, "-m", self._agent_module, "--url", url, "--dir", str(node_dir)]

    def _running(self, record: _Record) -> bool:
        if record.pid is None or record.start_time is None:
            return False
        self._reap(record.pid)
        return _procs.alive(record.pid, record.start_time)

    def _stop(self, record: _Record | None, node_dir: Path) -> None:
        """Stop the node's recorded agent tree, then anything else working in its directory."""
        if record is not None and record.pid is not None and record.start_time is not None:
            pid = record.pid
            _procs.stop_tree(pid, record.start_time, self._grace, lambda: self._reap(pid))
        _procs.stop_strays(node_dir, self._grace, self._reap_all)

    def _reap_all(self) -> None:
        for pid in list(self._children):
            self._reap(pid)

    def _reap(self, pid: int) -> None:
        """Collect an agent this provider started once it exits, so no zombie stays."""
        child = self._children.get(pid)
        if child is not None and child.poll() is not None:
            self._children.pop(pid, None)

    def _empty_trash(self) -> None:
        """Stop and remove every node being deleted, this call's and any a crash left."""
        for path in self._node_dirs(self._trash):
            self._stop(_Record.load(path / NODE_FILE), path)
            shutil.rmtree(path, ignore_errors=True)

    def _records(self, *, excluding: Path) -> list[_Record]:
        """Every other node's record, including nodes still being deleted: what they hold
        (ports, addresses) stays theirs until their directory is gone."""
        dirs = [*self._node_dirs(self._nodes), *self._node_dirs(self._trash)]
        records = (_Record.load(path / NODE_FILE) for path in dirs if path != excluding)
        return [record for record in records if record is not None]

    @staticmethod
    def _node_dirs(parent: Path) -> list[Path]:
        if not parent.is_dir():
            return []
        return sorted(p for p in parent.iterdir() if p.is_dir() and not p.name.startswith("."))

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        return exclusive(self._nodes / ".lock")


class LocalSettings(BaseModel):
    """``METAPAAS_LOCAL_NETWORK`` and ``METAPAAS_LOCAL_SUBNET``."""

    model_config = ConfigDict(extra="forbid")

    network: Literal["loopback", "namespaces"] = Field(
        default="loopback",
        description="How the local provider's nodes are reached: all on the machine's "
        "loopback at allocated ports, or each in a network namespace of its own at its own "
        "address and standard ports (root and `ip netns` only).",
    )
    subnet: IPv4Network = Field(
        default=IPv4Network("10.233.0.0/16"),
        description="The local provider's node addresses in namespaces mode; its first "
        "address is the control plane's, on the bridge.",
    )


class Local(ProviderPlugin[LocalSettings, LocalProvider]):
    """The embedded default provider: nodes as process trees on the control plane's machine."""

    name = "local"
    title = "Process trees on this machine"
    settings = LocalSettings

    def make(self, context: ProviderContext[LocalSettings]) -> LocalProvider:
        if context.settings.network == "loopback":
            return LocalProvider(context.home)
        reason = netns.unavailable_reason()
        if reason is not None:
            raise PermanentError(f"METAPAAS_LOCAL_NETWORK=namespaces is refused: {reason}")
        network = NamespaceNetwork(context.home, context.settings.subnet)
        return LocalProvider(context.home, network=network)
