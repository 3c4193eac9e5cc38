"""Lifecycle commands and their deadlines: queued, timed out and cleared by the
orchestrator alone.

A command row is the orchestrator's (what to run, where, by when, and its mark when the
deadline passed first); what the agent reported of it is a row of its own
(``models.CommandResult``), and ``models.NodeCommand.state`` reads the two.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from metapaas import metadata, sdk
from metapaas.db import models
from metapaas.orchestrator import events, status
from metapaas.plugins import LoadedType

COMMAND_SLACK = 30.0
"""Seconds past its own timeout a command's deadline leaves the agent to report it."""

CommandState = models.CommandState


def of_instance(session: Session, instance_id: str) -> list[models.NodeCommand]:
    return list(
        session.scalars(
            select(models.NodeCommand)
            .where(models.NodeCommand.instance_id == instance_id)
            .order_by(models.NodeCommand.created_at)
        )
    )


def declared(loaded: LoadedType, version: sdk.Version, role: str, name: str) -> sdk.Command | None:
    """The command called ``name`` that ``role``'s data plane declares, if it does."""
    plane = loaded.declaration.data_plane(role, version)
    return next((c for c in plane.commands if c.name == name), None)


def inits(
    loaded: LoadedType, version: sdk.Version, nodes: Iterable[models.Node]
) -> dict[str, sdk.Command]:
    """The ``init`` command each node's role declares, by node name."""
    nodes = list(nodes)
    by_role = {role: declared(loaded, version, role, "init") for role in {n.role for n in nodes}}
    return {n.name: init for n in nodes if (init := by_role[n.role]) is not None}


def queue(
    session: Session,
    instance_id: str,
    node_name: str,
    command: sdk.Command,
    now: datetime,
    args: Mapping[str, Any] | None = None,
) -> models.NodeCommand:
    """Queue ``command`` on a node, with its deadline; an event says so. The caller bumps
    the metadata revision, so the node reads it."""
    row = models.NodeCommand(
        instance_id=instance_id,
        node_name=node_name,
        name=command.name,
        args=dict(args or {}),
        timeout=command.timeout,
        created_at=now,
        deadline_at=now + timedelta(seconds=command.timeout + COMMAND_SLACK),
    )
    session.add(row)
    events.record(session, instance_id, "command_queued", f"{command.name} queued", node_name)
    return row


def start_inits(
    session: Session,
    instance_id: str,
    nodes: Iterable[models.Node],
    wanted: dict[str, sdk.Command],
    commands: list[models.NodeCommand],
    now: datetime,
) -> bool:
    """Queue ``init`` once per node after its first config applied; returns whether one was.

    ``commands`` is the instance's command list; new commands are appended to it.
    """
    started = {c.node_name for c in commands if c.name == "init"}
    queued = [
        n
        for n in nodes
        if n.name in wanted
        and n.name not in started
        and n.state == models.NodeState.RUNNING
        and (report := status.judged(n)) is not None
        and report.state == models.AgentState.READY
    ]
    for node in queued:
        commands.append(queue(session, instance_id, node.name, wanted[node.name], now))
    if queued:
        session.flush()
        metadata.bump(session, instance_id)
    return bool(queued)


def time_out(
    session: Session, instance_id: str, commands: Iterable[models.NodeCommand], now: datetime
) -> None:
    """A command its agent did not finish by its deadline is marked timed out; the mark
    stays, and a result the agent sends after it is not taken."""
    for command in commands:
        overdue = command.deadline_at is not None and command.deadline_at < now
        if overdue and command.state in models.OPEN_COMMANDS:
            command.timed_out_at = now
            events.record(
                session,
                instance_id,
                "command_timed_out",
                f"{command.name} timed out",
                command.node_name,
            )


def clear_failed(session: Session, instance_id: str) -> None:
    """A retry: the failed and timed-out commands go, so they are queued and run anew."""
    ended = (CommandState.FAILED, CommandState.TIMED_OUT)
    failed = [c.id for c in of_instance(session, instance_id) if c.state in ended]
    if failed:
        session.execute(delete(models.NodeCommand).where(models.NodeCommand.id.in_(failed)))


def forget(session: Session, node_name: str) -> None:
    """A node replaced: its commands go with the old one, and run again on the new."""
    session.execute(delete(models.NodeCommand).where(models.NodeCommand.node_name == node_name))
