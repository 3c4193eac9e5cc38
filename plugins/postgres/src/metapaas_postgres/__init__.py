"""The ``postgres`` type: PostgreSQL databases as a service, on the machine's own server binaries.

One node per instance runs the real ``postgres`` (see :mod:`metapaas_postgres.launcher`);
databases and login roles are child resources, applied on the node by
:mod:`metapaas_postgres.applier` from a desired-state file that carries SCRAM
verifiers, never passwords.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from metapaas import sdk
from metapaas_postgres import catalog, layout
from metapaas_postgres.desired import desired_state
from metapaas_postgres.privileges import binaries_needed
from metapaas_postgres.spec import ADMIN_ROLE, DATABASES, ROLES, PostgresSpec

PORT = "postgres"
SSLMODE = "verify-full"
"""What clients are told to ask of the server's certificate: signed by the CA the
credentials carry (``ca_certificate``, the client's ``sslrootcert``), for the host
they connect to."""
INIT_TIMEOUT = 120.0
APPLIER_WAIT = {"init": "90", "reload": "45"}
"""Seconds the applier waits for the server: the agent bounds a reload by 60 s."""


class Postgres(sdk.PaasType[PostgresSpec]):
    slug = "postgres"
    title = "PostgreSQL"
    description = (
        "A PostgreSQL server per instance, with databases and login roles managed through the API."
    )
    versions = catalog.machine_versions()
    spec = PostgresSpec
    resources = (DATABASES, ROLES)
    debian_packages = ("postgresql",)
    # Nodes get password hashes through node_metadata, never a plaintext password.
    node_secrets = False

    def validate(self, instance: sdk.InstanceView[PostgresSpec]) -> None:
        """Every grant names a database of the instance: a grant to a missing database,
        or deleting a database a grant still names, is refused."""
        databases = {database.name for database in instance.children(DATABASES)}
        for role in instance.children(ROLES):
            for grant in role.grants:
                if grant.database not in databases:
                    raise sdk.Invalid(
                        "grants",
                        "not_found",
                        f"role {role.name!r} is granted database {grant.database!r},"
                        " which does not exist (create it first; revoke the grant before"
                        " deleting it)",
                    )

    def node_plan(self, instance: sdk.InstanceView[PostgresSpec]) -> Sequence[sdk.NodeGroup]:
        return (sdk.NodeGroup("main", ports=(sdk.Port(PORT, 5432, tls=True),)),)

    def node_metadata(self, instance: sdk.InstanceView[PostgresSpec]) -> Mapping[str, Any]:
        return {"desired": desired_state(instance).model_dump(mode="json")}

    def endpoints(
        self, instance: sdk.InstanceView[PostgresSpec], nodes: Sequence[sdk.NodeView]
    ) -> Mapping[str, str]:
        return {PORT: _address(nodes[0])} if nodes else {}

    def credentials(
        self, instance: sdk.InstanceView[PostgresSpec], nodes: Sequence[sdk.NodeView]
    ) -> Mapping[str, Any]:
        if not nodes:
            raise sdk.TemporaryError("the instance has no node yet")
        password = instance.spec.admin_password
        host, port = nodes[0].address, nodes[0].ports[PORT]
        return {
            "host": host,
            "port": port,
            "user": ADMIN_ROLE,
            "password": password,
            "database": "postgres",
            "sslmode": SSLMODE,
            "dsn": (
                f"postgresql://{ADMIN_ROLE}:{quote(password, safe='')}@{host}:{port}/postgres"
                f"?sslmode={SSLMODE}"
            ),
        }

    def data_plane(self, role: str, version: sdk.Version) -> sdk.DataPlane:
        bindir = Path(str(version.engine["bindir"]))
        reload = applier_argv("reload")
        return sdk.DataPlane(
            templates=(
                _template("postgresql.conf.j2", layout.CONFIG_FILE, reload),
                _template("pg_hba.conf.j2", layout.HBA_FILE, reload),
                _template("desired.json.j2", layout.DESIRED_FILE, reload),
            ),
            services=(sdk.Service("postgres", argv=launcher_argv(bindir), stop_timeout=30.0),),
            health=(
                sdk.HealthCheck(
                    "command",
                    argv=(str(bindir / "pg_isready"), "-q", *_ADDRESS, "--timeout=2"),
                    interval=1.0,
                    timeout=3.0,
                ),
            ),
            commands=(sdk.Command("init", applier_argv("init"), timeout=INIT_TIMEOUT),),
            required_binaries=(
                *(str(bindir / name) for name in ("initdb", "postgres", "pg_isready")),
                *binaries_needed(),
            ),
            # The applier's pg_reload_conf() makes the server load the renewed files.
            tls_reload=reload,
        )


def _address(node: sdk.NodeView) -> str:
    return f"{node.address}:{node.ports[PORT]}"


_ADDRESS = ("--host={{ node.address }}", "--port={{ node.ports.postgres }}")


def launcher_argv(bindir: Path) -> tuple[str, ...]:
    return (
        sys.executable,
        "-m",
        "metapaas_postgres.launcher",
        f"--bindir={bindir}",
        "--node-dir={{ node.dir }}",
    )


def applier_argv(when: str) -> tuple[str, ...]:
    return (
        sys.executable,
        "-m",
        "metapaas_postgres.applier",
        "--node-dir={{ node.dir }}",
        *_ADDRESS,
        f"--wait={APPLIER_WAIT[when]}",
    )


def _template(name: str, dest: str, reload: tuple[str, ...]) -> sdk.Template:
    return sdk.Template.from_package(__name__, name, dest, reload=reload)
