"""The level-triggered reconciler: desired state vs observed state, for one instance.

Each pass reads the whole instance, so it does not matter how many changes
led to it or whether an earlier pass crashed half-way. Its phases keep the
database free while the provider works (a process start can take seconds):

1. look (no transaction but one read): ask the provider where each of the
   instance's nodes is and whether it runs;
2. plan (one transaction): take the requests the API recorded (pending
   operations: create, update, retry, delete), decide the nodes, and write
   every decision *before* the provider is asked, so a crash in between is seen
   on the next pass: a row for each new node, ``REPLACING`` on a node to
   replace, and for every node to (re)start a new incarnation with a fresh
   bootstrap token (``plan.py``; the rollout's and eviction's gates,
   ``gates.py``);
3. act (no transaction): only provider calls, each idempotent by the
   deterministic node name: create, restart, replace or delete nodes as planned;
4. observe (one transaction): record where every running node is (from the
   provider's answer of this pass, so a crash after a create loses nothing),
   publish metadata, start lifecycle commands and time them out
   (``commands.py``), judge the status from the agents' reports
   (``status.py``), update operations and events.

Only the orchestrator writes instance status, node and command rows, operation states
and the events that tell of them; the API records requests and the agents' reports,
and wakes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from metapaas import db, metadata, providers, sdk, tls
from metapaas.db import Sealer, models
from metapaas.orchestrator import backups, certificates, commands, events, gates, status, views
from metapaas.orchestrator.plan import Plan, Start, StartKind, heal, replace, why_replace
from metapaas.plugins import LoadedType, Registry

log = logging.getLogger(__name__)

InstanceStatus = models.InstanceStatus
OperationState = models.OperationState
NodeState = models.NodeState
CONVERGING_POLL = 1.0


def node_name(instance_id: str, role: str, ordinal: int) -> str:
    """Deterministic, so every side effect is keyed by it and retries find their work."""
    return f"{instance_id.replace('-', '')}-{role}-{ordinal}"


@dataclass(frozen=True)
class Outcome:
    """When to look at the instance again; None when only a new request should wake it."""

    requeue_after: float | None


Notify = Callable[[str], None]
Looked = dict[str, providers.NodeInfo | None]


class Reconciler:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        registry: Registry,
        provider: providers.Provider,
        sealer: Sealer,
        control_plane_url: str,
        authority: Callable[[], tls.Authority],
        *,
        clock: Callable[[], datetime] = models.utcnow,
        notify: Notify = lambda _instance_id: None,
        readers: sessionmaker[Session] | None = None,
        control_plane_ca: str = "",
    ) -> None:
        self.sessions = sessions
        #: Read-only sessions, for the look before a pass plans (on SQLite a read never
        #: waits for, nor holds, the write lock); by default over the same engine.
        self.readers = readers or _readers_of(sessions)
        self.registry = registry
        self.provider = provider
        self.sealer = sealer
        self.control_plane_url = control_plane_url
        self.clock = clock
        self.notify = notify
        #: The CA that signs the nodes' certificates (the process's ``AppState.authority``).
        self.authority = authority
        #: What agents verify the control plane with (PEM; "" over loopback HTTP, or to
        #: trust the system's store for an operator's certificate).
        self.control_plane_ca = control_plane_ca

    # -- entry points -------------------------------------------------------------

    def reconcile(self, instance_id: str) -> Outcome:
        """One pass. A ``PermanentError`` from any phase turns the instance ``ERROR``;
        a ``TemporaryError`` (or any other error) reaches the caller, which retries."""
        try:
            return self._pass(instance_id)
        except sdk.PermanentError as exc:
            self._fail(instance_id, str(exc))
            return Outcome(None)

    def record_retry(
        self, session: Session, instance_id: str, error: str, due: datetime, *, first: bool
    ) -> None:
        """Say on the instance why its pass failed and when the next one comes.

        An event is written for the first failure of a streak, not for every retry.
        """
        instance = session.get(models.Instance, instance_id, with_for_update=True)
        if instance is None or instance.status == InstanceStatus.DELETED:
            return
        if first:
            events.record(session, instance_id, "retrying", error)
        instance.status_reason = f"{error}; next attempt at {due:%Y-%m-%dT%H:%M:%SZ}"

    def _pass(self, instance_id: str) -> Outcome:
        looked = self._look(instance_id)
        if looked is None:
            return Outcome(None)
        with self.sessions.begin() as session:
            instance = session.get(models.Instance, instance_id, with_for_update=True)
            if instance is None or instance.status == InstanceStatus.DELETED:
                return Outcome(None)
            self._take_requests(session, instance)
            deleting = instance.status == InstanceStatus.DELETING
            plan = None if deleting else self._plan(session, instance, looked)
        if plan is None:
            return self._delete(instance_id)
        found = self._act(instance_id, plan)
        return self._observe(instance_id, plan, found)

    # -- phase 1: look --------------------------------------------------------------

    def _look(self, instance_id: str) -> Looked | None:
        """The provider's answer for each of the instance's nodes; None when the instance is
        gone, nothing to look at when it is being deleted."""
        with self.readers() as session:
            instance = session.get(models.Instance, instance_id)
            if instance is None or instance.status == InstanceStatus.DELETED:
                return None
            if instance.status == InstanceStatus.DELETING:
                return {}
            names = list(
                session.scalars(
                    select(models.Node.name)
                    .where(models.Node.instance_id == instance_id)
                    .order_by(models.Node.name)
                )
            )
        return {name: self.provider.get_node(name) for name in names}

    # -- phase 2: requests and plan ---------------------------------------------------

    def _take_requests(self, session: Session, instance: models.Instance) -> None:
        """Act on what the API recorded: pending operations start; a delete wins."""
        ops = _open_operations(session, instance.id)
        deleting = instance.status == InstanceStatus.DELETING
        if any(op.kind == "delete" for op in ops) and not deleting:
            self._set_status(session, instance, InstanceStatus.DELETING, "removing its nodes")
        for op in ops:
            if op.state != OperationState.PENDING:
                continue
            if op.kind == "retry":
                self._reset_failures(session, instance)
            op.state = OperationState.RUNNING
            op.progress = "started"

    def _reset_failures(self, session: Session, instance: models.Instance) -> None:
        """A retry: failed nodes apply again, failed and timed-out commands run anew.

        The nodes' reports stay as their agents wrote them: a failed node's report is
        not judged until its agent reports about the revision published now.
        """
        revision = metadata.bump(session, instance.id)
        for node in _nodes(session, instance.id):
            report = status.judged(node)
            if report is not None and report.state == models.AgentState.FAILED:
                node.reports_from_revision = revision
        commands.clear_failed(session, instance.id)
        events.record(session, instance.id, "retry", "failures cleared; trying again")

    def _plan(self, session: Session, instance: models.Instance, looked: Looked) -> Plan:
        loaded = self.registry.get(instance.type_slug)
        if not loaded.usable:
            raise sdk.PermanentError(f"type {loaded.slug} is in ERROR: {loaded.reason}")
        view = views.instance_view(session, instance, loaded, self.sealer)
        groups = {
            node_name(instance.id, group.role, ordinal): (group, ordinal)
            for group in loaded.declaration.node_plan(view)
            for ordinal in range(group.count)
        }
        plan = Plan(loaded=loaded, project_id=instance.project_id, groups=groups, looked=looked)
        rows = {n.name: n for n in _nodes(session, instance.id)}
        now = self.clock()
        for name, (group, ordinal) in groups.items():
            row = rows.get(name)
            if row is None:
                row = self._new_node(session, instance, loaded, name, group, ordinal)
                backups.restore_first(session, instance, loaded, row, now)
                plan.start(row, StartKind.CREATE, now)
            elif row.state == NodeState.REPLACING:  # a crash came between decision and node
                plan.start(row, StartKind.REPLACE, now)
            elif why := why_replace(row, loaded, now):
                replace(session, plan, instance, row, now, why)
            else:
                heal(session, plan, row, looked.get(name), now)
            plan.software[name] = row.wheelhouse
        plan.retire = set(rows) - set(groups)
        planned = [rows[n] for n in groups if n in rows]
        if not gates.roll(session, instance, loaded, planned, plan, now):
            gates.evict(session, instance, planned, plan, now)
        for name, start in plan.starts.items():
            if name in rows and start.kind != StartKind.ROLL:  # it may land elsewhere
                backups.restore_if_lost(session, instance, loaded, rows[name], now)
        return plan

    @staticmethod
    def _new_node(
        session: Session,
        instance: models.Instance,
        loaded: LoadedType,
        name: str,
        group: sdk.NodeGroup,
        ordinal: int,
    ) -> models.Node:
        node = models.Node(
            name=name,
            instance_id=instance.id,
            role=group.role,
            ordinal=ordinal,
            incarnation=0,  # its first start makes it the first
            software=loaded.software,
            wheelhouse=loaded.wheelhouse,
        )
        session.add(node)
        events.record(session, instance.id, "node_planned", f"node {name} planned", name)
        return node

    # -- phase 3: act -----------------------------------------------------------

    def _act(self, instance_id: str, plan: Plan) -> dict[str, providers.NodeInfo]:
        """Make the provider match the plan; returns every planned node that now runs."""
        found: dict[str, providers.NodeInfo] = {}
        for name, (group, _ordinal) in plan.groups.items():
            start = plan.starts.get(name)
            if start is None:  # it runs the planned version: the look found it so
                if (info := plan.looked.get(name)) is not None:
                    found[name] = info
                continue
            found[name] = self._start(instance_id, plan, name, group, start)
        for name in sorted(plan.retire):  # scaled away: its data goes with it
            self.provider.delete_volume(name)
        return found

    def _start(
        self, instance_id: str, plan: Plan, name: str, group: sdk.NodeGroup, start: Start
    ) -> providers.NodeInfo:
        if start.kind == StartKind.REPLACE:
            self.provider.delete_node(name)
        spec = providers.NodeSpec(
            name=name,
            labels={
                providers.MANAGED: "true",
                providers.PROJECT: plan.project_id,
                providers.INSTANCE: instance_id,
                providers.TYPE: plan.loaded.slug,
                providers.ROLE: group.role,
            },
            ports={port.name: port.number for port in group.ports},
            memory_mb=group.memory_mb,
            bootstrap_token=start.bootstrap_token,
            control_plane_url=self.control_plane_url,
            control_plane_ca=self.control_plane_ca,
            software=plan.software.get(name, ""),
        )
        if start.kind == StartKind.ROLL:  # in place: its data and ports stay
            return self.provider.restart_node(spec)
        return self.provider.create_node(spec)

    # -- phase 4: observe -------------------------------------------------------

    def _observe(
        self, instance_id: str, plan: Plan, found: Mapping[str, providers.NodeInfo]
    ) -> Outcome:
        authority = self.authority()  # made, the first time, in a transaction of its own
        with self.sessions() as session:
            instance = session.get(models.Instance, instance_id, with_for_update=True)
            if instance is None or instance.status in (
                InstanceStatus.DELETING,
                InstanceStatus.DELETED,
            ):
                return Outcome(0.0)
            session.execute(delete(models.Node).where(models.Node.name.in_(plan.retire)))
            nodes = [n for n in _nodes(session, instance_id) if n.name in plan.groups]
            now = self.clock()
            renewed = False
            for node in nodes:
                _track(session, node, found.get(node.name))
                group = plan.groups[node.name][0]
                renewed |= certificates.keep_current(node, group, authority, self.sealer, now)
            view = views.instance_view(session, instance, plan.loaded, self.sealer)
            node_views = views.node_views(nodes)
            stored = backups.document_part(session, instance_id, self.sealer)
            document = views.metadata_document(view, plan.loaded.declaration, node_views, stored)
            changed = metadata.publish(session, instance_id, document) is not None
            if renewed and not changed:  # only the nodes' own parts changed
                metadata.bump(session, instance_id)
            changed |= renewed
            inits = commands.inits(plan.loaded, view.version, nodes)
            queued = commands.of_instance(session, instance_id)
            commands.time_out(session, instance_id, queued, now)
            changed |= commands.start_inits(session, instance_id, nodes, inits, queued, now)
            if backups.advance(session, instance, plan.loaded, view, nodes, queued, now):
                session.flush()
                metadata.bump(session, instance_id)
                changed = True
            verdict = status.judge(
                instance,
                nodes,
                backups.lifecycle(queued),
                len(plan.groups),
                set(inits),
                CONVERGING_POLL,
                plan.loaded.wheelhouse,
            )
            verdict = backups.judged(session, instance, plan.loaded, nodes, verdict, now)
            self._apply_verdict(session, instance, verdict, plan.loaded, view, node_views)
            if changed:
                metadata.announce(session, instance_id)
            # A step under way is looked at again, so its deadline is kept.
            stepping = any(
                c.state in models.OPEN_COMMANDS for c in queued if c.name in backups.STEPS
            )
            session.commit()
        if changed:
            self.notify(instance_id)
        if (verdict.serving or verdict.status == InstanceStatus.ERROR) and not stepping:
            # Only news wakes it: a request, a node's report, or the worker's resync
            # finding a node that needs a look.
            return Outcome(None)
        return Outcome(CONVERGING_POLL)

    def _apply_verdict(
        self,
        session: Session,
        instance: models.Instance,
        verdict: status.Verdict,
        loaded: LoadedType,
        view: sdk.InstanceView,
        node_views: Sequence[sdk.NodeView],
    ) -> None:
        self._set_status(session, instance, verdict.status, verdict.reason)
        if verdict.serving:
            instance.observed_generation = instance.generation
            instance.rolling_to = ""  # every node serves on the version loaded
            public = views.public_view(view, loaded.declaration)
            instance.endpoints = dict(loaded.declaration.endpoints(public, node_views))
        for op in _open_operations(session, instance.id):
            if (
                op.state != OperationState.RUNNING
                or op.kind == "delete"
                or op.kind in backups.KINDS
            ):
                # Sent during this pass (the next one takes it up), ended by deletion alone
                # (an ACTIVE verdict must not end a delete it never acted on), or a backup's,
                # which its own step ends.
                continue
            op.progress = verdict.progress
            if verdict.status == InstanceStatus.ERROR:
                op.state = OperationState.FAILED
                op.error = verdict.reason
            elif verdict.serving and instance.observed_generation >= op.target_generation:
                op.state = OperationState.SUCCEEDED

    @staticmethod
    def _set_status(
        session: Session, instance: models.Instance, new: models.InstanceStatus, reason: str
    ) -> None:
        """Move the instance's status.

        A new status is an event, and so is a new reason for a status that needs a
        person (``ERROR``, ``DEGRADED``); the progress of a converging instance is not.
        """
        needs_a_person = new in (InstanceStatus.ERROR, InstanceStatus.DEGRADED)
        if instance.status != new or (needs_a_person and instance.status_reason != reason):
            events.record(
                session,
                instance.id,
                "status_changed",
                f"{instance.status} -> {new}" + (f": {reason}" if reason else ""),
            )
        instance.status = new
        instance.status_reason = reason

    def _fail(self, instance_id: str, reason: str) -> None:
        with self.sessions.begin() as session:
            instance = session.get(models.Instance, instance_id, with_for_update=True)
            if instance is None or instance.status == InstanceStatus.DELETED:
                return
            self._set_status(session, instance, InstanceStatus.ERROR, reason)
            for op in _open_operations(session, instance_id):
                op.state = OperationState.FAILED
                op.error = reason

    # -- deletion ---------------------------------------------------------------

    def _delete(self, instance_id: str) -> Outcome:
        with self.sessions() as session:
            names = {n.name for n in _nodes(session, instance_id)}
        owned = {providers.INSTANCE: instance_id}
        names |= {n.name for n in self.provider.list_nodes(owned)}
        names |= {v.name for v in self.provider.list_volumes(owned)}
        for name in sorted(names):
            self.provider.delete_volume(name)  # the node first, then its data
        with self.sessions.begin() as tx:
            row = tx.get(models.Instance, instance_id, with_for_update=True)
            if row is None:
                return Outcome(None)
            # Each node's report and each command's result go with their rows.
            tx.execute(delete(models.Node).where(models.Node.instance_id == row.id))
            tx.execute(delete(models.NodeCommand).where(models.NodeCommand.instance_id == row.id))
            tx.execute(
                delete(models.MetadataDocument).where(models.MetadataDocument.instance_id == row.id)
            )
            self._set_status(tx, row, InstanceStatus.DELETED, "")
            row.deleted_at = self.clock()
            events.record(tx, row.id, "deleted", f"{len(names)} node(s) removed")
            for op in _open_operations(tx, row.id):
                op.progress = "deleted"
                if op.kind == "delete":
                    op.state = OperationState.SUCCEEDED
                else:
                    op.state = OperationState.FAILED
                    op.error = "the instance was deleted"
        return Outcome(None)


def _track(session: Session, node: models.Node, info: providers.NodeInfo | None) -> None:
    """Move the node's state from what the provider and its agent say.

    ``info`` is the provider's answer of this pass (None: gone): where the node is is
    recorded every pass, not only right after a create.
    """
    if info is not None:
        node.address = info.address
        node.ports = dict(info.ports)
        if node.location and info.location != node.location:
            moved = backups.moved(session, node.name, node.location, info.location)
            events.record(session, node.instance_id, "node_moved", moved, node.name)
        node.location = info.location
        node.evicted = info.evicted
        if node.state in (NodeState.PLANNED, NodeState.REPLACING):
            node.state = NodeState.STARTING
            started = f"node {node.name} started"
            events.record(session, node.instance_id, "node_started", started, node.name)
    if node.state == NodeState.STARTING and node.report is not None:
        node.state = NodeState.RUNNING


def _nodes(session: Session, instance_id: str) -> list[models.Node]:
    return list(
        session.scalars(
            select(models.Node)
            .where(models.Node.instance_id == instance_id)
            .order_by(models.Node.name)
        )
    )


def _open_operations(session: Session, instance_id: str) -> list[models.Operation]:
    return list(
        session.scalars(
            select(models.Operation)
            .where(
                models.Operation.instance_id == instance_id,
                models.Operation.state.in_(models.OPEN_OPERATIONS),
            )
            .order_by(models.Operation.created_at)
        )
    )


def _readers_of(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Read-only sessions over the engine ``sessions`` writes with."""
    with sessions() as session:  # no transaction begins: only the bind is looked up
        return db.make_sessionmaker(session.get_bind().engine, read_only=True)
