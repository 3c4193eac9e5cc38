"""The ``ssh`` provider's own tables, all prefixed ``ssh_`` (its migration stream makes them).

The pool's hosts, where each node and each node's volume was placed, and the
admins' pins of a project's or a type's new nodes to a provider and a pool.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, MetaData, String, Text, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from metapaas.db import columns


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=columns.NAMING_CONVENTION)
    type_annotation_map = columns.TYPE_ANNOTATION_MAP


class HostState(enum.StrEnum):
    """Only the host monitor moves these; the API records a host ``PENDING`` and wakes it."""

    PENDING = "PENDING"  # registered, not checked yet
    READY = "READY"  # reachable with its pinned key and able to run nodes
    UNREACHABLE = "UNREACHABLE"  # no SSH session (down, refused, or a host key mismatch)
    UNSUITABLE = "UNSUITABLE"  # reachable but cannot run nodes; ``state_reason`` says why


class PinScope(enum.StrEnum):
    """What a pin applies to: a project's new nodes, or a type's."""

    PROJECT = "project"
    TYPE = "type"


class Host(Base):
    """A machine of the pool, registered by an admin.

    The private key is sealed (the control plane's sealer) and never shown again; the
    host key is pinned: a session whose key differs is refused, never trusted on first use.
    """

    __tablename__ = "ssh_hosts"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    address: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer, default=22)
    user: Mapped[str] = mapped_column(String(32), default="root")
    sealed_private_key: Mapped[str] = mapped_column(Text)
    host_key: Mapped[str] = mapped_column(Text)
    capacity_nodes: Mapped[int] = mapped_column(Integer)
    capacity_memory_mb: Mapped[int] = mapped_column(Integer)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    install_packages: Mapped[bool] = mapped_column(default=False)  # the host's policy
    state: Mapped[HostState] = mapped_column(String(16), default=HostState.PENDING)
    state_reason: Mapped[str] = mapped_column(Text, default="not checked yet")
    facts: Mapped[dict[str, Any]] = mapped_column(default=dict)  # what the last check found
    draining: Mapped[bool] = mapped_column(default=False)  # its nodes move elsewhere
    checked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=columns.utcnow)


class HostNode(Base):
    """Where a node was placed: written before the host is asked, so a crash never leaves a
    node on a host that no row names."""

    __tablename__ = "ssh_host_nodes"

    node_name: Mapped[str] = mapped_column(String(63), primary_key=True)
    host_name: Mapped[str] = mapped_column(ForeignKey("ssh_hosts.name"), index=True)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    memory_mb: Mapped[int] = mapped_column(Integer, default=0)
    ports: Mapped[dict[str, Any]] = mapped_column(default=dict)  # as the host allocated them
    software: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=columns.utcnow)


class HostVolume(Base):
    """Where a node's volume lives. When its node moves off a lost host the row moves
    with it (a new, empty volume), and the lost host removes its copy when it returns."""

    __tablename__ = "ssh_host_volumes"

    node_name: Mapped[str] = mapped_column(String(63), primary_key=True)
    host_name: Mapped[str] = mapped_column(ForeignKey("ssh_hosts.name"), index=True)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=columns.utcnow)


class Pin(Base):
    """An admin's pin of a project's or a type's new nodes to a provider, and on a provider
    with hosts to a pool of them (hosts with every one of ``host_labels``). A project's pin
    wins over its type's; with neither, the server's default provider places."""

    __tablename__ = "ssh_pins"

    scope: Mapped[PinScope] = mapped_column(String(16), primary_key=True)
    target: Mapped[str] = mapped_column(String(63), primary_key=True)  # project id, type slug
    provider: Mapped[str] = mapped_column(String(63))
    host_labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=columns.utcnow)


def any_host(sessions: sessionmaker[Session]) -> bool:
    """Whether a host is registered: the provider is in use."""
    with sessions() as session:
        return session.scalar(select(Host.name).limit(1)) is not None
