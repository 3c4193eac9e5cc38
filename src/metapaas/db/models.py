"""The runtime's own tables. Plugins add theirs, prefixed with their slug.

The data plane's tables (nodes, their agents' reports, lifecycle commands and their
results) live in :mod:`metapaas.db.dataplane`, the backups' (repositories, policies, the
catalogue) in :mod:`metapaas.db.backups`, the base in :mod:`metapaas.db.base` and
the column types in :mod:`metapaas.db.columns`; they are named here too, so the runtime
reads them all as ``models.*``.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from metapaas.db.backups import RESTORABLE as RESTORABLE
from metapaas.db.backups import Backup as Backup
from metapaas.db.backups import BackupPlace as BackupPlace
from metapaas.db.backups import BackupPolicy as BackupPolicy
from metapaas.db.backups import BackupRepository as BackupRepository
from metapaas.db.backups import BackupState as BackupState
from metapaas.db.backups import RepositoryKind as RepositoryKind
from metapaas.db.backups import RepositoryState as RepositoryState
from metapaas.db.backups import Restore as Restore
from metapaas.db.base import Base as Base
from metapaas.db.columns import INT_MAX as INT_MAX
from metapaas.db.columns import JSONDocument, StateColumn
from metapaas.db.columns import new_id as new_id
from metapaas.db.columns import utcnow as utcnow
from metapaas.db.dataplane import OPEN_COMMANDS as OPEN_COMMANDS
from metapaas.db.dataplane import AgentState as AgentState
from metapaas.db.dataplane import CommandResult as CommandResult
from metapaas.db.dataplane import CommandState as CommandState
from metapaas.db.dataplane import Health as Health
from metapaas.db.dataplane import Node as Node
from metapaas.db.dataplane import NodeCommand as NodeCommand
from metapaas.db.dataplane import NodeReport as NodeReport
from metapaas.db.dataplane import NodeState as NodeState
from metapaas.db.dataplane import ResultState as ResultState


class Role(enum.StrEnum):
    """Roles held in a project; ``admin`` is global and lives on the user."""

    OWNER = "owner"
    MEMBER = "member"
    VIEWER = "viewer"


class InstanceStatus(enum.StrEnum):
    NEW = "NEW"
    IN_PROGRESS = "IN_PROGRESS"
    ACTIVE = "ACTIVE"
    UPDATING = "UPDATING"
    DEGRADED = "DEGRADED"
    ERROR = "ERROR"
    DELETING = "DELETING"
    DELETED = "DELETED"


class OperationState(enum.StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


OPEN_OPERATIONS = (OperationState.PENDING, OperationState.RUNNING)
"""An operation in one of these states is a request still under way."""


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    is_admin: Mapped[bool] = mapped_column(default=False)
    default_project_id: Mapped[str | None] = mapped_column(
        ForeignKey("projects.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """A bearer token; only its SHA-256 is kept, the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class RoleBinding(Base):
    __tablename__ = "role_bindings"
    __table_args__ = (UniqueConstraint("user_id", "project_id", name="uq_role_bindings_member"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PaasTypeRecord(Base):
    """What the registry found for one slug: where it came from and whether it works."""

    __tablename__ = "paas_types"

    slug: Mapped[str] = mapped_column(String(31), primary_key=True)
    distribution: Mapped[str] = mapped_column(String(200), default="")
    distribution_version: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Instance(Base):
    __tablename__ = "instances"
    __table_args__ = (
        # Names are unique among live instances only, so a deleted name can be reused.
        Index(
            "uq_instances_live_name",
            "type_slug",
            "project_id",
            "name",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        # A page of a type's live instances in list order is read off this index, not
        # sorted from every instance of the type.
        Index(
            "ix_instances_live_list_order",
            "type_slug",
            "created_at",
            "id",
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    type_slug: Mapped[str] = mapped_column(String(31), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    version: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    spec: Mapped[dict[str, Any]]
    sealed_secrets: Mapped[str] = mapped_column(Text, default="")
    endpoints: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[InstanceStatus] = mapped_column(
        StateColumn(InstanceStatus), default=InstanceStatus.NEW
    )
    status_reason: Mapped[str] = mapped_column(Text, default="")
    generation: Mapped[int] = mapped_column(Integer, default=1)
    observed_generation: Mapped[int] = mapped_column(Integer, default=0)
    # The wheelhouse a rollout moves the instance's nodes to ("" when none is under way):
    # the orchestrator's, so that ``generation`` stays the user's desired state alone.
    rolling_to: Mapped[str] = mapped_column(String(64), default="")
    # A restore drill's scratch instance: the instance whose backup it proves. No user
    # sees it (it is no live instance of its type's routes); the orchestrator makes and
    # deletes it.
    drill_of: Mapped[str | None] = mapped_column(ForeignKey("instances.id"), index=True)
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None]


class Resource(Base):
    """A child resource of an instance (an S3 bucket, a PostgreSQL role...)."""

    __tablename__ = "resources"
    __table_args__ = (
        UniqueConstraint("instance_id", "collection", "name", name="uq_resources_name"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    instance_id: Mapped[str] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), index=True
    )
    collection: Mapped[str] = mapped_column(String(63))
    name: Mapped[str] = mapped_column(String(255))
    spec: Mapped[dict[str, Any]]
    sealed_secrets: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Operation(Base):
    """One asynchronous request and how far it got."""

    __tablename__ = "operations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(32))
    # An operation on an instance names it and its project; one on a plugin names the plugin.
    instance_id: Mapped[str | None] = mapped_column(ForeignKey("instances.id"), index=True)
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id"), index=True)
    plugin_name: Mapped[str | None] = mapped_column(String(200), index=True)
    state: Mapped[OperationState] = mapped_column(
        StateColumn(OperationState), default=OperationState.PENDING
    )
    progress: Mapped[str] = mapped_column(Text, default="")
    target_generation: Mapped[int] = mapped_column(Integer, default=0)
    #: What was asked beyond the kind: e.g. a backup's ``kind``.
    params: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[str | None] = mapped_column(String(36))
    actor_name: Mapped[str] = mapped_column(String(63))
    action: Mapped[str] = mapped_column(String(128))
    target_type: Mapped[str] = mapped_column(String(63))
    target_id: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[str | None] = mapped_column(String(36))
    request_id: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class MetadataDocument(Base):
    """The instance-wide part of what nodes read, with a durable, strictly rising revision."""

    __tablename__ = "metadata_documents"

    instance_id: Mapped[str] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True
    )
    revision: Mapped[int] = mapped_column(Integer, default=0)
    document: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CertificateAuthority(Base):
    """The control plane's own CA, made by the first process that needed it and shared
    by every replica through this row; its key is sealed like every secret."""

    __tablename__ = "certificate_authorities"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    certificate: Mapped[str] = mapped_column(Text)
    sealed_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_id: Mapped[str] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(63))
    node_name: Mapped[str] = mapped_column(String(63), default="")
    message: Mapped[str] = mapped_column(Text, default="")


class WorkItem(Base):
    """Durable work queue: one row per instance that needs a reconcile.

    ``requested`` counts enqueues, so a request that arrives while a worker
    holds the item is not lost when the worker finishes.
    """

    __tablename__ = "work_items"

    instance_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    due_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    requested: Mapped[int] = mapped_column(Integer, default=1)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str] = mapped_column(String(64), default="")
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")


class PluginState(enum.StrEnum):
    INSTALLING = "INSTALLING"  # a version is being resolved, checked, loaded (first or upgrade)
    ACTIVE = "ACTIVE"  # its served version is loaded by every control-plane process
    ERROR = "ERROR"  # the last request failed; ``error`` says why; a served version still serves
    REMOVING = "REMOVING"  # unloading everywhere; then the row goes


class Plugin(Base):
    """A plugin installed at run time: what was asked for, what serves, how far a change got.

    The *served* fields (``version``, ``wheelhouse``, ``types``) change only when a
    new version has passed every check, so a failed upgrade leaves the last good
    version serving. Bundled plugins (installed with the runtime) have no row.
    """

    __tablename__ = "plugins"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)  # normalised distribution
    state: Mapped[str] = mapped_column(String(16), default=PluginState.INSTALLING)
    progress: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")
    request: Mapped[dict[str, Any]] = mapped_column(default=dict)  # package, sha256, index_url
    request_id: Mapped[int] = mapped_column(Integer, default=1)  # rises with every request
    candidate: Mapped[str] = mapped_column(String(64), default="")  # wheelhouse being checked
    taken_request: Mapped[int] = mapped_column(Integer, default=0)  # the request being worked on
    promoted_request: Mapped[int] = mapped_column(Integer, default=0)  # request now served
    version: Mapped[str] = mapped_column(String(64), default="")
    sha256: Mapped[str] = mapped_column(String(64), default="")  # of the plugin's own wheel
    wheelhouse: Mapped[str] = mapped_column(String(64), default="")  # served; "" = none yet
    types: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    purge: Mapped[bool] = mapped_column(default=False)
    claimed_by: Mapped[str] = mapped_column(String(300), default="")  # "<host>:<pid>"
    claimed_until: Mapped[datetime | None]
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Wheelhouse(Base):
    """A plugin version and its own dependencies as wheels, addressed by content hash."""

    __tablename__ = "plugin_wheelhouses"

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    distribution: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(64))
    files: Mapped[list[dict[str, str]]] = mapped_column(JSONDocument)  # [{filename, sha256}]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PluginFile(Base):
    """The bytes of one wheel, by SHA-256: every replica and node installs the same bytes."""

    __tablename__ = "plugin_files"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    filename: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)


class ControlPlaneProcess(Base):
    """A running API or worker process and the plugin versions it has loaded."""

    __tablename__ = "control_plane_processes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    wheelhouses: Mapped[list[str]] = mapped_column(JSONDocument, default=list)  # loaded, sorted
    load_error: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
