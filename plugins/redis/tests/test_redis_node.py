"""The node side against a real redis-server, without a control plane.

The templates are written through the agent's own apply code from the metadata
the control plane publishes (``metapaas.testing.write_node``), the certificate
files among them; the service and the reloads are the very argv the type
declares, rendered as the agent renders them. Every client speaks TLS, verifying
the server against the CA that signed the node's certificate.
"""

from __future__ import annotations

import contextlib
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from cryptography import x509
from metapaas_redis import Redis
from metapaas_redis.node import admin_password
from redis.backoff import NoBackoff
from redis.retry import Retry

from metapaas import sdk, tls
from metapaas.db.models import utcnow
from metapaas.testing import (
    free_port,
    instance_view,
    modules_loaded_by,
    render_argv,
    running_service,
    served_certificate,
    wait_for,
    write_node,
)

PASSWORD = "owner-password-0123456789"
REDIS = Redis()
VERSION = REDIS.versions[0]
AUTHORITY = tls.Authority.new("redis node test CA", utcnow())


@dataclass
class Node:
    """One node directory and the server started in it."""

    dir: Path
    port: int
    spec: dict[str, Any]
    trusted: Path
    """The CA file clients verify the server with: :data:`AUTHORITY`'s certificate."""
    users: list[dict[str, Any]] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)

    def view(self) -> sdk.InstanceView:
        return instance_view(REDIS, self.spec, resources={"users": self.users}, name="cache")

    def render(self, certificate: tls.Issued | None = None) -> None:
        """Write every template as the agent would, with ``certificate`` (or one newly
        issued by :data:`AUTHORITY`); keep the context for argv."""
        self.context = write_node(
            REDIS,
            self.view(),
            self.dir,
            {"redis": self.port},
            authority=AUTHORITY,
            certificate=certificate,
        )

    def argv(self, argv: tuple[str, ...]) -> list[str]:
        """An argv as the agent renders it, from the last rendered state."""
        return list(render_argv(argv, self.context))

    def reload(self, dest: str) -> None:
        """Run the reload argv the type declares for the template written to ``dest``."""
        template = next(t for t in REDIS.data_plane("main", VERSION).templates if t.dest == dest)
        self.run(template.reload)

    def tls_reload(self) -> None:
        """Run the type's ``tls_reload``, as the agent does after writing a renewed certificate."""
        self.run(REDIS.data_plane("main", VERSION).tls_reload)

    def run(self, argv: tuple[str, ...]) -> None:
        subprocess.run(self.argv(argv), cwd=self.dir, check=True, timeout=30)

    def client(
        self, username: str = "default", password: str = PASSWORD, **options: Any
    ) -> redis.Redis:
        """A client as one elsewhere makes it: TLS, the server verified against the CA."""
        # No retries: a refused login must fail at once, not after a backoff.
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            username=username,
            password=password,
            retry=Retry(NoBackoff(), 0),
            **{"ssl": True, "ssl_ca_certs": str(self.trusted), **options},
        )


@pytest.fixture(scope="module")
def trusted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """:data:`AUTHORITY`'s certificate, kept as a client keeps the credentials' CA."""
    path = tmp_path_factory.mktemp("client") / "ca.pem"
    path.write_text(AUTHORITY.certificate_pem)
    return path


@contextlib.contextmanager
def started(directory: Path, trusted: Path) -> Iterator[Node]:
    """A node rendered in ``directory`` with its server running; stopped afterwards."""
    node = Node(directory, free_port(), {"password": PASSWORD, "persistence": "aof"}, trusted)
    node.render()
    service = REDIS.data_plane("main", VERSION).services[0]
    with running_service(service, node.context, directory) as server:
        wait_for(lambda: _answers(node, server), 10, "redis-server to answer")
        yield node


@pytest.fixture
def node(tmp_path: Path, trusted: Path) -> Iterator[Node]:
    with started(tmp_path, trusted) as made:
        yield made


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory, trusted: Path) -> Iterator[Node]:
    """One server shared by the TLS tests: they log in and read its certificate, and the
    renewal (which changes it) comes last."""
    with started(tmp_path_factory.mktemp("serving"), trusted) as made:
        yield made


def _answers(node: Node, server: subprocess.Popen[bytes]) -> bool:
    assert server.poll() is None, "redis-server exited"
    try:
        return bool(node.client().ping())
    except redis.ConnectionError:
        return False


