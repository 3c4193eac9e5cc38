"""The ``ssh`` provider: nodes on a pool of registered hosts, reached over SSH.

Where each node and each volume is lives in the database (``ssh_host_nodes``,
``ssh_host_volumes``), written *before* a host is asked, so a crash between the
two never leaves a node on a host that no row names; the host monitor removes
what a host holds that no row places there (:mod:`.monitor`).

On the host, the node is the local provider's, run by
:mod:`metapaas_ssh.hostside` under the runtime bundle: its own system
user, its directory and volume under ``/var/lib/metapaas``, its services on
the host's address. An ``UNREACHABLE`` host is not asked: its nodes read as
they were last seen (their heartbeats tell whether they serve), and deleting
one only forgets it (the host removes it when it returns).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from metapaas.providers import (
    INSTANCE,
    TYPE,
    NodeInfo,
    NodeSpec,
    ProviderContext,
    Sealing,
    VolumeInfo,
    check_name,
    matches,
)
from metapaas.sdk import PermanentError, TemporaryError
from metapaas_ssh import placement
from metapaas_ssh.hostside import LIVENESS_SCRIPT, MODULE, Answer, Request, node_file
from metapaas_ssh.remote import Remotes, SshFailure, Target
from metapaas_ssh.software import Software
from metapaas_ssh.tables import Host, HostNode, HostState, HostVolume

log = logging.getLogger(__name__)

Placed = TypeVar("Placed", HostNode, HostVolume)


def target_of(host: Host, sealer: Sealing) -> Target:
    key = sealer.unseal(host.sealed_private_key)["private_key"]
    return Target(host.name, host.address, host.port, host.user, key, host.host_key)


class HostSide:
    """Runs the host-side node manager on a host: one request, one answer."""

    def __init__(self, remotes: Remotes, software: Software) -> None:
        self.remotes = remotes
        self.software = software

    def alive(self, target: Target, python: str, node: str) -> bool | None:
        """Whether the node's agent runs on the host (None: the host has no such node)."""
        runtime = self.software.runtime(target, python)
        argv = [
            python,
            *("-I", "-S", "-c", LIVENESS_SCRIPT),
            f"{runtime}/metapaas/providers/_procs.py",
            node_file(node),
        ]
        output = self._run(target, argv, f"tell whether {node} runs", timeout=30)
        found: bool | None = json.loads(output)
        return found

    def call(self, target: Target, python: str, request: Request) -> Any:
        runtime = self.software.runtime(target, python)
        argv = ["env", f"PYTHONPATH={runtime}", python, "-s", "-m", MODULE]
        stdin = request.model_dump_json().encode()
        answer = Answer.model_validate_json(self._run(target, argv, request.op, stdin=stdin))
        if answer.error:
            raise (TemporaryError if answer.temporary else PermanentError)(answer.error)
        return answer.result

    def _run(
        self, target: Target, argv: list[str], what: str, *, stdin: bytes = b"", timeout: float = 60
    ) -> bytes:
        """The command's output; a failed session or command is a ``TemporaryError``."""
        try:
            done = self.remotes.run(target, argv, stdin=stdin, timeout=timeout)
        except SshFailure as exc:
            raise TemporaryError(str(exc)) from exc
        if done.exit_status != 0:
            error = done.stderr.decode(errors="replace").strip()[-800:]
            raise TemporaryError(f"host {target.name}: cannot {what}: {error}")
        return done.stdout


