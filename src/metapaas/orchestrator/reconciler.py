"""The level-triggered reconciler: desired state vs observed state, for one instance.

Each pass reads the whole instance, so it does not matter how many changes
led to it or whether an earlier pass crashed half-way. Three phases keep the
database free while the provider works (a process start can take seconds):

1. plan (one transaction): take the requests the API recorded (pending
   operations: create, update, retry, delete), decide the nodes, and write a
   row with a fresh bootstrap token for each node about to be created, or the
   mark ``REPLACING`` on a node about to be replaced, *before* the provider
   is asked, so a crash in between is seen on the next pass;
2. act (no transaction): create, restart, replace or delete nodes, all
   idempotent by deterministic node name;
3. observe (one transaction): record where every running node is (from the
   provider's own answer, each pass, so a crash after a create loses
   nothing), publish metadata, start lifecycle commands, judge the status
   from the agents' reports, update operations and events.

Only the orchestrator writes instance status, node states, operation states
and the events that tell of them; the API records requests and wakes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from metapaas import metadata, providers, sdk
from metapaas.db import Sealer, models
from metapaas.iam import tokens
from metapaas.orchestrator import events, status, views
from metapaas.plugins import LoadedType, Registry

log = logging.getLogger(__name__)

S = models.InstanceStatus
C = models.CommandState
N = models.NodeState
O = models.OperationState  # noqa: E741 (the operation states, beside S, C and N)
BOOTSTRAP_TTL = timedelta(minutes=15)
COMMAND_SLACK = 30.0
CONVERGING_POLL = 1.0


def node_name(instance_id: str, role: str, ordinal: int) -> str:
    """Deterministic, so every side effect is keyed by it and retries find their work."""
    return f"{instance_id.replace('-', '')}-{role}-{ordinal}"


@dataclass(frozen=True)
class Outcome:
    """When to look at the instance again; None when only a new request should wake it."""

    requeue_after: float | None


@dataclass
class _Plan:
    loaded: LoadedType
    project_id: str
    groups: dict[str, tuple[sdk.NodeGroup, int]]  # node name -> (its role's group, ordinal)
    tokens: dict[str, str] = field(default_factory=dict)  # nodes to (re)create now
    replace: set[str] = field(default_factory=set)
    retire: set[str] = field(default_factory=set)
    software: dict[str, str] = field(default_factory=dict)  # node name -> its wheelhouse


Notify = Callable[[str], None]


class Reconciler:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        registry: Registry,
        provider: providers.Provider,
        sealer: Sealer,
        control_plane_url: str,
        *,
        clock: Callable[[], datetime] = models.utcnow,
        notify: Notify = lambda _instance_id: None,
    ) -> None:
        self.sessions = sessions
        self.registry = registry
        self.provider = provider
        self.sealer = sealer
        self.control_plane_url = control_plane_url
        self.clock = clock
        self.notify = notify

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
        if instance is None or instance.status == S.DELETED:
            return
        if first:
            events.record(session, instance_id, "retrying", error)
        instance.status_reason = f"{error}; next attempt at {due:%Y-%m-%dT%H:%M:%SZ}"

    def _pass(self, instance_id: str) -> Outcome:
        with self.sessions.begin() as session:
            instance = session.get(models.Instance, instance_id, with_for_update=True)
            if instance is None or instance.status == S.DELETED:
                return Outcome(None)
            self._take_requests(session, instance)
            deleting = instance.status == S.DELETING
            plan = None if deleting else self._plan(session, instance)
        if plan is None:
            return self._delete(instance_id)
        found = self._act(instance_id, plan)
        return self._observe(instance_id, plan, found)

    # -- phase 1: requests and plan ---------------------------------------------------

    def _take_requests(self, session: Session, instance: models.Instance) -> None:
        """Act on what the API recorded: pending operations start; a delete wins."""
        ops = self._open_operations(session, instance.id)
        if any(op.kind == "delete" for op in ops) and instance.status != S.DELETING:
            self._set_status(session, instance, S.DELETING, "removing its nodes")
        for op in ops:
            if op.state != O.PENDING:
                continue
            if op.kind == "retry":
                self._reset_failures(session, instance)
            op.state = O.RUNNING
            op.progress = "started"

    def _reset_failures(self, session: Session, instance: models.Instance) -> None:
        """A retry: failed nodes apply again, failed and timed-out commands run anew."""
        for node in self._nodes(session, instance.id):
            if node.agent_state == "failed":
                node.agent_state = ""
                node.message = ""
        session.execute(
            delete(models.NodeCommand).where(
                models.NodeCommand.instance_id == instance.id,
                models.NodeCommand.state.in_([C.FAILED, C.TIMED_OUT]),
            )
        )
        metadata.bump(session, instance.id)
        events.record(session, instance.id, "retry", "failures cleared; trying again")

    def _plan(self, session: Session, instance: models.Instance) -> _Plan:
        loaded = self.registry.get(instance.type_slug)
        if not loaded.usable:
            raise sdk.PermanentError(f"type {loaded.slug} is in ERROR: {loaded.reason}")
        view = views.instance_view(session, instance, loaded, self.sealer)
        groups = {
            node_name(instance.id, group.role, ordinal): (group, ordinal)
            for group in loaded.declaration.node_plan(view)
            for ordinal in range(group.count)
        }
        plan = _Plan(loaded=loaded, project_id=instance.project_id, groups=groups)
        rows = {n.name: n for n in self._nodes(session, instance.id)}
        now = self.clock()
        for name, (group, ordinal) in groups.items():
            row = rows.get(name)
            if row is None:
                row = models.Node(
                    name=name,
                    instance_id=instance.id,
                    role=group.role,
                    ordinal=ordinal,
                    started_at=now,
                    software=loaded.software,
                    wheelhouse=loaded.wheelhouse,
                )
                session.add(row)
                plan.tokens[name] = self._issue_bootstrap(row, now)
                events.record(session, instance.id, "node_planned", f"node {name} planned", name)
            elif row.state == N.REPLACING:  # a crash came between the decision and the new node
                plan.tokens[name] = self._issue_bootstrap(row, now)
                plan.replace.add(name)
            elif self._needs_replacement(row, loaded, now):
                plan.tokens[name] = self._reset_for_replacement(session, instance, row, now)
                plan.replace.add(name)
            plan.software[name] = row.wheelhouse
        plan.retire = set(rows) - set(groups)
        planned = [rows[n] for n in groups if n in rows]
        if not self._roll(session, instance, loaded, planned, plan):
            self._evict(session, instance, planned, plan, now)
        return plan

    def _roll(
        self,
        session: Session,
        instance: models.Instance,
        loaded: LoadedType,
        nodes: list[models.Node],
        plan: _Plan,
    ) -> bool:
        """Move the nodes to the plugin version now loaded, one at a time, health-gated;
        returns whether a rollout is under way.

        The first outdated node is given the new version only when every node serves;
        the next one only once it serves too. A rollout is a change of the instance
        (its generation rises), so it is ``UPDATING`` until the last node serves.
        """
        outdated = sorted(n.name for n in nodes if n.wheelhouse != loaded.wheelhouse)
        if not outdated:
            return False
        if instance.observed_generation == instance.generation:
            instance.generation += 1
            events.record(
                session,
                instance.id,
                "rollout",
                f"rolling {len(outdated)} node(s) to {loaded.software}",
            )
        if plan.tokens or not _all_serve(instance, nodes):
            return True
        node = next(n for n in nodes if n.name == outdated[0])
        node.wheelhouse, node.software = loaded.wheelhouse, loaded.software
        plan.software[node.name] = loaded.wheelhouse
        events.record(
            session,
            instance.id,
            "node_rolling",
            f"node {node.name} restarts on {loaded.software}",
            node.name,
        )
        return True

    def _evict(
        self,
        session: Session,
        instance: models.Instance,
        nodes: list[models.Node],
        plan: _Plan,
        now: datetime,
    ) -> None:
        """Replace a node its provider wants elsewhere (its host drains): one at a time, and
        only while every other node serves, so a drain never takes two down at once."""
        evicted = sorted(n.name for n in nodes if n.evicted)
        if not evicted or plan.tokens or not _all_serve(instance, nodes):
            return
        node = next(n for n in nodes if n.name == evicted[0])
        why = "its host is draining"
        plan.tokens[node.name] = self._reset_for_replacement(session, instance, node, now, why)
        plan.replace.add(node.name)

    def _needs_replacement(self, node: models.Node, loaded: LoadedType, now: datetime) -> bool:
        declaration = loaded.declaration
        return status.unreachable(node, now, declaration.unreachable_after) or (
            status.unhealthy_too_long(node, now, declaration.replace_unhealthy_after)
        )

    def _reset_for_replacement(
        self,
        session: Session,
        instance: models.Instance,
        node: models.Node,
        now: datetime,
        why: str = "",
    ) -> str:
        """Forget the old node: its credential is revoked, its commands run again.

        The instance stops being ``ACTIVE`` in the same commit: between this decision and
        the next observation, readers must not see it serving from the old node.
        """
        why = why or ("unhealthy too long" if node.unhealthy_since else "unreachable")
        events.record(
            session, node.instance_id, "node_replaced", f"node {node.name} {why}", node.name
        )
        if instance.status == S.ACTIVE:
            instance.status = S.DEGRADED
            instance.status_reason = f"not serving: {node.name} being replaced ({why})"
        node.state = N.REPLACING
        node.credential_hash = ""
        node.registered_at = None
        node.last_seen_at = None
        node.agent_state = ""
        node.health = "unknown"
        node.unhealthy_since = None
        node.applied_generation = 0
        node.applied_revision = 0
        node.message = ""
        node.started_at = now
        session.execute(delete(models.NodeCommand).where(models.NodeCommand.node_name == node.name))
        return self._issue_bootstrap(node, now)

    @staticmethod
    def _issue_bootstrap(node: models.Node, now: datetime) -> str:
        token = tokens.new_token()
        node.bootstrap_hash = tokens.digest(token)
        node.bootstrap_expires_at = now + BOOTSTRAP_TTL
        return token

    # -- phase 2: act -----------------------------------------------------------

    def _act(self, instance_id: str, plan: _Plan) -> dict[str, providers.NodeInfo]:
        """Make the provider match the plan; returns every planned node that now runs."""
        found: dict[str, providers.NodeInfo] = {}
        for name, (group, _ordinal) in plan.groups.items():
            if name in plan.replace:
                self.provider.delete_node(name)
            info = None
            software = plan.software.get(name, "")
            if name not in plan.tokens:
                info = self.provider.get_node(name)
                if info is not None and info.running and info.software == software:
                    found[name] = info
                    continue
            # A running node of another version restarts in place (its data stays).
            rolling = info is not None and info.running
            token = plan.tokens.get(name) or self._restart(instance_id, name, rolling=rolling)
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
                bootstrap_token=token,
                control_plane_url=self.control_plane_url,
                software=software,
            )
            start = self.provider.restart_node if rolling else self.provider.create_node
            found[name] = start(spec)
        for name in sorted(plan.retire):  # scaled away: its data goes with it
            self.provider.delete_volume(name)
        return found

    def _restart(self, instance_id: str, name: str, *, rolling: bool = False) -> str:
        """A node whose processes are gone (or never came), or that runs another plugin
        version (``rolling``), starts again.

        It gets a fresh one-time token; its credential stays valid, and it is
        not serving until its agent reports again.
        """
        with self.sessions.begin() as session:
            node = session.get(models.Node, name)
            assert node is not None
            now = self.clock()
            if node.state != N.PLANNED:
                node.state = N.STARTING
                if not rolling:
                    events.record(
                        session, instance_id, "node_down", f"node {name} is down; restarting", name
                    )
            node.last_seen_at = None
            node.started_at = now
            return self._issue_bootstrap(node, now)

    # -- phase 3: observe -------------------------------------------------------

    def _observe(
        self, instance_id: str, plan: _Plan, found: Mapping[str, providers.NodeInfo]
    ) -> Outcome:
        with self.sessions() as session:
            instance = session.get(models.Instance, instance_id, with_for_update=True)
            if instance is None or instance.status in (S.DELETING, S.DELETED):
                return Outcome(0.0)
            session.execute(delete(models.Node).where(models.Node.name.in_(plan.retire)))
            nodes = [n for n in self._nodes(session, instance_id) if n.name in plan.groups]
            for node in nodes:
                self._track(session, node, found.get(node.name))
            view = views.instance_view(session, instance, plan.loaded, self.sealer)
            node_views = views.node_views(nodes)
            document = views.metadata_document(view, plan.loaded.declaration, node_views)
            changed = metadata.publish(session, instance_id, document) is not None
            inits = self._init_commands(plan.loaded, view.version, nodes)
            commands = self._commands(session, instance_id)
            changed |= self._start_commands(session, instance_id, nodes, inits, commands)
            verdict = status.judge(
                instance,
                nodes,
                commands,
                len(plan.groups),
                set(inits),
                CONVERGING_POLL,
                plan.loaded.wheelhouse,
            )
            self._apply_verdict(session, instance, verdict, plan.loaded, view, node_views)
            if changed:
                metadata.announce(session, instance_id)
            session.commit()
        if changed:
            self.notify(instance_id)
        if verdict.status in (S.ACTIVE, S.ERROR):
            # Only news wakes it: a request, a node's report, or the worker's resync
            # finding a node that needs a look.
            return Outcome(None)
        return Outcome(CONVERGING_POLL)

    @staticmethod
    def _track(session: Session, node: models.Node, info: providers.NodeInfo | None) -> None:
        """Move the node's state from what the provider and its agent say.

        ``info`` is the provider's answer of this pass (None: not asked, or gone):
        where the node is is recorded every pass, not only right after a create.
        """
        if info is not None:
            node.address = info.address
            node.ports = dict(info.ports)
            if node.location and info.location != node.location:
                moved = (
                    f"node {node.name} moved from {node.location} to {info.location}: it starts "
                    f"with an empty volume (its data stayed on {node.location})"
                )
                events.record(session, node.instance_id, "node_moved", moved, node.name)
            node.location = info.location
            node.evicted = info.evicted
            if node.state in (N.PLANNED, N.REPLACING):
                node.state = N.STARTING
                started = f"node {node.name} started"
                events.record(session, node.instance_id, "node_started", started, node.name)
        if node.state == N.STARTING and node.last_seen_at is not None:
            node.state = N.RUNNING

    @staticmethod
    def _init_commands(
        loaded: LoadedType, version: sdk.Version, nodes: list[models.Node]
    ) -> dict[str, sdk.Command]:
        """The ``init`` command each node's role declares, by node name."""
        by_role: dict[str, sdk.Command | None] = {}
        for role in {node.role for node in nodes}:
            declared = loaded.declaration.data_plane(role, version).commands
            by_role[role] = next((c for c in declared if c.name == "init"), None)
        return {n.name: init for n in nodes if (init := by_role[n.role]) is not None}

    def _start_commands(
        self,
        session: Session,
        instance_id: str,
        nodes: list[models.Node],
        inits: dict[str, sdk.Command],
        commands: list[models.NodeCommand],
    ) -> bool:
        """Queue ``init`` once per node after its first config applied; time out stale ones.

        ``commands`` is the instance's command list; new commands are appended to it.
        """
        now = self.clock()
        self._time_out(session, instance_id, commands, now)
        started = {c.node_name for c in commands if c.name == "init"}
        queued = [
            n
            for n in nodes
            if n.name in inits
            and n.name not in started
            and n.state == N.RUNNING
            and n.agent_state == "ready"
        ]
        for node in queued:
            timeout = inits[node.name].timeout
            command = models.NodeCommand(
                instance_id=instance_id,
                node_name=node.name,
                name="init",
                timeout=timeout,
                deadline_at=now + timedelta(seconds=timeout + COMMAND_SLACK),
            )
            session.add(command)
            commands.append(command)
            events.record(session, instance_id, "command_queued", "init queued", node.name)
        if queued:
            session.flush()
            metadata.bump(session, instance_id)
        return bool(queued)

    @staticmethod
    def _time_out(
        session: Session, instance_id: str, commands: list[models.NodeCommand], now: datetime
    ) -> None:
        """A command the agent never finished by its deadline is ``timed_out``."""
        for command in commands:
            if (
                command.state in (C.PENDING, C.RUNNING)
                and command.deadline_at
                and (command.deadline_at < now)
            ):
                command.state = C.TIMED_OUT
                command.finished_at = now
                events.record(
                    session,
                    instance_id,
                    "command_timed_out",
                    f"{command.name} timed out",
                    command.node_name,
                )

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
        if verdict.status == S.ACTIVE:
            instance.observed_generation = instance.generation
            public = views.public_view(view, loaded.declaration)
            instance.endpoints = dict(loaded.declaration.endpoints(public, node_views))
        for op in self._open_operations(session, instance.id):
            if op.state != O.RUNNING or op.kind == "delete":
                # Sent during this pass (the next one takes it up), or ended by deletion
                # alone: an ACTIVE verdict must not end a delete it never acted on.
                continue
            op.progress = verdict.progress
            if verdict.status == S.ERROR:
                op.state = O.FAILED
                op.error = verdict.reason
            elif (
                verdict.status == S.ACTIVE and instance.observed_generation >= op.target_generation
            ):
                op.state = O.SUCCEEDED

    @staticmethod
    def _set_status(
        session: Session, instance: models.Instance, new: models.InstanceStatus, reason: str
    ) -> None:
        """Move the instance's status.

        A new status is an event, and so is a new reason for a status that needs a
        person (``ERROR``, ``DEGRADED``); the progress of a converging instance is not.
        """
        needs_a_person = new in (S.ERROR, S.DEGRADED)
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
            if instance is None or instance.status == S.DELETED:
                return
            self._set_status(session, instance, S.ERROR, reason)
            for op in self._open_operations(session, instance_id):
                op.state = O.FAILED
                op.error = reason

    # -- deletion ---------------------------------------------------------------

    def _delete(self, instance_id: str) -> Outcome:
        with self.sessions() as session:
            names = {n.name for n in self._nodes(session, instance_id)}
        owned = {providers.INSTANCE: instance_id}
        names |= {n.name for n in self.provider.list_nodes(owned)}
        names |= {v.name for v in self.provider.list_volumes(owned)}
        for name in sorted(names):
            self.provider.delete_volume(name)  # the node first, then its data
        with self.sessions.begin() as tx:
            row = tx.get(models.Instance, instance_id, with_for_update=True)
            assert row is not None
            tx.execute(delete(models.Node).where(models.Node.instance_id == row.id))
            tx.execute(delete(models.NodeCommand).where(models.NodeCommand.instance_id == row.id))
            tx.execute(
                delete(models.MetadataDocument).where(models.MetadataDocument.instance_id == row.id)
            )
            self._set_status(tx, row, S.DELETED, "")
            row.deleted_at = self.clock()
            events.record(tx, row.id, "deleted", f"{len(names)} node(s) removed")
            for op in self._open_operations(tx, row.id):
                op.progress = "deleted"
                if op.kind == "delete":
                    op.state = O.SUCCEEDED
                else:
                    op.state = O.FAILED
                    op.error = "the instance was deleted"
        return Outcome(None)

    # -- small helpers ------------------------------------------------------------

    @staticmethod
    def _nodes(session: Session, instance_id: str) -> list[models.Node]:
        return list(
            session.scalars(
                select(models.Node)
                .where(models.Node.instance_id == instance_id)
                .order_by(models.Node.name)
            )
        )

    @staticmethod
    def _commands(session: Session, instance_id: str) -> list[models.NodeCommand]:
        return list(
            session.scalars(
                select(models.NodeCommand)
                .where(models.NodeCommand.instance_id == instance_id)
                .order_by(models.NodeCommand.created_at)
            )
        )

    @staticmethod
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


