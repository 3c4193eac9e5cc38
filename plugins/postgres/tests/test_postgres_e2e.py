"""The postgres type through the API: real control plane, real agent, real server, psycopg
over TLS verified against the CA the credentials carry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from metapaas import tls
from metapaas.db.models import utcnow
from metapaas.testing import ControlPlane, run_example_session, wait_for

pytestmark = pytest.mark.e2e

README = Path(__file__).parents[1] / "README.md"
TYPE = "/v1/types/postgres/instances"


def server_of(credentials: dict[str, Any], directory: Path) -> dict[str, Any]:
    """Where the credentials say the server is and how to verify it, as libpq's keywords:
    the CA they carry kept in a file, as ``sslrootcert``."""
    authority = directory / "ca.pem"
    authority.write_text(credentials["ca_certificate"])
    return {
        "host": credentials["host"],
        "port": credentials["port"],
        "sslmode": credentials["sslmode"],
        "sslrootcert": str(authority),
    }


def connect(
    server: dict[str, Any], user: str, password: str, database: str, **options: Any
) -> psycopg.Connection[Any]:
    return psycopg.connect(
        **{**server, **options},
        user=user,
        password=password,
        dbname=database,
        autocommit=True,
        connect_timeout=5,
    )


def assert_tls_only(credentials: dict[str, Any], server: dict[str, Any], directory: Path) -> None:
    """The admin DSN works with the CA as ``sslrootcert`` and with no other CA; a plain
    login is refused, even from the node's own address."""
    with psycopg.connect(
        credentials["dsn"], sslrootcert=server["sslrootcert"], connect_timeout=5
    ) as admin:
        assert admin.execute("SELECT current_user").fetchone() == ("admin",)
        assert admin.pgconn.ssl_in_use
    other = directory / "other.pem"
    other.write_text(tls.Authority.new("other", utcnow()).certificate_pem)
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        psycopg.connect(credentials["dsn"], sslrootcert=str(other), connect_timeout=5)
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        connect(server, "admin", credentials["password"], "postgres", sslmode="disable")


def test_readme_session_then_tls_grants_deletes_restart_and_crash(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    plane = control_plane
    path = f"{TYPE}/shop-db"
    with plane.client() as client:
        session = run_example_session(README, plane, timeout=180)
        plane.wait_converged(client, path, timeout=120)
        created, database, app, credentials = session.documents()
        assert (created["name"], database["name"], app["name"]) == ("shop-db", "shop", "app")
        assert credentials["user"] == "admin"
        server = server_of(credentials, tmp_path)
        assert_tls_only(credentials, server, tmp_path)

        # The README's role works: it creates a table in its database.
        with connect(server, "app", app["password"], "shop") as conn:
            conn.execute("CREATE TABLE orders (id serial PRIMARY KEY, item text)")
            conn.execute("INSERT INTO orders (item) VALUES ('book')")

        # Bad input is refused by the API before a node sees it: test_postgres_api.py.

        # A read-only role reads and cannot write.
        reader = client.post(
            f"{path}/roles", json={"name": "reader", "grants": [{"database": "shop"}]}
        )
        assert reader.status_code == 201, reader.text
        plane.wait_converged(client, path)
        with connect(server, "reader", reader.json()["password"], "shop") as conn:
            assert conn.execute("SELECT item FROM orders").fetchall() == [("book",)]
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("INSERT INTO orders (item) VALUES ('pen')")

        # Deleting a role removes its access; its table stays readable by the others.
        assert client.delete(f"{path}/roles/app").status_code == 204
        plane.wait_converged(client, path)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            connect(server, "app", app["password"], "shop")
        with connect(server, "reader", reader.json()["password"], "shop") as conn:
            assert conn.execute("SELECT count(*) FROM orders").fetchone() == (1,)

        # A database no grant names can be deleted, and is dropped.
        assert client.patch(f"{path}/roles/reader", json={"grants": []}).status_code == 200
        assert client.delete(f"{path}/databases/shop").status_code == 204
        plane.wait_converged(client, path)
        with connect(server, "admin", credentials["password"], "postgres") as conn:
            names = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        assert "shop" not in names

        # max_connections needs a restart: the server comes back with the new value.
        assert client.patch(path, json={"max_connections": 60}).status_code == 202
        plane.wait_converged(client, path)

        def max_connections() -> str | None:
            try:
                with connect(server, "admin", credentials["password"], "postgres") as conn:
                    row = conn.execute("SHOW max_connections").fetchone()
            except psycopg.OperationalError:
                return None
            return None if row is None or row[0] != "60" else str(row[0])

        wait_for(max_connections, 60, "the server to restart with max_connections = 60")

        # admin's own database is left alone by the applier and survives a crashed node;
        # a database declared while the node is down exists once it is back.
        with connect(server, "admin", credentials["password"], "postgres") as conn:
            conn.execute("CREATE DATABASE scratch")
        (node,) = plane.node_names()
        plane.kill_node(node)
        plane.wait_status(client, path, "DEGRADED", timeout=60)
        assert client.post(f"{path}/databases", json={"name": "late"}).status_code == 201
        plane.wait_converged(client, path, timeout=90)
        with connect(server, "admin", credentials["password"], "scratch") as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("scratch",)
        with connect(server, "admin", credentials["password"], "late") as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("late",)
