"""The data plane's tables: nodes and lifecycle commands, which only the orchestrator
writes, and what the nodes' agents report of them, which only the agent API writes.

Each row has one writer. The orchestrator's row says what it decided (a node's state,
where it runs, which *incarnation* of it is current; a command's deadline); the agent's
row beside it says what the agent last reported. Neither ever writes the other's, and
the orchestrator alone judges what the reports mean (``metapaas.orchestrator``).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from metapaas.db.base import Base
from metapaas.db.columns import JSONDocument, StateColumn, new_id, utcnow


class NodeState(enum.StrEnum):
    """The orchestrator's view of a node; the agent's own view is its :class:`NodeReport`.

    ``PLANNED`` and ``REPLACING`` are written *before* the provider is asked, so
    a crash between the decision and the provider call is seen on the next pass.
    """

    PLANNED = "PLANNED"  # row and bootstrap token written; the provider may not have it yet
    STARTING = "STARTING"  # the provider (re)starts it; its agent has not reported since
    RUNNING = "RUNNING"  # its agent reports
    REPLACING = "REPLACING"  # to be deleted and created anew (unreachable or unhealthy too long)


class AgentState(enum.StrEnum):
    """What a node's agent says of its work on the metadata it last read."""

    APPLYING = "applying"
    READY = "ready"
    FAILED = "failed"


class Health(enum.StrEnum):
    """What a node's health checks say, as its agent reports it."""

    UNKNOWN = "unknown"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


class Node(Base):
    """A data-plane node the orchestrator planned; its name is deterministic.

    Every (re)start the orchestrator decides is a new ``incarnation`` with a fresh
    one-time bootstrap token: whatever the agent of an earlier one reported, and its
    credential, no longer count.
    """

    __tablename__ = "nodes"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    instance_id: Mapped[str] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(31))
    ordinal: Mapped[int] = mapped_column(Integer)
    address: Mapped[str] = mapped_column(String(255), default="")
    ports: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[NodeState] = mapped_column(StateColumn(NodeState), default=NodeState.PLANNED)
    incarnation: Mapped[int] = mapped_column(Integer, default=1)
    bootstrap_hash: Mapped[str] = mapped_column(String(64), default="", index=True)
    bootstrap_expires_at: Mapped[datetime | None]
    # A retry asks failed nodes to apply again: their reports about revisions before this
    # one are not judged (the report stays the agent's; only what it counts for changes).
    reports_from_revision: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]  # when the current incarnation was decided
    # The plugin version the node runs: "<distribution> <version>", and the address of its
    # wheelhouse ("" for a plugin bundled with the runtime, which runs from its environment).
    software: Mapped[str] = mapped_column(String(300), default="")
    wheelhouse: Mapped[str] = mapped_column(String(64), default="")
    location: Mapped[str] = mapped_column(String(63), default="")  # the provider's: a host
    evicted: Mapped[bool] = mapped_column(default=False)  # its provider wants it elsewhere
    # The node's server certificate (PEM), its key sealed like every secret, the names
    # it was issued for (the node's address and name), the fingerprint of the CA that
    # signed it and when it is due for renewal.
    tls_certificate: Mapped[str] = mapped_column(Text, default="")
    tls_sealed_key: Mapped[str] = mapped_column(Text, default="")
    tls_names: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    tls_issuer: Mapped[str] = mapped_column(String(110), default="")
    tls_renew_at: Mapped[datetime | None]

    # The agent's row, read beside this one; never written through it.
    reported: Mapped[NodeReport | None] = relationship(viewonly=True, lazy="selectin")

    @property
    def report(self) -> NodeReport | None:
        """The agent's report of the current incarnation; None before its agent registered
        (one of an earlier incarnation is void)."""
        reported = self.reported
        if reported is None or reported.incarnation != self.incarnation:
            return None
        return reported


class NodeReport(Base):
    """What a node's agent last said about itself: only the agent API writes it.

    A registration starts the report of the node's current incarnation, with a new
    credential; each report after it (also the heartbeat) updates it. ``health_since``
    is when the reported health began: a fact, which the orchestrator judges.
    """

    __tablename__ = "node_reports"

    node_name: Mapped[str] = mapped_column(
        ForeignKey("nodes.name", ondelete="CASCADE"), primary_key=True
    )
    instance_id: Mapped[str] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), index=True
    )
    incarnation: Mapped[int] = mapped_column(Integer)
    credential_hash: Mapped[str] = mapped_column(String(64), unique=True)
    registered_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    applied_revision: Mapped[int] = mapped_column(Integer, default=0)
    applied_generation: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[AgentState] = mapped_column(StateColumn(AgentState), default=AgentState.APPLYING)
    health: Mapped[Health] = mapped_column(StateColumn(Health), default=Health.UNKNOWN)
    health_since: Mapped[datetime]
    message: Mapped[str] = mapped_column(Text, default="")
    #: The engine's archive step's last attempt (``sdk.ArchiveStatus``), as reported.
    archive: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)


class CommandState(enum.StrEnum):
    """A lifecycle command's state, as :attr:`NodeCommand.state` reads it."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


class ResultState(enum.StrEnum):
    """What a node's agent may report of a command: it runs, or how it ended."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


OPEN_COMMANDS = (CommandState.PENDING, CommandState.RUNNING)
"""A command in one of these states is still for its node to run or finish."""


class NodeCommand(Base):
    """A lifecycle command for one node, as the orchestrator queued it; done only when its
    agent says so (:class:`CommandResult`), or timed out when its deadline passed first."""

    __tablename__ = "node_commands"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    instance_id: Mapped[str] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), index=True
    )
    node_name: Mapped[str] = mapped_column(String(63), index=True)
    name: Mapped[str] = mapped_column(String(63))
    #: ``{{ command.args }}`` on the node: e.g. a backup's id and kind.
    args: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    timeout: Mapped[float] = mapped_column(default=60.0)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    deadline_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    timed_out_at: Mapped[datetime | None]  # the orchestrator's mark: the deadline passed

    # The agent's row, read beside this one; never written through it.
    result: Mapped[CommandResult | None] = relationship(viewonly=True, lazy="selectin")

    @property
    def state(self) -> CommandState:
        """The one reading of a command's two rows. A timed-out mark stays: the agent's
        API takes no result for a command once it is marked, so a result that comes
        with the mark came after the deadline too."""
        if self.timed_out_at is not None:
            return CommandState.TIMED_OUT
        if self.result is None:
            return CommandState.PENDING
        return CommandState(self.result.state)


class CommandResult(Base):
    """What a node's agent reported of a lifecycle command: only the agent API writes it.
    A final result is kept as sent: the same result sent again changes nothing."""

    __tablename__ = "command_results"

    command_id: Mapped[str] = mapped_column(
        ForeignKey("node_commands.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[ResultState] = mapped_column(StateColumn(ResultState))
    exit_code: Mapped[int | None]
    output: Mapped[str] = mapped_column(Text, default="")
    #: What the command wrote to ``{{ command.result }}`` (a JSON object), if anything.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    #: How far it was when it last said (``sdk.StepProgress``); a final result keeps it.
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    reported_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
