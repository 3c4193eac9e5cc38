"""The redis type end to end: a real control plane, a real node, redis-py as the client,
over TLS verified against the CA the credentials carry."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from metapaas import tls
from metapaas.db.models import utcnow
from metapaas.testing import ControlPlane, wait_for

pytestmark = pytest.mark.e2e

TYPE = "/v1/types/redis/instances"
MIB = 1024 * 1024


def connect(
    credentials: dict[str, Any], username: str = "default", password: str = "", **options: Any
) -> redis.Redis:
    return redis.Redis(
        host=credentials["host"],
        port=credentials["port"],
        username=username,
        password=password or credentials["password"],
        retry=Retry(NoBackoff(), 0),  # a refusal must fail at once
        **{"ssl": credentials["tls"], "ssl_ca_data": credentials["ca_certificate"], **options},
    )


def _assert_tls_only(credentials: dict[str, Any]) -> None:
    """The URL works with the CA the credentials carry, and with no other; a plain
    connection gets no answer."""
    owner = redis.Redis.from_url(credentials["url"], ssl_ca_data=credentials["ca_certificate"])
    assert owner.connection_pool.connection_class is redis.SSLConnection
    assert owner.ping()
    other = tls.Authority.new("other", utcnow()).certificate_pem
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        connect(credentials, ssl_ca_data=other).ping()
    with pytest.raises(redis.ConnectionError):
        connect(credentials, ssl=False, socket_timeout=5).ping()


def test_redis_instance_serves_users_resizes_live_and_keeps_aof_data(
    control_plane: ControlPlane,
) -> None:
    plane = control_plane
    with plane.client() as api:
        body = {"name": "cache", "memory_mb": 32, "persistence": "aof"}
        instance = plane.create_instance(api, "redis", body, timeout=60)
        path = f"{TYPE}/{instance['id']}"
        assert "password" not in api.get(path).json()
        credentials = api.get(f"{path}/credentials").json()
        assert credentials["username"] == "default"
        assert credentials["url"].startswith("rediss://default:")
        _assert_tls_only(credentials)

        owner = connect(credentials)
        owner.set("greeting", "hello")
        assert owner.get("greeting") == b"hello"
        _assert_password_not_in_argv_or_on_disk(plane, owner, credentials["password"])

        app_password = _create_user(plane, api, path)
        app = connect(credentials, "app", app_password)
        app.set("app:1", "one")
        assert app.get("app:1") == b"one"
        with pytest.raises(redis.exceptions.NoPermissionError):
            app.set("other", "x")
        with pytest.raises(redis.exceptions.NoPermissionError):
            app.get("greeting")

        before = owner.info("server") | {"client_id": owner.client_id()}
        assert api.patch(path, json={"memory_mb": 48}).status_code == 202
        plane.wait_converged(api, path, timeout=60)
        after = owner.info("server") | {"client_id": owner.client_id()}
        same = ("run_id", "process_id", "client_id")  # the same server and connection
        assert [after[key] for key in same] == [before[key] for key in same]
        assert owner.config_get("maxmemory") == {"maxmemory": str(48 * MIB)}

        (node,) = plane.node_names()
        plane.kill_node(node)
        restarted = wait_for(lambda: _new_run_id(credentials, before["run_id"]), 60, "a restart")
        assert restarted.get("greeting") == b"hello"
        assert connect(credentials, "app", app_password).get("app:1") == b"one"
        assert restarted.config_get("maxmemory") == {"maxmemory": str(48 * MIB)}
        plane.wait_status(api, path, "ACTIVE", timeout=60)
        _rotate_password(plane, api, path, credentials)


def test_a_frozen_node_is_replaced_on_its_volume_and_keeps_its_data(
    control_plane: ControlPlane,
) -> None:
    """The agent is frozen: the node is replaced (a new node directory, a new agent and
    redis-server) on the same volume, so what was written is still there; deleting the
    instance deletes the volume."""
    plane = control_plane
    with plane.client() as api:
        body = {"name": "kept", "memory_mb": 32, "persistence": "aof"}
        instance = plane.create_instance(api, "redis", body, timeout=60)
        path = f"{TYPE}/{instance['id']}"
        credentials = api.get(f"{path}/credentials").json()
        connect(credentials).set("greeting", "still here")
        (node,) = plane.node_names()
        frozen = plane.node_pid(node)
        os.kill(frozen, signal.SIGSTOP)
        try:
            wait_for(lambda: _replaced(plane, node, frozen), 90, "the frozen node's replacement")
            plane.wait_status(api, path, "ACTIVE", timeout=60)
        finally:
            _resume(frozen)
        moved = api.get(f"{path}/credentials").json()  # a new node: its port may be new
        assert connect(moved).get("greeting") == b"still here"
        assert (plane.home / "volumes" / node).is_dir()

        assert api.delete(path).status_code == 202
        wait_for(lambda: not (plane.home / "volumes" / node).exists(), 60, "the volume's removal")


def test_a_node_whose_volume_was_lost_comes_back_restored_from_its_latest_backup(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    """The node and its volume's data are gone (a lost disk): the node started again
    restores the newest snapshot from the repository before redis serves."""
    plane = control_plane
    with plane.client() as api:
        local = {"name": "local", "kind": "filesystem", "path": str(tmp_path / "backups")}
        assert api.post("/v1/backup-repositories", json=local).status_code == 201
        instance = plane.create_instance(api, "redis", {"name": "kept"}, timeout=60)
        path = f"{TYPE}/{instance['id']}"
        connect(api.get(f"{path}/credentials").json()).set("greeting", "backed up")
        policy = {"repository": "local", "schedule": "0 3 * * *", "retention": {"count": 2}}
        assert api.put(f"{path}/backup-policy", json=policy).status_code == 200
        backup_id = api.post(f"{path}/backups", json={}).json()["backup_id"]
        wait_for(
            lambda: api.get(f"{path}/backups/{backup_id}").json().get("state") == "VERIFIED",
            90,
            "the snapshot and its drill",
        )
        (node,) = [n for n in plane.node_names() if n.startswith(instance["id"].replace("-", ""))]
        volume, before = plane.home / "volumes" / node / "data", plane.node_pid(node)
        for entry in volume.iterdir():  # the disk is lost: nothing of it is left ...
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        plane.kill_node(node)  # ... and the node with it, before redis writes anew
        wait_for(lambda: _replaced(plane, node, before), 90, "the node to start again")

        def said() -> set[str]:
            return {e["message"] for e in api.get(f"{path}/events").json()["items"]}

        # The restore ran before redis started; the ACTIVE after it is the new node's.
        wait_for(lambda: {"restore queued", "restore exit 0"} <= said(), 90, "the restore")
        plane.wait_status(api, path, "ACTIVE", timeout=90)
        assert connect(api.get(f"{path}/credentials").json()).get("greeting") == b"backed up"


def _replaced(plane: ControlPlane, node: str, old_pid: int) -> bool:
    try:
        return plane.node_pid(node) != old_pid
    except FileNotFoundError:  # between the old node's removal and the new one's record
        return False


def _resume(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)


def _create_user(plane: ControlPlane, api: httpx.Client, path: str) -> str:
    """A user the engine knows once the instance converged; its password is shown once
    (bad users are refused in ``test_redis_api.py``)."""
    users = f"{path}/users"
    created = api.post(users, json={"name": "app", "keys": ["app:*"], "access": "readwrite"})
    assert created.status_code == 201, created.text
    assert "password" not in api.get(f"{users}/app").json()
    plane.wait_converged(api, path, timeout=60)
    password: str = created.json()["password"]
    return password


def _assert_password_not_in_argv_or_on_disk(
    plane: ControlPlane, owner: redis.Redis, password: str
) -> None:
    pid = owner.info("server")["process_id"]
    assert password.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
    (node,) = plane.node_names()
    for file in (plane.home / "nodes" / node).rglob("*"):
        if file.is_file():
            assert password.encode() not in file.read_bytes(), file


def _rotate_password(
    plane: ControlPlane, api: httpx.Client, path: str, old: dict[str, Any]
) -> None:
    """A PATCHed password works once the instance converged; the old one is refused."""
    rotated = "rotated-password-0123456789"
    assert api.patch(path, json={"password": rotated}).status_code == 202
    plane.wait_converged(api, path, timeout=60)
    assert api.get(f"{path}/credentials").json()["password"] == rotated
    assert connect(old, password=rotated).get("greeting") == b"hello"
    with pytest.raises(redis.AuthenticationError):
        connect(old).ping()


def _new_run_id(credentials: dict[str, Any], old_run_id: str) -> redis.Redis | None:
    """A connection to the restarted server once it answers with its data loaded."""
    try:
        connection = connect(credentials)
        info = connection.info("server")
    except (redis.ConnectionError, redis.exceptions.BusyLoadingError):
        return None
    return connection if info["run_id"] != old_run_id else None


def test_a_node_without_redis_server_turns_the_instance_error_naming_it(
    tmp_path: Path, e2e_database_url: str
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    plane = ControlPlane(tmp_path / "home", e2e_database_url, PATH=str(empty))
    plane.start()
    try:
        with plane.client() as api:
            created = api.post(TYPE, json={"name": "nobinary"})
            assert created.status_code == 202, created.text
            failed = plane.wait_status(api, f"{TYPE}/{created.json()['id']}", "ERROR", timeout=60)
            assert "redis-server" in failed["status_reason"]
        plane.delete_all_instances(60)
    finally:
        plane.stop()
