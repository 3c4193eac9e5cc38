"""Every route of the API, grouped as the CLI and scripts use them."""

from __future__ import annotations

from typing import Any

from metapaas.client import models as m
from metapaas.client.calls import Call, Group, S, call, no_answer, route
from metapaas.client.calls import segment as _seg


class Types(Group[S]):
    """The catalog of installed PaaS types."""

    @route
    def list(self) -> Call[m.Items[m.TypeSummary]]:
        return call("GET", "/v1/types/", m.Items[m.TypeSummary])

    @route
    def get(self, slug: str) -> Call[m.TypeDetail]:
        return call("GET", f"/v1/types/{_seg(slug)}/", m.TypeDetail)


class Instances(Group[S]):
    """Instances of one type; ``ref`` is an instance's name or id."""

    def __init__(self, sender: S, slug: str) -> None:
        super().__init__(sender)
        self.slug = slug

    def _path(self, ref: str | None = None, *rest: str) -> str:
        return _instances_path(self.slug, ref, *rest)

    @route
    def create(self, body: dict[str, Any]) -> Call[m.InstanceView]:
        """``body`` is the type's create request: name, version, project_id and the spec."""
        return call("POST", self._path(), m.InstanceView, json=body)

    @route
    def list(
        self,
        *,
        project_id: str | None = None,
        status: str | None = None,
        name: str | None = None,
        limit: int | None = None,
        marker: str | None = None,
    ) -> Call[m.Page[m.InstanceView]]:
        return call(
            "GET",
            self._path(),
            m.Page[m.InstanceView],
            project_id=project_id,
            status=status,
            name=name,
            limit=limit,
            marker=marker,
        )

    @route
    def get(self, ref: str, *, project_id: str | None = None) -> Call[m.InstanceView]:
        return call("GET", self._path(ref), m.InstanceView, project_id=project_id)

    @route
    def update(
        self, ref: str, changes: dict[str, Any], *, project_id: str | None = None
    ) -> Call[m.InstanceView]:
        """An answer without ``operation_id`` changed nothing."""
        return call("PATCH", self._path(ref), m.InstanceView, json=changes, project_id=project_id)

    @route
    def delete(self, ref: str, *, project_id: str | None = None) -> Call[m.InstanceView]:
        return call("DELETE", self._path(ref), m.InstanceView, project_id=project_id)

    @route
    def events(
        self, ref: str, *, limit: int | None = None, project_id: str | None = None
    ) -> Call[m.Items[m.Event]]:
        """Newest first."""
        path = self._path(ref, "events")
        return call("GET", path, m.Items[m.Event], limit=limit, project_id=project_id)

    @route
    def credentials(self, ref: str, *, project_id: str | None = None) -> Call[dict[str, Any]]:
        path = self._path(ref, "credentials")
        return call("GET", path, dict[str, Any], project_id=project_id)

    @route
    def retry(self, ref: str, *, project_id: str | None = None) -> Call[m.InstanceView]:
        path = self._path(ref, "actions", "retry")
        return call("POST", path, m.InstanceView, project_id=project_id)


def _instances_path(slug: str, ref: str | None = None, *rest: str) -> str:
    """``/v1/types/<slug>/instances[/<ref>]/<rest>``: ``ref`` quoted, ``rest`` as given."""
    base = f"/v1/types/{_seg(slug)}/instances"
    return "/".join([base, *(_seg(p) for p in ([ref] if ref else [])), *rest])


class Backups(Group[S]):
    """The backups of one type's instances: policy, backups, recovery window.

    A restore is no route of its own: it is a create whose body has ``restore``.
    """

    def __init__(self, sender: S, slug: str) -> None:
        super().__init__(sender)
        self.slug = slug

    @route
    def set_policy(
        self, ref: str, policy: dict[str, Any], *, project_id: str | None = None
    ) -> Call[m.BackupPolicy]:
        """``policy``: repository, schedule, retention (count, days), continuous, verify."""
        path = _instances_path(self.slug, ref, "backup-policy")
        return call("PUT", path, m.BackupPolicy, json=policy, project_id=project_id)

    @route
    def policy(self, ref: str, *, project_id: str | None = None) -> Call[m.BackupPolicy]:
        path = _instances_path(self.slug, ref, "backup-policy")
        return call("GET", path, m.BackupPolicy, project_id=project_id)

    @route
    def create(
        self, ref: str, *, kind: str | None = None, project_id: str | None = None
    ) -> Call[m.BackupStarted]:
        """Back up now (``kind`` full, incremental or snapshot; the type's default without)."""
        body = {"kind": kind} if kind is not None else {}
        path = _instances_path(self.slug, ref, "backups")
        return call("POST", path, m.BackupStarted, json=body, project_id=project_id)

    @route
    def list(self, ref: str, *, project_id: str | None = None) -> Call[m.Items[m.Backup]]:
        """Newest first."""
        path = _instances_path(self.slug, ref, "backups")
        return call("GET", path, m.Items[m.Backup], project_id=project_id)

    @route
    def get(self, ref: str, backup_id: str, *, project_id: str | None = None) -> Call[m.Backup]:
        path = _instances_path(self.slug, ref, "backups", _seg(backup_id))
        return call("GET", path, m.Backup, project_id=project_id)

    @route
    def delete(
        self, ref: str, backup_id: str, *, project_id: str | None = None
    ) -> Call[m.BackupStarted]:
        """Refused (409, saying why) while a later restorable point needs the backup."""
        path = _instances_path(self.slug, ref, "backups", _seg(backup_id))
        return call("DELETE", path, m.BackupStarted, project_id=project_id)

    @route
    def window(self, ref: str, *, project_id: str | None = None) -> Call[m.RecoveryWindow]:
        path = _instances_path(self.slug, ref, "recovery-window")
        return call("GET", path, m.RecoveryWindow, project_id=project_id)


