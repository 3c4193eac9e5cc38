"""The ``postgres`` type: PostgreSQL databases as a service, on the machine's own server binaries.

One node per instance runs the real ``postgres`` (see :mod:`metapaas_postgres.launcher`);
databases and login roles are child resources, applied on the node by
:mod:`metapaas_postgres.applier` from a desired-state file that carries SCRAM
verifiers, never passwords. Backups, WAL archiving and restores are pgBackRest's
(:mod:`metapaas_postgres.backup`).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from metapaas import sdk
from metapaas.sdk.introspect import BACKUP_STEP, EXPIRE_STEP, RESTORE_STEP, VERIFY_STEP
from metapaas_postgres import catalog, layout
from metapaas_postgres.desired import desired_state
from metapaas_postgres.privileges import binaries_needed
from metapaas_postgres.spec import ADMIN_ROLE, DATABASES, ROLES, PostgresSpec

PORT = "postgres"
_ADDRESS = ("--host={{ node.address }}", "--port={{ node.ports.postgres }}")
SSLMODE = "verify-full"
"""What clients are told to ask of the server's certificate: signed by the CA the
credentials carry (``ca_certificate``, the client's ``sslrootcert``), for the host
they connect to."""
INIT_TIMEOUT = 120.0
APPLIER_WAIT = {"init": "90", "reload": "45"}
"""Seconds the applier waits for the server: the agent bounds a reload by 60 s."""
STEP_TIMEOUT = 6 * 3600.0
"""What a backup step may take unless the control plane says otherwise: a large cluster's
full backup or restore takes hours."""


class Postgres(sdk.PaasType[PostgresSpec]):
    slug = "postgres"
    title = "PostgreSQL"
    description = (
        "A PostgreSQL server per instance, with databases and login roles managed through the API."
    )
    versions = catalog.machine_versions()
    spec = PostgresSpec
    resources = (DATABASES, ROLES)
    debian_packages = ("postgresql", "pgbackrest")
    backups = sdk.Backups(
        role="main",
        methods=("snapshot", "continuous"),
        consistency=(
            "The whole server as one transaction-consistent copy: every transaction"
            " committed before the point restored to, and none after it."
        ),
        stored_by="engine",  # pgBackRest writes, encrypts and checksums the repository
        incremental=True,
    )
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
        pgbackrest = shutil.which("pgbackrest") or "/usr/bin/pgbackrest"
        return sdk.DataPlane(
            templates=(
                _server_config(pgbackrest, reload),
                _template("pg_hba.conf.j2", layout.HBA_FILE, reload),
                _template("desired.json.j2", layout.DESIRED_FILE, reload),
                *_pgbackrest_templates("store"),
                *_pgbackrest_templates("source"),
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
            commands=(
                sdk.Command("init", applier_argv("init"), timeout=INIT_TIMEOUT),
                *backup_commands(bindir, pgbackrest),
            ),
            required_binaries=(
                *(str(bindir / name) for name in SERVER_BINARIES),
                pgbackrest,
                *binaries_needed(),
            ),
            # The applier's pg_reload_conf() makes the server load the renewed files.
            tls_reload=reload,
        )


SERVER_BINARIES = ("initdb", "postgres", "pg_isready", "pg_controldata", "pg_amcheck")
BACKUP_ARGS = {
    BACKUP_STEP: (
        "--backup={{ command.args.backup }}",
        "--kind={{ command.args.kind }}",
        "--progress={{ command.progress }}",
    ),
    RESTORE_STEP: (
        "--label={{ command.args.label }}",
        "--point-in-time={{ command.args.point_in_time }}",
    ),
    VERIFY_STEP: (*_ADDRESS, "--label={{ command.args.label }}"),
    EXPIRE_STEP: ("--label={{ command.args.label }}",),
}


def backup_commands(bindir: Path, pgbackrest: str) -> tuple[sdk.Command, ...]:
    """The node-side steps of ``sdk.Backups``, each ``python -m metapaas_postgres.backup``."""
    server = {RESTORE_STEP: (f"--bindir={bindir}",), VERIFY_STEP: (f"--bindir={bindir}",)}
    return tuple(
        sdk.Command(
            step,
            (
                *backup_argv(step, pgbackrest),
                *server.get(step, ()),
                *args,
                "--result={{ command.result }}",
            ),
            timeout=STEP_TIMEOUT,
        )
        for step, args in BACKUP_ARGS.items()
    )


def backup_argv(step: str, pgbackrest: str) -> tuple[str, ...]:
    module = (sys.executable, "-m", "metapaas_postgres.backup", step)
    return (*module, f"--pgbackrest={pgbackrest}", "--node-dir={{ node.dir }}")


def _server_config(pgbackrest: str, reload: tuple[str, ...]) -> sdk.Template:
    """``postgresql.conf``, told the archive command's interpreter and pgBackRest binary
    (whose name pgBackRest wants to see in ``archive_command``)."""
    made = _template("postgresql.conf.j2", layout.CONFIG_FILE, reload)
    names = f"{{% set python = {json.dumps(sys.executable)} %}}"
    names += f"{{% set pgbackrest = {json.dumps(pgbackrest)} %}}"
    return dataclasses.replace(made, source=names + made.source)


def _pgbackrest_templates(place: layout.Place) -> tuple[sdk.Template, ...]:
    """pgBackRest's config for ``backup.<place>`` and its repository's CA; no reload:
    pgBackRest reads them at each run."""
    side = f"{{% set side = {json.dumps(place)} %}}{{% set place = backup.{place} %}}"
    config = _template("pgbackrest.conf.j2", layout.pgbackrest_config(place), ())
    authority = _template("pgbackrest-ca.pem.j2", layout.repository_ca_file(place), ())
    return tuple(dataclasses.replace(t, source=side + t.source) for t in (config, authority))


def _address(node: sdk.NodeView) -> str:
    return f"{node.address}:{node.ports[PORT]}"


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
