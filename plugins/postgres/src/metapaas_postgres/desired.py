"""The desired state of a cluster's databases and roles: made on the control plane,
written to the node as ``conf/desired.json``, applied by :mod:`metapaas_postgres.applier`.

It holds SCRAM verifiers only: the passwords stay on the control plane.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from metapaas import sdk
from metapaas_postgres import scram
from metapaas_postgres.models import ADMIN_ROLE, Access, PostgresSpec, RoleSpec


class DesiredRole(BaseModel):
    name: str
    verifier: str
    createdb: bool = False
    grants: dict[str, Access] = Field(default_factory=dict)


class DesiredState(BaseModel):
    databases: list[str]
    roles: list[DesiredRole]

    def access(self, database: str) -> dict[str, Access]:
        """Which managed role gets which access to ``database``."""
        return {r.name: r.grants[database] for r in self.roles if database in r.grants}


def desired_state(instance: sdk.InstanceView) -> DesiredState:
    """Every database and role the instance's API resources ask for, plus ``admin``.

    ``admin`` may create databases of its own and reads and writes every
    managed one; it is no superuser (a superuser could run programs as the
    server's OS user).
    """
    assert isinstance(instance.spec, PostgresSpec)
    databases = sorted(str(d["name"]) for d in instance.resources.get("databases", ()))
    admin = DesiredRole(
        name=ADMIN_ROLE,
        verifier=_verifier(instance, ADMIN_ROLE, instance.spec.admin_password),
        createdb=True,
        grants=dict.fromkeys(databases, "readwrite"),
    )
    roles = [_role(instance, RoleSpec.model_validate(r)) for r in _roles(instance)]
    return DesiredState(databases=databases, roles=[admin, *roles])


def _roles(instance: sdk.InstanceView) -> Sequence[Mapping[str, Any]]:
    return sorted(instance.resources.get("roles", ()), key=lambda role: str(role["name"]))


def _role(instance: sdk.InstanceView, role: RoleSpec) -> DesiredRole:
    return DesiredRole(
        name=role.name,
        verifier=_verifier(instance, role.name, role.password),
        grants={grant.database: grant.access for grant in role.grants},
    )


def _verifier(instance: sdk.InstanceView, role: str, password: str | None) -> str:
    if not password:
        raise sdk.PermanentError(f"role {role!r} has no password")
    return scram.role_verifier(password, instance.id, role)
