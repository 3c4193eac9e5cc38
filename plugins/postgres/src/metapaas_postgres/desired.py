"""The desired state of a cluster's databases and roles: made on the control plane,
written to the node as ``conf/desired.json``, applied by :mod:`metapaas_postgres.applier`.

It holds SCRAM verifiers only: the passwords stay on the control plane.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from metapaas import sdk
from metapaas_postgres import scram
from metapaas_postgres.spec import ADMIN_ROLE, DATABASES, ROLES, Access, PostgresSpec, RoleSpec


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


def desired_state(instance: sdk.InstanceView[PostgresSpec]) -> DesiredState:
    """Every database and role the instance's API resources ask for, plus ``admin``.

    ``admin`` may create databases of its own and reads and writes every
    managed one; it is no superuser (a superuser could run programs as the
    server's OS user).
    """
    databases = sorted(database.name for database in instance.children(DATABASES))
    admin = DesiredRole(
        name=ADMIN_ROLE,
        verifier=scram.role_verifier(instance.spec.admin_password, instance.id, ADMIN_ROLE),
        createdb=True,
        grants=dict.fromkeys(databases, "readwrite"),
    )
    ordered = sorted(instance.children(ROLES), key=lambda role: role.name)
    roles = [_role(instance, role) for role in ordered]
    return DesiredState(databases=databases, roles=[admin, *roles])


def _role(instance: sdk.InstanceView[PostgresSpec], role: RoleSpec) -> DesiredRole:
    return DesiredRole(
        name=role.name,
        verifier=scram.role_verifier(role.password, instance.id, role.name),
        grants={grant.database: grant.access for grant in role.grants},
    )
