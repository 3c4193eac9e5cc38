"""The node side against the real server, without a control plane: the launcher makes and
runs a cluster in a node directory, the applier reconciles databases, roles and grants,
the server takes logins over TLS only and a renewed certificate without a restart.

Checked through psycopg as the roles themselves: what each may and may not do.
"""

from __future__ import annotations

import signal
import socket
import struct
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography import x509
from metapaas_postgres import Postgres, applier
from metapaas_postgres.layout import DESIRED_FILE, NodeLayout

from metapaas import tls
from metapaas.db.models import utcnow
from metapaas.testing import (
    free_port,
    instance_view,
    render_argv,
    served_certificate,
    wait_for,
    write_node,
)

POSTGRES = Postgres()
VERSION = Postgres.versions[-1]
BINDIR = Path(str(VERSION.engine["bindir"]))
ADMIN_PASSWORD = "admin-password-123"
AUTHORITY = tls.Authority.new("postgres node test CA", utcnow())
SSL_REQUEST = struct.pack("!ii", 8, 80877103)
"""What a client sends before its TLS handshake; the server answers ``S`` to go ahead."""

pytestmark = pytest.mark.skipif(
    not (BINDIR / "postgres").exists(), reason=f"no PostgreSQL server in {BINDIR}"
)


@dataclass
class Node:
    """A node directory with a running launcher, and the desired state it is told."""

    layout: NodeLayout
    port: int
    trusted: Path
    """The CA file clients verify the server with: :data:`AUTHORITY`'s certificate."""
    launcher: subprocess.Popen[bytes] | None = None
    context: dict[str, Any] = field(default_factory=dict)

    def write(
        self,
        roles: Sequence[Mapping[str, Any]] = (),
        databases: Sequence[str] = (),
        certificate: tls.Issued | None = None,
        **spec: Any,
    ) -> None:
        """Write the templates as the agent would for this state, with ``certificate``
        (or one newly issued by :data:`AUTHORITY`); keep the context for argv."""
        view = instance_view(
            POSTGRES,
            {"admin_password": ADMIN_PASSWORD, **spec},
            resources={"databases": [{"name": d} for d in databases], "roles": roles},
            name="pg",
            version=VERSION.name,
        )
        self.context = write_node(
            POSTGRES,
            view,
            self.layout.node_dir,
            {"postgres": self.port},
            authority=AUTHORITY,
            certificate=certificate,
        )

    def start(self) -> None:
        """Start the launcher with the service argv the type declares, rendered."""
        (service,) = POSTGRES.data_plane("main", VERSION).services
        self.launcher = subprocess.Popen(
            render_argv(service.argv, self.context), start_new_session=True
        )
        applier.wait_for_server(self.superuser, 30)

    def apply(self) -> int:
        argv = [f"--node-dir={self.layout.node_dir}", "--host=127.0.0.1", f"--port={self.port}"]
        return applier.main([*argv, "--wait=30"])

    def superuser(self, database: str) -> psycopg.Connection[Any]:
        return applier.connector(self.layout, "127.0.0.1", self.port)(database)

    def connect(
        self,
        user: str,
        password: str,
        database: str,
        *,
        sslmode: str = "verify-full",
        sslrootcert: Path | None = None,
    ) -> psycopg.Connection[Any]:
        """A login as a client elsewhere makes it: TLS, the server verified against the CA."""
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=user,
            password=password,
            dbname=database,
            autocommit=True,
            connect_timeout=5,
            sslmode=sslmode,
            sslrootcert=str(sslrootcert or self.trusted),
        )

    def tls_reload(self) -> None:
        """Run the type's ``tls_reload`` as the agent does after writing a renewed certificate."""
        argv = render_argv(POSTGRES.data_plane("main", VERSION).tls_reload, self.context)
        subprocess.run(argv, check=True, timeout=60)

    def served_serial(self) -> int:
        """The serial number of the certificate the server presents to a new client now."""
        return served_certificate(
            "127.0.0.1", self.port, self.trusted, before_handshake=ask_for_tls
        ).serial_number

    def postmaster_pid(self) -> int:
        return int(self.layout.postmaster_pid_file.read_text().splitlines()[0])

    def stop(self) -> None:
        if self.launcher is not None and self.launcher.poll() is None:
            self.launcher.send_signal(signal.SIGTERM)
            self.launcher.wait(30)


