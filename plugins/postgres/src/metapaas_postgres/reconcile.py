"""Bring a running cluster's databases, roles and grants to a desired state.

Level-triggered and idempotent: each run reads what exists and changes only
what differs from ``conf/desired.json``. It drops only what it created,
recognised by the comment :data:`MARK` on the database or role, so databases
the ``admin`` role made itself are left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from metapaas_postgres.desired import DesiredRole, DesiredState
from metapaas_postgres.spec import SUPERUSER_ROLE

MARK = "managed by metapaas"
Connection = psycopg.Connection[TupleRow]
Connect = Callable[[str], Connection]
"""Opens an autocommit superuser connection to the named database."""

log = logging.getLogger(__name__)

_MANAGED_ROLES = sql.SQL(
    "SELECT r.rolname FROM pg_roles r JOIN pg_shdescription d"
    " ON d.objoid = r.oid AND d.classoid = 'pg_authid'::regclass WHERE d.description = {mark}"
).format(mark=sql.Literal(MARK))
_MANAGED_DATABASES = sql.SQL(
    "SELECT db.datname FROM pg_database db JOIN pg_shdescription d"
    " ON d.objoid = db.oid AND d.classoid = 'pg_database'::regclass WHERE d.description = {mark}"
).format(mark=sql.Literal(MARK))
_ALL_DATABASES = sql.SQL("SELECT datname FROM pg_database")
_CONNECTABLE_DATABASES = sql.SQL(
    "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate"
)
_TABLE_RIGHTS = {
    "readonly": sql.SQL("SELECT"),
    "readwrite": sql.SQL("SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER"),
}
_SEQUENCE_RIGHTS = {
    "readonly": sql.SQL("SELECT"),
    "readwrite": sql.SQL("USAGE, SELECT, UPDATE"),
}


def reconcile(connect: Connect, desired: DesiredState) -> None:
    """Roles, then databases, then each database's grants, then roles no longer wanted."""
    with connect("postgres") as conn:
        for role in desired.roles:
            _ensure_role(conn, role)
        existing = _names(conn, _ALL_DATABASES)
        for database in desired.databases:
            if database not in existing:
                _create_database(conn, database)
        for database in _names(conn, _MANAGED_DATABASES) - set(desired.databases):
            log.info("dropping database %s", database)
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(database)))
        unwanted = _names(conn, _MANAGED_ROLES) - {role.name for role in desired.roles}
        databases = _names(conn, _CONNECTABLE_DATABASES)
    for database in desired.databases:
        with connect(database) as conn, conn.transaction():
            _grant(conn, desired, database)
    for name in sorted(unwanted):
        _drop_role(connect, name, databases)


def _names(conn: Connection, query: sql.Composed | sql.SQL) -> set[str]:
    return {str(row[0]) for row in conn.execute(query)}


def _ensure_role(conn: Connection, role: DesiredRole) -> None:
    """Create or correct one login role; the password is set as a SCRAM verifier."""
    name = sql.Identifier(role.name)
    attributes = sql.SQL(
        "LOGIN NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS {createdb} PASSWORD {verifier}"
    ).format(
        createdb=sql.SQL("CREATEDB" if role.createdb else "NOCREATEDB"),
        verifier=sql.Literal(role.verifier),
    )
    with conn.transaction():
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role.name,)).fetchone()
        verb = sql.SQL("ALTER") if exists else sql.SQL("CREATE")
        conn.execute(sql.SQL("{} ROLE {} {}").format(verb, name, attributes))
        conn.execute(sql.SQL("COMMENT ON ROLE {} IS {}").format(name, sql.Literal(MARK)))


def _create_database(conn: Connection, database: str) -> None:
    """A new database nobody may use until a grant says so (PUBLIC loses CONNECT and TEMP).

    CREATE DATABASE cannot run in a transaction: a crash before the comment
    leaves an unmarked database, which the next run adopts because its name is wanted.
    """
    name = sql.Identifier(database)
    log.info("creating database %s", database)
    conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
    conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(name, sql.Literal(MARK)))


