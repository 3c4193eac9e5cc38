"""What the API answers, where its shape is fixed. A type's spec stays a dict."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

Item = TypeVar("Item")


class Answer(BaseModel):
    """A part of an answer; fields a newer server adds are kept, not refused."""

    model_config = ConfigDict(extra="allow")


class FieldProblem(Answer):
    field: str
    rule: str
    message: str


class Problem(Answer):
    """An RFC 9457 problem: the body of every error answer."""

    type: str
    title: str
    status: int
    detail: str = ""
    instance: str = ""
    request_id: str = ""
    errors: list[FieldProblem] = Field(default_factory=list)


class Page(BaseModel, Generic[Item]):
    items: list[Item]
    next_marker: str | None = None


class Items(BaseModel, Generic[Item]):
    """A list answered whole, without paging."""

    items: list[Item]


class VersionEntry(Answer):
    name: str
    default: bool
    deprecated: bool


class TypeSummary(Answer):
    slug: str
    status: str
    error: str = ""
    title: str = ""
    description: str = ""
    distribution: str = ""
    distribution_version: str = ""
    versions: list[VersionEntry] = Field(default_factory=list)
    collections: list[str] = Field(default_factory=list)


class TypeDetail(TypeSummary):
    """A type with the JSON Schemas of its create requests (none for a type in ERROR)."""

    instance_schema: dict[str, Any] = Field(default_factory=dict)
    resource_schemas: dict[str, dict[str, Any]] = Field(default_factory=dict)


class _WithSpec(Answer):
    """An answer whose type-specific fields sit beside the fixed ones."""

    @property
    def spec(self) -> dict[str, Any]:
        """The fields of the type's spec (and any secrets shown once)."""
        return dict(self.model_extra or {})


class InstanceView(_WithSpec):
    id: str
    type: str
    name: str
    project_id: str
    version: str
    description: str = ""
    status: str
    status_reason: str = ""
    generation: int
    observed_generation: int
    endpoints: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime
    operation_id: str | None = Field(
        default=None, description="The operation to follow, in an answer that started one."
    )


class ResourceView(_WithSpec):
    id: str
    instance_id: str
    name: str
    created_at: datetime
    updated_at: datetime


class Operation(Answer):
    id: str
    kind: str
    instance_id: str | None = None
    project_id: str | None = None
    plugin_name: str | None = None
    state: str
    progress: str = Field(default="", description='How far it got, e.g. "2/3 nodes ready".')
    error: str = ""
    created_at: datetime
    updated_at: datetime


class Plugin(Answer):
    """A plugin: installed at run time, or bundled with the runtime."""

    name: str
    bundled: bool
    state: str
    progress: str = ""
    error: str = ""
    version: str = ""
    sha256: str = ""
    wheelhouse: str = ""
    types: list[str] = Field(default_factory=list)
    request: dict[str, Any] = Field(default_factory=dict)
    operation_id: str | None = None
    rollout: dict[str, int] | None = Field(
        default=None, description="Nodes of its types, and how many run the served version."
    )
    created_at: datetime | None = None
    updated_at: datetime | None = None


class PluginChange(Plugin):
    """The answer to an install, upgrade or removal: the plugin and its operation."""

    operation: Operation


class Event(Answer):
    id: int
    at: datetime
    kind: str
    node: str = ""
    message: str = ""


class Project(Answer):
    id: str
    name: str
    description: str = ""
    created_at: datetime


class User(Answer):
    id: str
    name: str
    is_admin: bool
    default_project_id: str | None = None
    created_at: datetime
    roles: dict[str, str] = Field(
        default_factory=dict, description="Project id to role; in a single user's answer."
    )


class Token(Answer):
    id: str
    name: str
    prefix: str
    project_id: str | None = None
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked: bool
    token: str | None = Field(default=None, description="The secret, in the create answer only.")


class Member(Answer):
    user_id: str
    user: str = ""
    role: str
    project_id: str | None = None


class Permission(Answer):
    name: str
    description: str = ""
    roles: list[str] = Field(default_factory=list)


class BackupRepository(Answer):
    """Where instances' backups are stored: a directory or an S3 bucket (admins); its
    secret access key is never shown."""

    id: str
    name: str
    kind: str = Field(description="filesystem or s3")
    path: str = ""
    endpoint: str = ""
    bucket: str = ""
    prefix: str = ""
    region: str = ""
    access_key_id: str = ""
    instance_id: str | None = Field(
        default=None, description="The s3 instance of this control plane serving it."
    )
    state: str = Field(description="The last check's verdict.")
    state_reason: str = ""
    checked_at: datetime | None = None
    created_at: datetime


class Retention(Answer):
    count: int | None = Field(default=None, description="Full backups kept.")
    days: int | None = Field(default=None, description="Days a backup is kept.")


class BackupPolicy(Answer):
    """When an instance is backed up, where to, and how long its backups are kept."""

    repository: str
    schedule: str = Field(description="Cron, evaluated in UTC.")
    retention: Retention
    continuous: bool = Field(description="Whether the engine's log is archived too.")
    verify: str = Field(default="", description="Cron for restore drills.")
    next_backup_at: datetime | None = None
    next_verify_at: datetime | None = None


class Backup(Answer):
    id: str
    instance_id: str
    kind: str
    state: str
    reason: str = Field(default="", description="Why it failed or is unrestorable.")
    label: str | None = Field(default=None, description="The engine's name for it.")
    depends_on: str = ""
    started_at: datetime
    finished_at: datetime | None = None
    size_bytes: int = 0
    objects: dict[str, str] = Field(
        default_factory=dict, description="sha256 of every stored object."
    )
    position: dict[str, Any] = Field(default_factory=dict)
    verified_at: datetime | None = None
    restore_seconds: float | None = None


class BackupStarted(Answer):
    """The answer to a backup (or its deletion) requested: the backup and its operation."""

    backup_id: str
    operation: Operation


class RecoveryWindow(Answer):
    """The earliest and latest points an instance can be restored to."""

    earliest: datetime | None = None
    latest: datetime | None = None
    lag_seconds: float | None = Field(
        default=None, description="How far the latest point is behind now."
    )
    point_in_time: bool = Field(description="Whether any point between the two can be restored.")


class AuditEntry(Answer):
    id: int
    at: datetime
    actor_id: str | None = None
    actor: str | None = None
    action: str
    target_type: str
    target_id: str | None = None
    project_id: str | None = None
    request_id: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_before: int | None = None