@pytest.fixture(scope="module", autouse=True)
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The cluster templates of this module's nodes (see ``metapaas_postgres.template``),
    out of the user's own cache."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(cache))
        yield cache / "metapaas-postgres"


def ask_for_tls(connection: socket.socket) -> None:
    connection.sendall(SSL_REQUEST)
    assert connection.recv(1) == b"S", "the server declines TLS"


@pytest.fixture(scope="module")
def trusted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """:data:`AUTHORITY`'s certificate, kept as a client keeps the credentials' CA."""
    path = tmp_path_factory.mktemp("client") / "ca.pem"
    path.write_text(AUTHORITY.certificate_pem)
    return path


def make_node(directory: Path, trusted: Path) -> Node:
    made = Node(NodeLayout(directory), free_port(), trusted)
    made.layout.node_dir.mkdir()
    return made


@pytest.fixture
def new_node(tmp_path: Path, trusted: Path) -> Iterator[Callable[[str], Node]]:
    """Makes node directories; stops their launchers afterwards."""
    made: list[Node] = []

    def make(name: str) -> Node:
        made.append(make_node(tmp_path / name, trusted))
        return made[-1]

    yield make
    for node in made:
        node.stop()


@pytest.fixture
def node(new_node: Callable[[str], Node]) -> Node:
    return new_node("node")


WRITER = {
    "name": "writer",
    "password": "writer-password",
    "grants": [{"database": "shop", "access": "readwrite"}],
}
READER = {"name": "reader", "password": "reader-password", "grants": [{"database": "shop"}]}


