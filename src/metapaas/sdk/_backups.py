"""What a type declares of its backups; the control plane owns everything else.

The control plane keeps the schedules, the catalogue, retention, each
instance's encryption key, checksums and the drills that prove a backup
restores. A type says what its engine can keep (:class:`Backups`) and ships the
node-side steps as commands of the role that makes backups, each run by the
agent with ``{{ command.args.* }}``, ``{{ command.result }}`` (the file it
writes its JSON result to), ``{{ command.progress }}`` (where it may say how far it
is: below) and ``{{ backup.staging }}`` (an empty directory of
the command's own under the node directory, removed after it) in its context
(an arg named like a method of a mapping, as ``keys``, is
``{{ command.args["keys"] }}``: Jinja2 finds the method first):

- ``backup`` (args ``backup``: the catalogue id, ``kind``: ``full``,
  ``incremental`` or ``snapshot``) makes one into the instance's own place of
  the repository, ``{{ backup.store }}``, and writes a :class:`BackupReport`;
- ``restore`` (args ``label``: a backup the engine named, or ``""``;
  ``point_in_time``: RFC 3339, or ``""``; both empty: the latest point) runs
  on a new node *before its services start*, onto its empty volume, from
  ``{{ backup.source }}``, and writes a :class:`RestoreReport`;
- ``verify`` (args ``label``, and every field of the ``position`` the backup's
  step reported, as redis's key count) runs on a drill's scratch node once the
  restored engine serves: the type's own check of the data, and the checksums of
  the backup's objects as the repository holds them, in a :class:`VerifyReport`;
- ``expire`` (args ``label``) deletes one backup and the log only it needed.

``backup.store`` and ``backup.source`` are mappings: ``repository`` (``kind``
``filesystem`` with ``path``, or ``s3`` with ``endpoint``, ``bucket``,
``region``, ``access_key_id``, ``secret_access_key``, ``ca_certificate``),
``path`` (the instance's own directory in it, absolute), ``key`` (the
instance's encryption passphrase) and, for ``store``, ``continuous``.

Who writes the repository is :attr:`Backups.stored_by`. A type whose engine has
a tool of its own for it (postgres: pgBackRest) says ``engine``, and its steps
do all of the above. A snapshot type says ``agent`` (the default), and its steps
touch no repository: the agent does that part around them.

- ``backup`` writes the snapshot's files into ``{{ backup.staging }}`` and may
  say what it knows of the :class:`BackupReport` (``position``, ``label``) in
  its result. The agent then seals each file with ``backup.store.key``
  (AES-256-GCM), uploads it to ``<store.path>/<label>/<file>`` (``label``:
  args ``backup`` unless the step named another) and completes the report:
  ``kind`` ``snapshot``, ``objects`` (the sha256 of each object as stored, by
  its key under ``store.path``), ``size_bytes`` (bytes stored), when it
  started and finished.
- ``restore`` (args ``label`` names the backup; a snapshot has no other point)
  finds the backup's files, downloaded from ``backup.source`` and opened, in
  ``{{ backup.staging }}``, and moves them to where the engine loads them at
  start.
- ``verify`` checks the restored engine (its result's ``check``, or its
  output); the agent adds ``objects``, having hashed the backup's objects as
  stored and opened each with the key: a changed one fails the step, naming it.
- ``expire`` is the agent's alone (it deletes ``<store.path>/<label>/``): the
  type declares no such command.

A step that runs long may say how far it is: it writes :class:`StepProgress`,
``{"done_bytes": N, "total_bytes": M}`` (``M`` 0 when it does not know), to
``{{ command.progress }}``, rewriting it as it goes (``sdk.write_private`` replaces
it whole, so no half of it is read). While the step runs the agent reads the file
when it changed, at most every two seconds, and sends it with the step's
``running`` state; the backup's operation shows it (``backing up on <node>: 1.2 GiB
of 3.4 GiB``). A file that is not one is ignored: progress never fails a step. For
a snapshot type the agent's own upload writes the same file (bytes of the staged
files sealed and stored, of their total).

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
StoredBy = Literal["agent", "engine"]

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

    ``stored_by`` says who writes the repository. ``engine``: the engine's own
    tool does (postgres with pgBackRest), run by the type's steps. ``agent``:
    the type's ``backup`` step only writes its snapshot's files into
    ``{{ backup.staging }}`` and reports what it knows (``position``) in its
    result; the agent seals, uploads and checksums them and completes the
    :class:`BackupReport`, puts them back into ``{{ backup.staging }}`` before
    the type's ``restore`` step, hashes and opens them for ``verify``, and
    expires a backup by itself (each step in detail: below, and in the module's
    docstring).
    """

    role: str
    methods: tuple[BackupMethod, ...]
    consistency: str
    incremental: bool = False
    stored_by: StoredBy = "agent"

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


class StepProgress(_Report):
    """How far a running step is, written as JSON to ``{{ command.progress }}``."""

    done_bytes: int = Field(ge=0, description="bytes done so far")
    total_bytes: int = Field(default=0, ge=0, description="bytes in all; 0 when not known")


class ArchiveStatus(_Report):
    """The archive step's last attempt (:data:`ARCHIVE_STATUS`)."""

    archived_at: datetime | None = Field(
        default=None, description="when a log segment was last archived"
    )
    segment: str = Field(default="", max_length=200, description="the last one archived")
    failed_at: datetime | None = Field(default=None, description="the last attempt that failed")
    error: str = Field(default="", max_length=2000)

    @property
    def failing(self) -> bool:
        """Whether the last attempt failed: nothing archived since."""
        return self.failed_at is not None and (
            self.archived_at is None or self.failed_at > self.archived_at
        )
