"""What a type declares of its backups; the control plane owns everything else.

The control plane keeps the schedules, the catalogue, retention, each
instance's encryption key, checksums and the drills that prove a backup
restores. A type says what its engine can keep (:class:`Backups`) and ships the
node-side steps as commands of the role that makes backups, each run by the
agent with ``{{ command.args.* }}`` and ``{{ command.result }}`` (the file it
writes its JSON result to) in its context:

- ``backup`` (args ``backup``: the catalogue id, ``kind``: ``full``,
  ``incremental`` or ``snapshot``) makes one into the instance's own place of
  the repository, ``{{ backup.store }}``, and writes a :class:`BackupReport`;
- ``restore`` (args ``label``: a backup the engine named, or ``""``;
  ``point_in_time``: RFC 3339, or ``""``; both empty: the latest point) runs
  on a new node *before its services start*, onto its empty volume, from
  ``{{ backup.source }}``, and writes a :class:`RestoreReport`;
- ``verify`` (args ``label``) runs on a drill's scratch node once the restored
  engine serves: the type's own check of the data, and the checksums of the
  backup's objects as the repository holds them, in a :class:`VerifyReport`;
- ``expire`` (args ``label``) deletes one backup and the log only it needed.

``backup.store`` and ``backup.source`` are mappings: ``repository`` (``kind``
``filesystem`` with ``path``, or ``s3`` with ``endpoint``, ``bucket``,
``region``, ``access_key_id``, ``secret_access_key``, ``ca_certificate``),
``path`` (the instance's own directory in it, absolute), ``key`` (the
instance's encryption passphrase) and, for ``store``, ``continuous``.

A type with continuous archiving has its engine's archive step write
:class:`ArchiveStatus` to ``{{ node.backup.archive_status }}``
(:data:`ARCHIVE_STATUS`) after every attempt: the agent reports it, and the
control plane tells the recovery window and an archive that stopped from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

BackupMethod = Literal["snapshot", "continuous"]
BackupKind = Literal["full", "incremental", "snapshot"]

BACKUP_STEP, RESTORE_STEP, VERIFY_STEP, EXPIRE_STEP = "backup", "restore", "verify", "expire"
"""The names of the node-side steps: commands of the role that makes backups."""

ARCHIVE_STATUS = "backup/archive-status.json"
"""Where, under the node's directory, the archive step records its last attempt."""


@dataclass(frozen=True)
class Backups:
    """What the engine of a type can keep of an instance (``PaasType.backups``).

    ``role`` is the role whose first node makes backups; ``methods`` the ways it
    can: ``snapshot`` (a consistent copy at one moment) and ``continuous``
    (its log archived as it is written, for a restore to any point since the
    oldest backup); ``consistency`` says in a sentence what a restored copy
    guarantees, shown to users; ``incremental``: whether a backup may hold only
    what changed since the one before.
    """

    role: str
    methods: tuple[BackupMethod, ...]
    consistency: str
    incremental: bool = False

    @property
    def point_in_time(self) -> bool:
        return "continuous" in self.methods


class _Report(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BackupReport(_Report):
    """What a ``backup`` step made, written as JSON to ``{{ command.result }}``."""

    label: str = Field(min_length=1, max_length=200, description="the engine's name for it")
    kind: BackupKind
    started_at: datetime
    finished_at: datetime
    size_bytes: int = Field(ge=0, description="bytes stored in the repository")
    objects: dict[str, str] = Field(
        description="sha256 of every object stored, by its path under the instance's own"
    )
    position: dict[str, Any] = Field(
        default_factory=dict,
        description="the engine's position: for postgres start_lsn, stop_lsn, timeline",
    )
    depends_on: str = Field(default="", description="the label of the backup it builds on")


class RestoreReport(_Report):
    """What a ``restore`` step restored."""

    label: str = Field(min_length=1, max_length=200)
    point: datetime | None = Field(default=None, description="the point restored to, if known")


class VerifyReport(_Report):
    """What a ``verify`` step found on a drill's scratch node."""

    objects: dict[str, str] = Field(description="sha256 of the backup's objects as stored now")
    check: str = Field(default="", max_length=4000, description="what the type's check said")


class ArchiveStatus(_Report):
    """The archive step's last attempt (:data:`ARCHIVE_STATUS`)."""

    archived_at: datetime | None = Field(
        default=None, description="when a log segment was last archived"
    )
    segment: str = Field(default="", max_length=200, description="the last one archived")
    failed_at: datetime | None = Field(default=None, description="the last attempt that failed")
    error: str = Field(default="", max_length=2000)