class BackupRepositories(Group[S]):
    """Where backups are stored (admins); ``ref`` is a repository's name or id."""

    @route
    def create(self, body: dict[str, Any]) -> Call[m.BackupRepository]:
        """``body``: name, kind (filesystem: path; s3: endpoint, bucket, prefix, region,
        access_key_id, secret_access_key). The server checks it before it keeps it."""
        return call("POST", "/v1/backup-repositories", m.BackupRepository, json=body)

    @route
    def list(self) -> Call[m.Items[m.BackupRepository]]:
        return call("GET", "/v1/backup-repositories", m.Items[m.BackupRepository])

    @route
    def get(self, ref: str) -> Call[m.BackupRepository]:
        return call("GET", f"/v1/backup-repositories/{_seg(ref)}", m.BackupRepository)

    @route
    def delete(self, ref: str) -> Call[None]:
        return no_answer("DELETE", f"/v1/backup-repositories/{_seg(ref)}")


class Resources(Group[S]):
    """One child collection of one type's instances, e.g. ``demo`` ``pages``."""

    def __init__(self, sender: S, slug: str, collection: str) -> None:
        super().__init__(sender)
        self.slug = slug
        self.collection = collection

    def _path(self, ref: str, child: str | None = None) -> str:
        path = f"/v1/types/{_seg(self.slug)}/instances/{_seg(ref)}/{_seg(self.collection)}"
        return f"{path}/{_seg(child)}" if child else path

    @route
    def create(
        self, ref: str, body: dict[str, Any], *, project_id: str | None = None
    ) -> Call[m.ResourceView]:
        """Secrets of the new resource are in this answer only."""
        return call("POST", self._path(ref), m.ResourceView, json=body, project_id=project_id)

    @route
    def list(
        self,
        ref: str,
        *,
        name: str | None = None,
        limit: int | None = None,
        marker: str | None = None,
        project_id: str | None = None,
    ) -> Call[m.Page[m.ResourceView]]:
        return call(
            "GET",
            self._path(ref),
            m.Page[m.ResourceView],
            name=name,
            limit=limit,
            marker=marker,
            project_id=project_id,
        )

    @route
    def get(self, ref: str, child: str, *, project_id: str | None = None) -> Call[m.ResourceView]:
        return call("GET", self._path(ref, child), m.ResourceView, project_id=project_id)

    @route
    def update(
        self, ref: str, child: str, changes: dict[str, Any], *, project_id: str | None = None
    ) -> Call[m.ResourceView]:
        path = self._path(ref, child)
        return call("PATCH", path, m.ResourceView, json=changes, project_id=project_id)

    @route
    def delete(self, ref: str, child: str, *, project_id: str | None = None) -> Call[None]:
        return no_answer("DELETE", self._path(ref, child), project_id=project_id)


class Operations(Group[S]):
    @route
    def get(self, operation_id: str) -> Call[m.Operation]:
        return call("GET", f"/v1/operations/{_seg(operation_id)}", m.Operation)


class Plugins(Group[S]):
    """Plugins: installed, upgraded and removed while the control plane serves (admins)."""

    @route
    def list(self) -> Call[m.Items[m.Plugin]]:
        return call("GET", "/v1/plugins", m.Items[m.Plugin])

    @route
    def get(self, name: str) -> Call[m.Plugin]:
        return call("GET", f"/v1/plugins/{_seg(name)}", m.Plugin)

    @route
    def install(
        self, package: str, *, sha256: str | None = None, index_url: str | None = None
    ) -> Call[m.PluginChange]:
        body = _package(package, sha256, index_url)
        return call("POST", "/v1/plugins", m.PluginChange, json=body)

    @route
    def upgrade(
        self, name: str, package: str, *, sha256: str | None = None, index_url: str | None = None
    ) -> Call[m.PluginChange]:
        body = _package(package, sha256, index_url)
        return call("PATCH", f"/v1/plugins/{_seg(name)}", m.PluginChange, json=body)

    @route
    def remove(self, name: str, *, purge: bool = False) -> Call[m.PluginChange]:
        path = f"/v1/plugins/{_seg(name)}"
        return call("DELETE", path, m.PluginChange, purge="true" if purge else None)