def test_roles_get_exactly_their_grants_and_deletes_remove_access(node: Node) -> None:
    node.write([WRITER, READER], ["shop", "logs"])
    node.start()
    assert node.apply() == 0

    with node.connect("writer", "writer-password", "shop") as writer:
        writer.execute("CREATE TABLE orders (id serial PRIMARY KEY, item text)")
        writer.execute("INSERT INTO orders (item) VALUES ('book')")
    with node.connect("reader", "reader-password", "shop") as reader:
        assert reader.execute("SELECT item FROM orders").fetchall() == [("book",)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("INSERT INTO orders (item) VALUES ('pen')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("CREATE TABLE mine (id int)")
    for user in ("writer", "reader"):
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            node.connect(user, f"{user}-password", "logs")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        node.connect("writer", "wrong-password", "shop")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        node.connect("metapaas", "a-guessed-password", "postgres")
    with node.connect("admin", ADMIN_PASSWORD, "shop") as admin:
        assert admin.execute(
            "SELECT rolsuper FROM pg_roles WHERE rolname = 'admin'"
        ).fetchone() == (False,)
        admin.execute("INSERT INTO orders (item) VALUES ('ink')")
        admin.execute("CREATE DATABASE scratch")  # admin's own: the applier leaves it alone

    assert node.apply() == 0, "a second apply of the same state is no change and no error"

    node.write([READER], ["shop"])
    assert node.apply() == 0
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        node.connect("writer", "writer-password", "shop")
    with node.connect("reader", "reader-password", "shop") as reader:
        assert reader.execute("SELECT count(*) FROM orders").fetchone() == (2,)
    with node.superuser("postgres") as conn:
        databases = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
    assert {"shop", "scratch"} <= databases
    assert "logs" not in databases

    node.write([], [])
    assert node.apply() == 0
    with node.superuser("postgres") as conn:
        databases = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        roles = {row[0] for row in conn.execute("SELECT rolname FROM pg_roles WHERE rolcanlogin")}
    assert "shop" not in databases
    assert "scratch" in databases
    assert roles == {"admin", "metapaas"}


def test_the_node_files_hold_verifiers_and_no_password(node: Node) -> None:
    node.write([WRITER], ["shop"])
    node.start()
    assert node.apply() == 0
    desired = (node.layout.node_dir / DESIRED_FILE).read_text()
    assert "writer-password" not in desired
    assert ADMIN_PASSWORD not in desired
    assert "SCRAM-SHA-256$4096:" in desired
    with node.superuser("postgres") as conn:
        stored = conn.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'writer'"
        ).fetchone()
    assert stored is not None
    assert stored[0] in desired


def test_a_setting_that_needs_a_restart_shuts_the_server_down_fast(node: Node) -> None:
    node.write(max_connections=50)
    node.start()
    assert node.apply() == 0
    session = node.connect("admin", ADMIN_PASSWORD, "postgres")  # a fast shutdown ends it
    node.write(max_connections=60)
    assert node.apply() == 0
    assert node.launcher is not None
    assert node.launcher.wait(30) == 0, "the launcher ends with the server, for the supervisor"
    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")
    node.start()
    with node.superuser("postgres") as conn:
        assert conn.execute("SHOW max_connections").fetchone() == ("60",)
    assert node.apply() == 0, "nothing is pending after the restart"


def test_nodes_copied_from_one_template_have_their_own_clusters_and_passwords(
    new_node: Callable[[str], Node], templates: Path
) -> None:
    first, second = new_node("first"), new_node("second")
    for node in (first, second):
        node.write(databases=["shop"])
        node.start()
        assert node.apply() == 0
    assert len(list(templates.iterdir())) == 1, "one initdb, copied for both nodes"
    passwords = {node.layout.superuser_password_file.read_text() for node in (first, second)}
    assert len(passwords) == 2
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        applier.connector(first.layout, "127.0.0.1", second.port)("postgres")
    with first.connect("admin", ADMIN_PASSWORD, "shop") as admin:
        admin.execute("CREATE TABLE only_here (id int)")
    with second.connect("admin", ADMIN_PASSWORD, "shop") as admin:
        assert admin.execute("SELECT to_regclass('only_here')").fetchone() == (None,)
    with second.superuser("postgres") as conn:
        port = conn.execute("SHOW port").fetchone()
        hba = conn.execute("SHOW hba_file").fetchone()
    assert port == (str(second.port),)
    assert hba == (str(second.layout.node_dir / "conf" / "pg_hba.conf"),)


def test_without_a_place_for_templates_a_node_runs_initdb_itself(
    node: Node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_directory = tmp_path / "cache"
    not_a_directory.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(not_a_directory))
    node.write()
    node.start()
    assert node.apply() == 0
    with node.superuser("postgres") as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


@pytest.fixture(scope="module")
def serving(
    templates: Path, trusted: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Node]:
    """One running node with the database ``shop``, shared by the TLS tests: they log in
    and read its certificate, and the renewal (which changes it) comes last."""
    node = make_node(tmp_path_factory.mktemp("serving") / "node", trusted)
    node.write(databases=["shop"])
    node.start()
    assert node.apply() == 0
    yield node
    node.stop()


def test_a_client_verifying_the_server_against_the_ca_logs_in_over_tls(serving: Node) -> None:
    with serving.connect("admin", ADMIN_PASSWORD, "shop") as admin:
        assert admin.pgconn.ssl_in_use
        row = admin.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
        assert row == (True,)


def test_a_client_trusting_another_ca_is_refused(serving: Node, tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    other.write_text(tls.Authority.new("other", utcnow()).certificate_pem)
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        serving.connect("admin", ADMIN_PASSWORD, "shop", sslrootcert=other)


def test_a_plain_login_is_refused_even_from_the_nodes_own_address(serving: Node) -> None:
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        serving.connect("admin", ADMIN_PASSWORD, "shop", sslmode="disable")


def test_a_renewed_certificate_is_served_without_a_restart(serving: Node) -> None:
    postmaster = serving.postmaster_pid()
    session = serving.connect("admin", ADMIN_PASSWORD, "shop")
    renewed = AUTHORITY.issue(["127.0.0.1", "test-main-0"], utcnow())
    serial = x509.load_pem_x509_certificate(renewed.certificate.encode()).serial_number
    assert serving.served_serial() != serial

    serving.write(databases=["shop"], certificate=renewed)
    serving.tls_reload()
    # pg_reload_conf() signals the postmaster: connections after it handled it get the new one.
    wait_for(lambda: serving.served_serial() == serial, 10, "the renewed certificate")
    assert serving.postmaster_pid() == postmaster
    assert session.execute("SELECT 1").fetchone() == (1,), "an open session goes on"
    session.close()