def test_the_owner_works_with_data_but_not_with_the_platforms_settings(node: Node) -> None:
    owner = node.client()
    owner.set("greeting", "hello")
    assert owner.get("greeting") == b"hello"
    assert owner.config_get("maxmemory") == {"maxmemory": str(64 * 1024 * 1024)}
    with pytest.raises(redis.exceptions.NoPermissionError):
        owner.config_set("maxmemory", "1gb")
    with pytest.raises(redis.exceptions.NoPermissionError):
        owner.acl_setuser("intruder", enabled=True, nopass=True)
    with pytest.raises(redis.AuthenticationError):
        node.client(password="wrong-password-0123456789").ping()


def test_no_password_is_on_disk_in_plaintext_and_private_files_are_0600(node: Node) -> None:
    node.client().set("k", "v")
    for path in node.dir.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path
    for name in ("users.acl", "server.acl", "admin.secret", "redis.conf"):
        assert stat.S_IMODE((node.dir / name).stat().st_mode) == 0o600, name


def test_a_spec_change_reaches_the_running_server_without_a_restart(node: Node) -> None:
    connection = node.client()
    before = connection.info("server")
    node.spec |= {"memory_mb": 128, "maxmemory_policy": "allkeys-lru", "persistence": "rdb"}
    node.render()
    node.reload("redis.conf")
    after = connection.info("server")
    assert (after["run_id"], after["process_id"]) == (before["run_id"], before["process_id"])
    settings = connection.config_get("*")
    assert settings["maxmemory"] == str(128 * 1024 * 1024)
    assert settings["maxmemory-policy"] == "allkeys-lru"
    assert (settings["appendonly"], settings["save"]) == ("no", "3600 1 300 100 60 10000")


def test_users_and_a_new_owner_password_reach_the_running_server(node: Node) -> None:
    node.users = [
        {
            "name": "reader",
            "password": "reader-password-012345",
            "keys": ["app:*"],
            "access": "readonly",
        }
    ]
    node.spec["password"] = "rotated-owner-password-0123"
    node.client().set("app:1", "one")
    node.render()
    node.reload("users.acl")

    reader = node.client("reader", "reader-password-012345")
    assert reader.get("app:1") == b"one"
    with pytest.raises(redis.exceptions.NoPermissionError):
        reader.set("app:1", "changed")
    with pytest.raises(redis.exceptions.NoPermissionError):
        reader.get("other")
    assert node.client(password="rotated-owner-password-0123").get("app:1") == b"one"
    with pytest.raises(redis.AuthenticationError):
        node.client().ping()

    node.users = []
    node.render()
    node.reload("users.acl")
    with pytest.raises(redis.AuthenticationError):
        node.client("reader", "reader-password-012345").ping()


def test_the_launcher_keeps_the_admin_password_it_made_first(tmp_path: Path) -> None:
    first = admin_password(tmp_path)
    assert len(first) >= 32
    assert admin_password(tmp_path) == first
    assert [p.name for p in tmp_path.iterdir()] == ["admin.secret"]


def test_serve_starts_redis_without_loading_the_redis_client() -> None:
    """Every new node waits for ``serve``; only the reloads talk to Redis."""
    loaded = modules_loaded_by("metapaas_redis.node")
    assert "metapaas_redis.node" in loaded
    assert not [name for name in loaded if name.split(".")[0] == "redis"]


def test_a_client_verifying_the_server_against_the_ca_logs_in_over_tls(serving: Node) -> None:
    owner = serving.client()
    owner.set("greeting", "hello")
    assert owner.get("greeting") == b"hello"
    assert owner.config_get("port") == {"port": "0"}, "no plain port"
    with pytest.raises(redis.AuthenticationError):
        serving.client(password="wrong-password-0123456789").ping()


def test_a_client_trusting_another_ca_is_refused(serving: Node, tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    other.write_text(tls.Authority.new("other", utcnow()).certificate_pem)
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        serving.client(ssl_ca_certs=str(other)).ping()


def test_a_plain_connection_to_the_port_fails(serving: Node) -> None:
    with pytest.raises(redis.ConnectionError):
        serving.client(ssl=False, socket_timeout=5).ping()


def test_a_renewed_certificate_is_served_without_a_restart(serving: Node) -> None:
    connection = serving.client()
    before = connection.info("server")
    renewed = AUTHORITY.issue(["127.0.0.1", "test-main-0"], utcnow())
    serial = x509.load_pem_x509_certificate(renewed.certificate.encode()).serial_number
    assert served_serial(serving) != serial

    serving.render(certificate=renewed)
    serving.tls_reload()
    assert served_serial(serving) == serial
    after = connection.info("server")
    assert (after["run_id"], after["process_id"]) == (before["run_id"], before["process_id"])


def served_serial(node: Node) -> int:
    return served_certificate("127.0.0.1", node.port, node.trusted).serial_number