def news_may_wait(session: Session, node: models.Node) -> bool:
    """Whether news from ``node`` that brings it nearer to serving (it registered, it
    applied a revision, it turned healthy) may wait for its instance's next pass instead
    of waking one now.

    A converging instance is looked at every ``CONVERGING_POLL`` anyway, and while
    another of its nodes has not applied the instance's generation, one node's progress
    cannot end the wait. A pass for each such report would be, for one change of a
    thousand-node instance, a thousand passes over a thousand nodes. The last node's news
    wakes a pass at once, so a converged instance turns ``ACTIVE`` without delay.
    """
    instance = session.get(models.Instance, node.instance_id)
    if instance is None or instance.status not in (S.IN_PROGRESS, S.UPDATING):
        return False
    lagging = (
        select(models.Node.name)
        .where(
            models.Node.instance_id == node.instance_id,
            models.Node.name != node.name,
            models.Node.applied_generation < instance.generation,
        )
        .limit(1)
    )
    return session.scalar(lagging) is not None


def _all_serve(instance: models.Instance, nodes: list[models.Node]) -> bool:
    """Whether every node serves the instance's observed generation: the gate of a rollout's
    and a drain's next step, so neither takes a second node down."""
    return not any(status.waiting_on(n, instance.observed_generation, None) for n in nodes)
