"""Permissions named ``<scope>.<collection>.<verb>``, derived from the installed types.

Project roles grant permissions inside their project; the global ``admin``
holds every permission everywhere. A type's permission names are built here alone
(:func:`instance`, :func:`collection`, :func:`credentials`): the routes check them,
the audit log names actions with them, and the catalog lists them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from metapaas import sdk
from metapaas.db.models import Role

CRUD = ("list", "get", "create", "update", "delete")
READ_VERBS = frozenset({"list", "get"})

# Permissions of the runtime itself that project roles can hold.
PROJECT_SCOPED = (
    "iam.projects.get",
    "iam.projects.update",
    "iam.role_bindings.list",
    "iam.role_bindings.create",
    "iam.role_bindings.delete",
    "core.operations.get",
)


@dataclass(frozen=True)
class Permission:
    name: str
    description: str


def instance(slug: str, verb: str) -> str:
    """To ``verb`` (one of :data:`CRUD`, or ``action``) the instances of type ``slug``."""
    return collection(slug, "instances", verb)


def collection(slug: str, name: str, verb: str) -> str:
    """To ``verb`` the child resources of collection ``name`` of type ``slug``."""
    return f"{slug}.{name}.{verb}"


def credentials(slug: str) -> str:
    """To read the connection secrets of the instances of type ``slug``."""
    return collection(slug, "credentials", "get")


def for_type(paas_type: sdk.PaasType) -> list[Permission]:
    """Everything a role can be allowed to do with one type."""
    slug = paas_type.slug
    out = [Permission(instance(slug, verb), f"{verb} {slug} instances") for verb in CRUD]
    out.append(Permission(instance(slug, "action"), f"run actions on {slug} instances"))
    out.append(Permission(credentials(slug), f"read {slug} connection secrets"))
    if paas_type.backups is not None:
        out.extend(
            Permission(collection(slug, "backups", verb), f"{verb} {slug} backups")
            for verb in ("list", "get", "create", "delete")
        )
        out.extend(
            Permission(collection(slug, "backup_policy", verb), f"{verb} {slug} backup policies")
            for verb in ("get", "update")
        )
    for child in paas_type.resources:
        name = child.collection
        out.extend(
            Permission(collection(slug, name, verb), f"{verb} {slug} {name}") for verb in CRUD
        )
    return out


def role_grants(role: Role, permission: str) -> bool:
    """Whether a project role holds ``permission`` inside its project.

    Viewers read but never see secrets; members do everything with the
    project's instances; owners also manage who belongs to the project.
    """
    collection, verb = permission.split(".")[1], permission.rsplit(".", 1)[1]
    if permission.startswith("iam."):
        if role is Role.OWNER:
            return permission in PROJECT_SCOPED
        return permission in {"iam.projects.get", "iam.role_bindings.list"}
    if permission == "core.operations.get":
        return True
    if role is Role.VIEWER:
        return verb in READ_VERBS and collection != "credentials"
    return True


def catalog(types: Iterable[sdk.PaasType]) -> list[Permission]:
    core = [Permission(name, name.replace(".", " ")) for name in PROJECT_SCOPED]
    return core + [p for t in types for p in for_type(t)]
