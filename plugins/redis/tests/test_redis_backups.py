"""Snapshots of a real redis-server, stored by the agent's own code in a directory repository.

The steps run as the agent runs them: the type's declared commands, rendered from the
node's metadata by the agent's command runner, with the agent's snapshot work around
them (``metapaas.agent.snapshots``). A restore goes onto a new node directory before its
server starts, as on a new node.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from metapaas_redis import Redis

from metapaas import tls
from metapaas.agent import snapshots
from metapaas.agent.commands import CommandResult, CommandRunner
from metapaas.db.models import utcnow
from metapaas.testing import free_port, instance_view, running_service, wait_for, write_node

PASSWORD = "owner-password-0123456789"
REDIS = Redis()
PLANE = REDIS.data_plane("main", REDIS.versions[0])
AUTHORITY = tls.Authority.new("redis backup test CA", utcnow())
SNAPSHOT = {(0, "user:1"): "ada", (0, "user:2"): "grace", (0, "counter"): "41", (3, "other"): "x"}
"""What the instance holds when the backup is made: (database, key) to value."""


@dataclass
class Node:
    dir: Path
    port: int
    context: dict[str, Any]
    trusted: Path

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            db=db,
            password=PASSWORD,
            ssl=True,
            ssl_ca_certs=str(self.trusted),
        )

    def step(self, name: str, **args: Any) -> CommandResult:
        """Run the type's step ``name`` as the agent does, with the agent's part around it."""
        around = snapshots.around_for(REDIS, name, args, self.context["backup"])
        runner = CommandRunner(self.dir)
        return runner.run(
            f"{name}-{free_port()}", name, PLANE.commands, self.context, args=args, around=around
        )


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("repository")


def written(directory: Path, repository: Path, persistence: str) -> Node:
    """A node directory with the type's files, its metadata naming ``repository``."""
    place = {
        "repository": {"kind": "filesystem", "path": str(repository)},
        "path": "/i/cache",
        "key": "k" * 40,
    }
    view = instance_view(REDIS, {"password": PASSWORD, "persistence": persistence}, name="cache")
    port = free_port()
    backup = {"store": {**place, "continuous": False}, "source": place}
    context = write_node(
        REDIS, view, directory, {"redis": port}, authority=AUTHORITY, backup=backup
    )
    trusted = directory / "client-ca.pem"
    trusted.write_text(AUTHORITY.certificate_pem)
    return Node(directory, port, context, trusted)


@contextlib.contextmanager
def serving(node: Node) -> Iterator[Node]:
    with running_service(PLANE.services[0], node.context, node.dir) as server:
        wait_for(lambda: _answers(node, server), 10, "redis-server to answer")
        yield node


def _answers(node: Node, server: subprocess.Popen[bytes]) -> bool:
    assert server.poll() is None, "redis-server exited"
    try:
        return bool(node.client().ping())
    except (redis.ConnectionError, redis.BusyLoadingError):
        return False


def _contents(node: Node) -> dict[tuple[int, str], str]:
    found = {}
    for db in range(16):
        client = node.client(db)
        for key in client.scan_iter():
            found[(db, key.decode())] = client.get(key).decode()
    return found


@pytest.fixture(scope="module")
def backed_up(tmp_path_factory: pytest.TempPathFactory, repository: Path) -> dict[str, Any]:
    """Backup ``b1`` of a primary holding :data:`SNAPSHOT`, changed right after; its report."""
    node = written(tmp_path_factory.mktemp("primary"), repository, "aof")
    with serving(node):
        for (db, key), value in SNAPSHOT.items():
            node.client(db).set(key, value)
        done = node.step("backup", backup="b1", kind="snapshot")
        node.client().delete("user:1")
        node.client().set("after", "the backup")
    assert done.state == "succeeded", done.output
    assert done.result is not None
    return done.result


def test_the_backup_reports_the_keys_it_saved_and_the_object_it_stored(
    backed_up: dict[str, Any], repository: Path
) -> None:
    assert backed_up["position"] == {"keys": 4, "expires": 0}
    assert list(backed_up["objects"]) == ["b1/dump.rdb"]
    stored = repository / "i/cache/b1/dump.rdb"
    assert backed_up["size_bytes"] == stored.stat().st_size
    assert b"REDIS" not in stored.read_bytes(), "sealed, not the plain RDB"


@pytest.mark.parametrize(
    "persistence", ["aof", "rdb"], ids=lambda p: f"a node with {p} gets the snapshot's keys"
)
def test_a_restore_onto_a_new_node_serves_exactly_the_snapshot_and_verifies(
    backed_up: dict[str, Any], repository: Path, tmp_path: Path, persistence: str
) -> None:
    node = written(tmp_path, repository, persistence)
    restored = node.step("restore", label="b1", point_in_time="")
    assert restored.state == "succeeded", restored.output
    with serving(node):
        assert _contents(node) == SNAPSHOT
        verified = node.step("verify", label="b1", **backed_up["position"])
        assert verified.state == "succeeded", verified.output
        assert verified.result is not None
        assert verified.result["objects"] == backed_up["objects"]
        assert verified.result["check"] == "the restored server holds 4 keys; the backup recorded 4"
        wrong = node.step("verify", label="b1", keys=5)
    assert wrong.state == "failed"
    assert "the restored server holds 4 keys, the backup 5" in wrong.output


def test_a_restore_refuses_a_volume_that_holds_data(
    backed_up: dict[str, Any], repository: Path, tmp_path: Path
) -> None:
    node = written(tmp_path, repository, "rdb")
    (tmp_path / "data").mkdir()
    (tmp_path / "data/dump.rdb").write_bytes(b"someone's data")
    done = node.step("restore", label="b1")
    assert done.state == "failed"
    assert "the volume already holds" in done.output
    assert (tmp_path / "data/dump.rdb").read_bytes() == b"someone's data"


@pytest.mark.parametrize("step", ["restore", "verify"], ids=lambda step: f"{step} names the object")
def test_a_flipped_byte_in_the_stored_object_fails(
    backed_up: dict[str, Any], repository: Path, tmp_path: Path, step: str
) -> None:
    stored = repository / "i/cache/b1/dump.rdb"
    intact = stored.read_bytes()
    flipped = bytearray(intact)
    flipped[len(flipped) // 2] ^= 0x01
    stored.write_bytes(bytes(flipped))
    try:
        done = written(tmp_path, repository, "aof").step(step, label="b1", keys=4)
    finally:
        stored.write_bytes(intact)
    assert done.state == "failed"
    assert "i/cache/b1/dump.rdb does not decrypt with the instance's key" in done.output
    assert not (tmp_path / "data").exists(), "nothing restored"
