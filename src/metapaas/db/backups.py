"""The backup tables: repositories, each instance's policy and place in one, the catalogue.

The API writes what users ask for (a repository and its check at registration, a
policy and its next runs when it is set, a restore's source); the orchestrator alone
writes the catalogue: a backup's state and what its node reported.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from metapaas.db.base import Base
from metapaas.db.columns import JSONDocument, StateColumn, new_id, utcnow


class RepositoryKind(enum.StrEnum):
    FILESYSTEM = "filesystem"
    S3 = "s3"


class RepositoryState(enum.StrEnum):
    """The last check of a repository: a probe object written, read and deleted."""

    UNCHECKED = "UNCHECKED"
    OK = "OK"
    FAILING = "FAILING"


class BackupRepository(Base):
    """Where backups are stored: a directory of the control plane's machine, or a bucket of
    an S3 service (``instance``: an ``s3`` instance of this control plane)."""

    __tablename__ = "backup_repositories"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    kind: Mapped[RepositoryKind] = mapped_column(StateColumn(RepositoryKind))
    path: Mapped[str] = mapped_column(Text, default="")
    endpoint: Mapped[str] = mapped_column(String(255), default="")
    bucket: Mapped[str] = mapped_column(String(63), default="")
    prefix: Mapped[str] = mapped_column(String(255), default="")
    region: Mapped[str] = mapped_column(String(63), default="")
    access_key_id: Mapped[str] = mapped_column(String(128), default="")
    instance_id: Mapped[str | None] = mapped_column(ForeignKey("instances.id"))
    sealed_secrets: Mapped[str] = mapped_column(Text, default="")  # secret_access_key
    state: Mapped[RepositoryState] = mapped_column(
        StateColumn(RepositoryState), default=RepositoryState.UNCHECKED
    )
    state_reason: Mapped[str] = mapped_column(Text, default="")
    checked_at: Mapped[datetime | None]
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BackupPlace(Base):
    """An instance's own directory in a repository and the key its backups are encrypted
    with (sealed): made at its first policy, never shared; kept after the instance is
    deleted, as long as its backups are."""

    __tablename__ = "backup_places"

    instance_id: Mapped[str] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True
    )
    repository_id: Mapped[str] = mapped_column(ForeignKey("backup_repositories.id"), index=True)
    path: Mapped[str] = mapped_column(Text)
    sealed_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BackupPolicy(Base):
    """When an instance is backed up and for how long backups are kept, and when the next
    backup and drill are due (from the schedules, when the policy is set)."""

    __tablename__ = "backup_policies"

    instance_id: Mapped[str] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True
    )
    repository_id: Mapped[str] = mapped_column(ForeignKey("backup_repositories.id"), index=True)
    schedule: Mapped[str] = mapped_column(String(120))
    retention_count: Mapped[int | None] = mapped_column(Integer)
    retention_days: Mapped[int | None] = mapped_column(Integer)
    continuous: Mapped[bool] = mapped_column(default=False)
    verify: Mapped[str] = mapped_column(String(120), default="")
    set_at: Mapped[datetime] = mapped_column(default=utcnow)  # by its user, not the schedule
    next_backup_at: Mapped[datetime | None] = mapped_column(index=True)
    next_verify_at: Mapped[datetime | None] = mapped_column(index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class BackupState(enum.StrEnum):
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    VERIFIED = "VERIFIED"  # a drill restored it and the type's check passed
    UNRESTORABLE = "UNRESTORABLE"  # a drill could not restore it, or its check failed


RESTORABLE = (BackupState.COMPLETED, BackupState.VERIFIED)
"""A backup in one of these states is one a restore may start from."""


class Backup(Base):
    """One backup of an instance, catalogued: its id is the operation's that made it."""

    __tablename__ = "backups"
    __table_args__ = (UniqueConstraint("instance_id", "label"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    instance_id: Mapped[str] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), index=True
    )
    repository_id: Mapped[str] = mapped_column(ForeignKey("backup_repositories.id"), index=True)
    path: Mapped[str] = mapped_column(Text)
    node_name: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[BackupState] = mapped_column(
        StateColumn(BackupState), default=BackupState.RUNNING
    )
    reason: Mapped[str] = mapped_column(Text, default="")
    label: Mapped[str | None] = mapped_column(String(200))
    depends_on: Mapped[str] = mapped_column(String(200), default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    objects: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    position: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    verified_at: Mapped[datetime | None]
    restore_seconds: Mapped[float | None]


class Restore(Base):
    """Where a restored instance's data comes from: the user's request, and the backup the
    orchestrator chose for it."""

    __tablename__ = "backup_restores"

    instance_id: Mapped[str] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True
    )
    source_instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"), index=True)
    backup_id: Mapped[str | None] = mapped_column(ForeignKey("backups.id", ondelete="SET NULL"))
    point_in_time: Mapped[datetime | None]
    latest: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