def _package(package: str, sha256: str | None, index_url: str | None) -> dict[str, str]:
    given = {"package": package, "sha256": sha256, "index_url": index_url}
    return {k: v for k, v in given.items() if v is not None}


class Projects(Group[S]):
    @route
    def create(self, name: str, description: str = "") -> Call[m.Project]:
        body = {"name": name, "description": description}
        return call("POST", "/v1/projects", m.Project, json=body)

    @route
    def list(
        self, *, limit: int | None = None, marker: str | None = None
    ) -> Call[m.Page[m.Project]]:
        return call("GET", "/v1/projects", m.Page[m.Project], limit=limit, marker=marker)

    @route
    def get(self, project_id: str) -> Call[m.Project]:
        return call("GET", f"/v1/projects/{_seg(project_id)}", m.Project)

    @route
    def update(self, project_id: str, description: str) -> Call[m.Project]:
        body = {"description": description}
        return call("PATCH", f"/v1/projects/{_seg(project_id)}", m.Project, json=body)

    @route
    def delete(self, project_id: str) -> Call[None]:
        return no_answer("DELETE", f"/v1/projects/{_seg(project_id)}")

    @route
    def members(self, project_id: str) -> Call[m.Items[m.Member]]:
        """Role bindings: who holds which role in the project."""
        return call("GET", f"/v1/projects/{_seg(project_id)}/members", m.Items[m.Member])

    @route
    def bind(self, project_id: str, user_id: str, role: str) -> Call[m.Member]:
        """Give a user a role in the project, replacing any role it had."""
        body = {"user_id": user_id, "role": role}
        return call("PUT", f"/v1/projects/{_seg(project_id)}/members", m.Member, json=body)

    @route
    def unbind(self, project_id: str, user_id: str) -> Call[None]:
        return no_answer("DELETE", f"/v1/projects/{_seg(project_id)}/members/{_seg(user_id)}")


class Users(Group[S]):
    """Users; ``"me"`` is the caller wherever a user id is asked for."""

    @route
    def create(
        self, name: str, *, is_admin: bool = False, default_project_id: str | None = None
    ) -> Call[m.User]:
        body = {"name": name, "is_admin": is_admin, "default_project_id": default_project_id}
        return call("POST", "/v1/users", m.User, json=body)

    @route
    def list(self, *, limit: int | None = None, marker: str | None = None) -> Call[m.Page[m.User]]:
        return call("GET", "/v1/users", m.Page[m.User], limit=limit, marker=marker)

    @route
    def get(self, user_id: str = "me") -> Call[m.User]:
        return call("GET", f"/v1/users/{_seg(user_id)}", m.User)

    @route
    def delete(self, user_id: str) -> Call[None]:
        return no_answer("DELETE", f"/v1/users/{_seg(user_id)}")

    @route
    def create_token(
        self,
        name: str,
        *,
        user_id: str = "me",
        project_id: str | None = None,
        expires_in_days: int | None = None,
    ) -> Call[m.Token]:
        """The answer's ``token`` is the secret, shown this once."""
        body = {"name": name, "project_id": project_id, "expires_in_days": expires_in_days}
        return call("POST", f"/v1/users/{_seg(user_id)}/tokens", m.Token, json=body)

    @route
    def tokens(self, user_id: str = "me") -> Call[m.Items[m.Token]]:
        return call("GET", f"/v1/users/{_seg(user_id)}/tokens", m.Items[m.Token])

    @route
    def revoke_token(self, token_id: str, *, user_id: str = "me") -> Call[None]:
        return no_answer("DELETE", f"/v1/users/{_seg(user_id)}/tokens/{_seg(token_id)}")


class Admin(Group[S]):
    @route
    def permissions(self) -> Call[m.Items[m.Permission]]:
        return call("GET", "/v1/permissions", m.Items[m.Permission])

    @route
    def audit(
        self,
        *,
        limit: int | None = None,
        before: int | None = None,
        action: str | None = None,
        project_id: str | None = None,
    ) -> Call[m.AuditPage]:
        return call(
            "GET",
            "/v1/audit",
            m.AuditPage,
            limit=limit,
            before=before,
            action=action,
            project_id=project_id,
        )
