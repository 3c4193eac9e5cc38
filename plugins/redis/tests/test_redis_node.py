"""The node side against a real redis-server, without a control plane.

The templates are written through the agent's own apply code from the metadata
the control plane publishes (``metapaas.testing.write_node``); the service and
the reloads are the very argv the type declares, rendered as the agent renders them.
"""

from __future__ import annotations

import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from metapaas_redis import Redis
from metapaas_redis.node import admin_password
from redis.backoff import NoBackoff
from redis.retry import Retry

from metapaas import sdk
from metapaas.testing import (
    free_port,
    instance_view,
    modules_loaded_by,
    render_argv,
    wait_for,
    write_node,
)

PASSWORD = "owner-password-0123456789"
REDIS = Redis()
VERSION = REDIS.versions[0]


@dataclass
class Node:
    """One node directory and the server started in it."""

    dir: Path
    port: int
    spec: dict[str, Any]
    users: list[dict[str, Any]] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)

    def view(self) -> sdk.InstanceView:
        return instance_view(REDIS, self.spec, resources={"users": self.users}, name="cache")

    def render(self) -> None:
        """Write every template as the agent would; keep the context for argv."""
        self.context = write_node(REDIS, self.view(), self.dir, {"redis": self.port})

    def argv(self, argv: tuple[str, ...]) -> list[str]:
        """An argv as the agent renders it, from the last rendered state."""
        return list(render_argv(argv, self.context))

    def reload(self, dest: str) -> None:
        """Run the reload argv the type declares for the template written to ``dest``."""
        template = next(t for t in REDIS.data_plane("main", VERSION).templates if t.dest == dest)
        subprocess.run(self.argv(template.reload), cwd=self.dir, check=True, timeout=30)

    def client(self, username: str = "default", password: str = PASSWORD) -> redis.Redis:
        # No retries: a refused login must fail at once, not after a backoff.
        return redis.Redis(
            port=self.port, username=username, password=password, retry=Retry(NoBackoff(), 0)
        )


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    started = Node(tmp_path, free_port(), {"password": PASSWORD, "persistence": "aof"})
    started.render()
    service = REDIS.data_plane("main", VERSION).services[0]
    server = subprocess.Popen(started.argv(service.argv), cwd=tmp_path)
    try:
        wait_for(lambda: _answers(started, server), 10, "redis-server to answer")
        yield started
    finally:
        server.terminate()
        server.wait(10)


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