class SshProvider:
    """Nodes on the pool's hosts; see the module docstring."""

    def __init__(
        self, sessions: sessionmaker[Session], sealer: Sealing, host_side: HostSide
    ) -> None:
        self._sessions = sessions
        self._sealer = sealer
        self.host_side = host_side  # shared with the host monitor: one connection per host

    @classmethod
    def of(cls, context: ProviderContext[Any]) -> SshProvider:
        remotes = Remotes()
        return cls(
            context.sessions, context.sealer, HostSide(remotes, Software(remotes, context.bundles))
        )

    def create_node(self, spec: NodeSpec) -> NodeInfo:
        return self._start("create_node", spec)

    def restart_node(self, spec: NodeSpec) -> NodeInfo:
        return self._start("restart_node", spec)

    def delete_node(self, name: str) -> None:
        check_name(name)
        self._remove(HostNode, "delete_node", name)

    def delete_volume(self, name: str) -> None:
        self.delete_node(name)
        self._remove(HostVolume, "delete_volume", name)

    def _remove(
        self,
        placed: type[Placed],
        op: Literal["delete_node", "delete_volume"],
        name: str,
    ) -> None:
        """Ask the host holding the node (or its volume) to remove it, then forget where it
        was. A host that is not READY is not asked: it removes it when it is back."""
        with self._sessions() as session:
            row = session.get(placed, name)
            if row is None:
                return
            where = row.host_name
            host = session.get(Host, where)
        if host is not None and host.state == HostState.READY:
            self._ask(host, Request(op=op, address=host.address, name=name))
        with self._sessions.begin() as session:
            found = session.get(placed, name, with_for_update=True)
            if found is not None and found.host_name == where:
                session.delete(found)

    def get_node(self, name: str) -> NodeInfo | None:
        check_name(name)
        with self._sessions() as session:
            row = session.get(HostNode, name)
            if row is None:
                return None
            host = _host(session, row.host_name)
            if host.state == HostState.UNREACHABLE:
                # Unknown, not dead: the node may serve behind a broken link. Its heartbeats
                # tell, and a silent node is replaced after its type's unreachable_after.
                return _info(row, host, running=True)
        running = self.host_side.alive(self._target(host), _python(host), name)
        return None if running is None else _info(row, host, running=running)

    def list_nodes(self, labels: Mapping[str, str]) -> list[NodeInfo]:
        """The nodes the pool's rows place, as last recorded (running: their host is READY)."""
        with self._sessions() as session:
            rows = session.execute(
                select(HostNode, Host)
                .join(Host, HostNode.host_name == Host.name)
                .order_by(HostNode.node_name)
            ).all()
            return [
                _info(row, host, running=host.state == HostState.READY)
                for row, host in rows
                if matches(row.labels, labels)
            ]

    def list_volumes(self, labels: Mapping[str, str]) -> list[VolumeInfo]:
        with self._sessions() as session:
            rows = session.scalars(select(HostVolume).order_by(HostVolume.node_name))
            return [
                VolumeInfo(row.node_name, dict(row.labels), row.host_name)
                for row in rows
                if matches(row.labels, labels)
            ]

    # -- starting a node ----------------------------------------------------------

    def _start(self, op: str, spec: NodeSpec) -> NodeInfo:
        check_name(spec.name)
        host = self._place(spec)
        if spec.software:
            self.host_side.software.plugin(self._target(host), _python(host), spec.software)
        request = Request(op=op, address=host.address, spec=dataclasses.asdict(spec))
        found = self._ask(host, request)
        with self._sessions.begin() as session:
            row = session.get(HostNode, spec.name, with_for_update=True)
            if row is None or row.host_name != host.name:
                raise TemporaryError(f"node {spec.name} was moved while it started; trying again")
            row.ports = dict(found["ports"])
            row.software = spec.software
            return _info(row, host, running=True)

    def _place(self, spec: NodeSpec) -> Host:
        """The node's host: where its row places it, else a new choice, recorded first."""
        with self._sessions.begin() as session:
            row = session.get(HostNode, spec.name, with_for_update=True)
            if row is not None:
                host = _host(session, row.host_name)
                if host.state != HostState.READY:
                    raise TemporaryError(
                        f"node {spec.name} is on host {host.name}, which is {host.state}: "
                        f"{host.state_reason}"
                    )
                session.expunge(host)
                return host
            volume = session.get(HostVolume, spec.name, with_for_update=True)
            wanted = placement.Wanted(
                instance_id=spec.labels.get(INSTANCE, ""),
                type_slug=spec.labels.get(TYPE, ""),
                memory_mb=spec.memory_mb,
                selector=spec.host_labels,
                volume_host=volume.host_name if volume is not None else "",
            )
            chosen = placement.choose(_loads(session), wanted)
            session.add(
                HostNode(
                    node_name=spec.name,
                    host_name=chosen,
                    labels=dict(spec.labels),
                    memory_mb=spec.memory_mb,
                )
            )
            if volume is None:
                session.add(
                    HostVolume(node_name=spec.name, host_name=chosen, labels=dict(spec.labels))
                )
            elif volume.host_name != chosen:
                # A new, empty volume: the old one stays on its host, which removes it (when
                # it is back) as no row places it there any more.
                log.warning(
                    "node %s leaves its volume on %s for %s", spec.name, volume.host_name, chosen
                )
                volume.host_name = chosen
            host = _host(session, chosen)
            session.expunge(host)
            return host

    def _ask(self, host: Host, request: Request) -> Any:
        return self.host_side.call(self._target(host), _python(host), request)

    def _target(self, host: Host) -> Target:
        return target_of(host, self._sealer)


def _host(session: Session, name: str) -> Host:
    """The host a row names: its foreign key keeps it while a row names it."""
    host = session.get(Host, name)
    if host is None:
        raise TemporaryError(f"host {name} is gone; trying again")
    return host


def _python(host: Host) -> str:
    return str(host.facts.get("python", "python3"))


def _info(row: HostNode, host: Host, *, running: bool) -> NodeInfo:
    return NodeInfo(
        row.node_name,
        dict(row.labels),
        host.address,
        dict(row.ports),
        running,
        row.software,
        host.name,
        evicted=host.draining,
    )


def _loads(session: Session) -> list[placement.HostLoad]:
    """Every host with what it holds: its nodes, their memory, and nodes per instance.

    The hosts' rows are locked first, so two placements never both take a host's
    last room (on SQLite, writing transactions run one at a time already).
    """
    hosts = list(session.scalars(select(Host).order_by(Host.name).with_for_update()))
    per_instance: dict[str, dict[str, int]] = {}
    totals: dict[str, tuple[int, int]] = {}
    for row in session.scalars(select(HostNode)):
        instance = str(row.labels.get(INSTANCE, ""))
        counts = per_instance.setdefault(row.host_name, {})
        counts[instance] = counts.get(instance, 0) + 1
        nodes, memory = totals.get(row.host_name, (0, 0))
        totals[row.host_name] = (nodes + 1, memory + row.memory_mb)
    return [
        placement.HostLoad(
            name=host.name,
            state=host.state,
            draining=host.draining,
            capacity_nodes=host.capacity_nodes,
            capacity_memory_mb=host.capacity_memory_mb,
            labels=dict(host.labels),
            nodes=totals.get(host.name, (0, 0))[0],
            memory_mb=totals.get(host.name, (0, 0))[1],
            instance_nodes=per_instance.get(host.name, {}),
            unsuitable_types={
                slug: why for slug, why in host.facts.get("types", {}).items() if why
            },
        )
        for host in hosts
    ]
