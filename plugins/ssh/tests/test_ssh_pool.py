"""The ssh provider end to end: three hosts (network namespaces with their own sshd), a real
control plane in a namespace of its own, real redis and PostgreSQL on the hosts, real clients.

The tests of this module share one lab and one control plane, on one backend (the testing
kit's ``e2e_module_database_url``: modules take turns), and run in order, as an operator's
day would go: hosts are registered (one with a wrong host key, one whose sshd has no SFTP,
one whose python3 only root may run), instances land on them, a frozen node is replaced on
its volume, a host is drained, a host is lost and comes back.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from hostlab import Host, HostLab, pool_control_plane, unavailable_reason

from metapaas import tls
from metapaas.db import models
from metapaas.testing import ControlPlane, wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason())),
]

CAPACITY = {"nodes": 2, "memory_mb": 2048}
POOL = 3
"""The pool's hosts; the lab's fourth is a host that must not join it (its python3)."""
PYENV = "/root/.pyenv/bin"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HARDENED, ROOT_ONLY_PYTHON = "host3", "host4"


@dataclass
class Pool:
    lab: HostLab
    plane: ControlPlane
    api: httpx.Client

    @property
    def hosts(self) -> list[Host]:
        return self.lab.hosts[:POOL]

    def host(self, name: str) -> Host:
        return next(h for h in self.lab.hosts if h.name == name)

    def show(self, name: str) -> dict[str, Any]:
        answer = self.api.get(f"/v1/hosts/{name}")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def wait_host(self, name: str, state: str, timeout: float = 60) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            body = self.show(name)
            return body if body["state"] == state else None

        found: dict[str, Any] = wait_for(reached, timeout, f"host {name} to be {state}")
        return found

    def where(self) -> dict[str, str]:
        """Each node's host, from the hosts' views."""
        return {
            node["name"]: host["name"]
            for host in self.api.get("/v1/hosts").json()["items"]
            for node in host["nodes"]
        }


def register(api: httpx.Client, host: Host, **changes: Any) -> httpx.Response:
    body = {
        "name": host.name,
        "address": host.address,
        "port": host.port,
        "user": host.user,
        "private_key": host.private_key,
        "host_key": host.host_key,
        "capacity": CAPACITY,
        "labels": {"zone": host.name},
    }
    return api.post("/v1/hosts", json=body | changes)


@pytest.fixture(scope="module")
def pool(e2e_module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pool]:
    home = tmp_path_factory.mktemp("ssh") / "home"
    lab = HostLab(
        count=POOL + 1,
        prefix="mpssh",
        without_sftp={HARDENED},
        # Its login finds a python3 under /root first, as a pyenv of root's would be.
        sshd_extra={ROOT_ONLY_PYTHON: f"SetEnv PATH={PYENV}:{SYSTEM_PATH}"},
    )
    with (
        lab,
        pool_control_plane(lab, e2e_module_database_url, home) as plane,
        plane.client() as api,
    ):
        yield Pool(lab, plane, api)


def test_a_host_key_other_than_the_pinned_one_is_refused(pool: Pool) -> None:
    host1, host2 = pool.lab.hosts[:2]
    bad = register(pool.api, host1, private_key="not a key")
    assert bad.status_code == 422, bad.text
    assert [e["field"] for e in bad.json()["errors"]] == ["private_key"]

    assert register(pool.api, host1, host_key=host2.host_key).status_code == 201
    refused = pool.wait_host("host1", "UNREACHABLE")
    assert "pinned" in refused["state_reason"]
    assert "private_key" not in refused
    assert host1.private_key not in str(refused)
    assert pool.api.delete("/v1/hosts/host1").status_code == 204


def test_registered_hosts_are_checked_and_ready(pool: Pool) -> None:
    for host in pool.hosts:
        assert register(pool.api, host).status_code == 201, host.name
    for host in pool.hosts:
        ready = pool.wait_host(host.name, "READY", timeout=120)
        assert ready["facts"]["python_version"].startswith("3.11")
        assert ready["facts"]["types"] == {"demo": "", "postgres": "", "redis": "", "s3": ""}
        assert ready["capacity"] == CAPACITY
    assert register(pool.api, pool.hosts[0]).status_code == 409


def test_a_host_whose_sshd_offers_no_sftp_takes_the_runtime_all_the_same(pool: Pool) -> None:
    hardened = pool.host(HARDENED)
    assert "sftp" not in (hardened.directory / "etc/ssh/sshd_config").read_text()
    assert pool.show(HARDENED)["state"] == "READY"
    assert any((hardened.var_lib_metapaas / "runtime").iterdir()), "the runtime is unpacked"


def test_a_host_whose_python3_a_node_cannot_run_is_unsuitable_saying_why(pool: Pool) -> None:
    host = pool.lab.hosts[POOL]
    pool.lab.run(host, ["mkdir", "-p", PYENV])
    pool.lab.run(host, ["ln", "-s", "/usr/bin/python3", f"{PYENV}/python3"])  # /root is 0700
    assert register(pool.api, host).status_code == 201

    refused = pool.wait_host(host.name, "UNSUITABLE", timeout=60)
    assert f"its python3 {PYENV}/python3 cannot be run by a node's user" in refused["state_reason"]
    assert "Permission denied" in refused["state_reason"]
    assert pool.api.delete(f"/v1/hosts/{host.name}").status_code == 204


def test_redis_and_postgres_serve_from_hosts_and_nodes_spread(pool: Pool, tmp_path: Path) -> None:
    api, plane = pool.api, pool.plane
    cache = plane.create_instance(
        api, "redis", {"name": "cache", "memory_mb": 32, "persistence": "aof"}, timeout=180
    )
    credentials = api.get(f"/v1/types/redis/instances/{cache['id']}/credentials").json()
    addresses = {h.address for h in pool.hosts}
    assert credentials["host"] in addresses
    client = redis.Redis.from_url(credentials["url"], ssl_ca_data=credentials["ca_certificate"])
    client.set("greeting", "from a host")
    assert client.get("greeting") == b"from a host"

    db = plane.create_instance(api, "postgres", {"name": "db"}, timeout=180)
    dsn = api.get(f"/v1/types/postgres/instances/{db['id']}/credentials").json()
    assert dsn["host"] in addresses
    authority = tmp_path / "ca.pem"
    authority.write_text(dsn["ca_certificate"])
    with psycopg.connect(dsn["dsn"], sslrootcert=str(authority), connect_timeout=10) as connection:
        assert connection.execute("select 1").fetchone() == (1,)

    web = plane.create_instance(api, "demo", {"name": "web", "replicas": 2}, timeout=180)
    placed = pool.where()
    web_hosts = {placed[n] for n in placed if n.startswith(web["id"].replace("-", ""))}
    assert len(web_hosts) == 2, placed  # anti-affinity: one host each
    _assert_capacity_kept(pool)


def test_an_agent_on_a_host_refuses_a_control_plane_its_ca_did_not_sign(pool: Pool) -> None:
    """The host's own runtime, as its nodes' agents run it, against the real control plane
    (HTTPS, off loopback) but with another CA beside the token: it sends nothing and says
    why. The nodes placed by the test above reached the same control plane over HTTPS with
    the CA their provider left them."""
    host_name = next(
        host["name"] for host in pool.api.get("/v1/hosts").json()["items"] if host["nodes"]
    )
    host = pool.host(host_name)
    runtime = pool.lab.run(host, ["ls", "/var/lib/metapaas/runtime"]).stdout.split()[0]
    other = tls.Authority.new("another CA", models.utcnow()).certificate_pem
    node_dir = "/var/lib/metapaas/stray"
    script = (
        f"mkdir -p {node_dir} && printf %s {shlex.quote(other)} > {node_dir}/control-plane-ca.pem"
        f" && echo mpb_never_sent > {node_dir}/bootstrap.token && "
        f"PYTHONPATH=/var/lib/metapaas/runtime/{runtime} timeout 30 python3 -s -m metapaas.agent"
        f" --url {pool.plane.url} --dir {node_dir}"
    )
    try:
        ran = pool.lab.run(host, ["sh", "-c", script], check=False, timeout=90)
    finally:
        pool.lab.run(host, ["rm", "-rf", node_dir])
    assert pool.plane.url.startswith("https://")
    assert ran.returncode == 1, "it gives up at once: asking again cannot help"
    assert "CERTIFICATE_VERIFY_FAILED" in ran.stderr, ran.stderr[-2000:]


def test_capacity_is_never_exceeded_and_the_instance_says_why(pool: Pool) -> None:
    """Six slots, four taken: an instance of three nodes waits, naming each host."""
    api = pool.api
    created = api.post("/v1/types/demo/instances", json={"name": "crowd", "replicas": 3})
    path = f"/v1/types/demo/instances/{created.json()['id']}"

    def waiting() -> str:
        reason: str = api.get(path).json()["status_reason"]
        return reason if "no host can take the node" in reason else ""

    reason = wait_for(waiting, 60, "the instance to say no host has room")
    assert "full (2/2 nodes)" in reason, reason
    _assert_capacity_kept(pool)
    assert api.delete(path).status_code == 202
    wait_for(lambda: api.get(path).status_code == 404, 60, "the crowd to go")


def test_a_nodes_files_are_unreadable_to_another_nodes_user(pool: Pool) -> None:
    host_name, (mine, other) = next(
        (host["name"], [n["name"] for n in host["nodes"]][:2])
        for host in pool.api.get("/v1/hosts").json()["items"]
        if len(host["nodes"]) >= 2
    )
    host = pool.host(host_name)
    for path in (f"/var/lib/metapaas/nodes/{mine}", f"/var/lib/metapaas/volumes/{mine}"):
        as_owner = pool.lab.run(host, ["runuser", "-u", _user(mine), "--", "ls", path])
        assert as_owner.returncode == 0, as_owner.stderr
        as_other = pool.lab.run(
            host, ["runuser", "-u", _user(other), "--", "ls", path], check=False
        )
        assert as_other.returncode != 0
        assert "Permission denied" in as_other.stderr


def test_a_frozen_node_is_replaced_on_its_host_with_its_volume(pool: Pool) -> None:
    api, plane = pool.api, pool.plane
    (cache,) = api.get("/v1/types/redis/instances").json()["items"]
    path = f"/v1/types/redis/instances/{cache['id']}"
    node = next(n for n in pool.where() if n.startswith(cache["id"].replace("-", "")))
    host = pool.host(pool.where()[node])
    frozen = _agent_pid(host, node)
    os.kill(frozen, signal.SIGSTOP)  # the hosts share this machine's process ids
    try:
        wait_for(lambda: _agent_pid(host, node) != frozen, 90, "the frozen node's replacement")
        plane.wait_status(api, path, "ACTIVE", timeout=90)
    finally:
        _resume(frozen)
    assert pool.where()[node] == host.name, "replaced on another host than its volume's"
    credentials = api.get(f"{path}/credentials").json()
    client = redis.Redis.from_url(credentials["url"], ssl_ca_data=credentials["ca_certificate"])
    assert client.get("greeting") == b"from a host"


def test_draining_a_host_leaves_it_empty_with_every_instance_active(pool: Pool) -> None:
    api = pool.api
    busiest = max(api.get("/v1/hosts").json()["items"], key=lambda h: len(h["nodes"]))
    answer = api.post(f"/v1/hosts/{busiest['name']}/actions/drain")
    assert answer.status_code == 202, answer.text

    wait_for(lambda: not pool.show(busiest["name"])["nodes"], 240, "the drained host to be empty")
    _wait_all_active(pool)
    assert busiest["name"] not in pool.where().values()
    _assert_capacity_kept(pool)


def test_a_lost_host_is_replaced_and_cleaned_up_when_it_returns(pool: Pool) -> None:
    api, lab = pool.api, pool.lab
    drained = next(h["name"] for h in api.get("/v1/hosts").json()["items"] if h["draining"])
    lost = next(h for h in lab.hosts if h.name != drained and h.name in pool.where().values())
    moving = sorted(n for n, h in pool.where().items() if h == lost.name)
    lab.kill(lost)
    pool.wait_host(lost.name, "UNREACHABLE")
    _undrain(pool, drained)  # room for what the lost host held

    wait_for(
        lambda: all(pool.where().get(n) not in (None, lost.name) for n in moving),
        180,
        f"{moving} to be placed on other hosts",
    )
    _wait_all_active(pool)
    events = [e for i in _instances(pool) for e in api.get(f"{i}/events").json()["items"]]
    assert any(e["kind"] == "node_moved" and "empty volume" in e["message"] for e in events)

    lab.revive(lost)
    pool.wait_host(lost.name, "READY", timeout=120)
    leftovers = (lost.var_lib_metapaas / "nodes", lost.var_lib_metapaas / "volumes")
    wait_for(
        lambda: not any((d / n).exists() for d in leftovers for n in moving),
        60,
        "the stale nodes and volumes to be removed from the host that returned",
    )


# -- helpers ----------------------------------------------------------------------


def _user(node: str) -> str:
    return "mpn-" + hashlib.sha256(node.encode()).hexdigest()[:16]


def _agent_pid(host: Host, node: str) -> int:
    record = host.var_lib_metapaas / "nodes" / node / "node.json"
    try:
        return int(json.loads(record.read_text())["pid"] or 0)
    except (FileNotFoundError, ValueError):
        return 0


def _resume(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)


def _assert_capacity_kept(pool: Pool) -> None:
    for host in pool.api.get("/v1/hosts").json()["items"]:
        assert host["used"]["nodes"] <= host["capacity"]["nodes"], host
        on_disk = pool.host(host["name"]).var_lib_metapaas / "nodes"
        if on_disk.is_dir() and host["state"] == "READY":
            running = [p for p in on_disk.iterdir() if not p.name.startswith(".")]
            assert len(running) <= host["capacity"]["nodes"], (host["name"], running)


def _instances(pool: Pool) -> list[str]:
    paths = []
    for slug in ("redis", "postgres", "demo"):
        items = pool.api.get(f"/v1/types/{slug}/instances").json()["items"]
        paths += [f"/v1/types/{slug}/instances/{item['id']}" for item in items]
    return paths


def _wait_all_active(pool: Pool) -> None:
    for path in _instances(pool):
        pool.plane.wait_status(pool.api, path, "ACTIVE", timeout=180)


def _undrain(pool: Pool, name: str) -> None:
    answer = pool.api.post(f"/v1/hosts/{name}/actions/resume")
    assert answer.status_code == 200, answer.text
    assert not answer.json()["draining"]


def test_a_type_pinned_to_a_pool_lands_there(pool: Pool) -> None:
    api = pool.api
    roomiest = min(
        (h for h in api.get("/v1/hosts").json()["items"] if h["state"] == "READY"),
        key=lambda h: len(h["nodes"]),
    )
    pin = {"provider": "ssh", "host_labels": {"zone": roomiest["name"]}}
    assert api.put("/v1/placement/pins/type/demo", json=pin).status_code == 200
    try:
        lone = pool.plane.create_instance(api, "demo", {"name": "lone"}, timeout=120)
        (node,) = [n for n in pool.where() if n.startswith(lone["id"].replace("-", ""))]
        assert pool.where()[node] == roomiest["name"]
    finally:
        assert api.delete("/v1/placement/pins/type/demo").status_code == 204