def _grant(conn: Connection, desired: DesiredState, database: str) -> None:
    """Revoke every managed role's rights in ``database``, then grant what is desired.

    One transaction: a role keeps its access until the new grants commit.
    Tables a role creates later get their rights through default privileges
    of every read-write role (the possible creators).
    """
    everyone = _role_list(role.name for role in desired.roles)
    access = desired.access(database)
    writers = [name for name, level in access.items() if level == "readwrite"]
    db = sql.Identifier(database)
    for statement in (
        "REVOKE ALL ON DATABASE {db} FROM PUBLIC, {everyone}",
        "REVOKE ALL ON SCHEMA public FROM {everyone}",
        "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {everyone}",
        "REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {everyone}",
    ):
        conn.execute(sql.SQL(statement).format(db=db, everyone=everyone))
    for creator in desired.roles:
        for kind in ("TABLES", "SEQUENCES"):
            conn.execute(
                sql.SQL(
                    "ALTER DEFAULT PRIVILEGES FOR ROLE {creator} IN SCHEMA public"
                    " REVOKE ALL ON {kind} FROM {everyone}"
                ).format(
                    creator=sql.Identifier(creator.name), kind=sql.SQL(kind), everyone=everyone
                )
            )
    for level in ("readonly", "readwrite"):
        grantees = [name for name, wanted in access.items() if wanted == level]
        if grantees:
            _grant_level(conn, db, level, _role_list(grantees), writers)


def _grant_level(
    conn: Connection,
    db: sql.Identifier,
    level: str,
    grantees: sql.Composable,
    writers: list[str],
) -> None:
    database_rights = "CONNECT, TEMPORARY" if level == "readwrite" else "CONNECT"
    schema_rights = "USAGE, CREATE" if level == "readwrite" else "USAGE"
    tables, sequences = _TABLE_RIGHTS[level], _SEQUENCE_RIGHTS[level]
    values = {"db": db, "to": grantees, "tables": tables, "sequences": sequences}
    for statement in (
        f"GRANT {database_rights} ON DATABASE {{db}} TO {{to}}",
        f"GRANT {schema_rights} ON SCHEMA public TO {{to}}",
        "GRANT {tables} ON ALL TABLES IN SCHEMA public TO {to}",
        "GRANT {sequences} ON ALL SEQUENCES IN SCHEMA public TO {to}",
    ):
        conn.execute(sql.SQL(statement).format(**values))
    for creator in writers:
        for kind, rights in (("TABLES", tables), ("SEQUENCES", sequences)):
            conn.execute(
                sql.SQL(
                    "ALTER DEFAULT PRIVILEGES FOR ROLE {creator} IN SCHEMA public"
                    " GRANT {rights} ON {kind} TO {to}"
                ).format(
                    creator=sql.Identifier(creator), rights=rights, kind=sql.SQL(kind), to=grantees
                )
            )


def _drop_role(connect: Connect, role: str, databases: Iterable[str]) -> None:
    """Lock the role out, end its sessions, hand its objects to the superuser, drop it.

    Its tables survive (owned by the superuser) with the grants other roles have on them.
    """
    name = sql.Identifier(role)
    log.info("dropping role %s", role)
    with connect("postgres") as conn:
        conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(name))
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,)
        )
    for database in sorted(databases):
        with connect(database) as conn, conn.transaction():
            superuser = sql.Identifier(SUPERUSER_ROLE)
            conn.execute(sql.SQL("REASSIGN OWNED BY {} TO {}").format(name, superuser))
            conn.execute(sql.SQL("DROP OWNED BY {}").format(name))
    with connect("postgres") as conn:
        conn.execute(sql.SQL("DROP ROLE {}").format(name))


def _role_list(names: Iterable[str]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(name) for name in names)
