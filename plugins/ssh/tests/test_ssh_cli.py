"""``metapaas hosts`` and ``metapaas pins``, and the client's hosts routes, against a real
control plane with the ssh provider.

The module's tests share one lab of two hosts and one control plane in its namespace (on
one backend: the testing kit's ``e2e_module_database_url``); every instance, pin and host
is removed after each test. Most need no host that answers: a host registered at a loopback
port nothing listens on is checked at once and found UNREACHABLE, which is all that
registering, listing, draining, resuming and removing need.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hostlab import Host, KeyPair, Served, key_pair, served, unavailable_reason
from metapaas_ssh.client import Hosts

from metapaas.client import ApiError, AsyncClient
from metapaas.testing import ControlPlane, free_port
from tests.cli.conftest import Cli

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason())),
]


@pytest.fixture(scope="module")
def lab_and_plane(
    e2e_module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("ssh-cli") / "home"
    with served(2, "mpclih", e2e_module_database_url, home) as shared:
        yield shared


@pytest.fixture
def plane(lab_and_plane: Served) -> Iterator[ControlPlane]:
    """The module's control plane, left after the test as it was before: no instance, no
    pin, no host."""
    yield lab_and_plane.plane
    lab_and_plane.plane.delete_all_instances(120)
    with lab_and_plane.plane.client() as api:
        for pin in api.get("/v1/placement/pins").json()["items"]:
            api.delete(f"/v1/placement/pins/{pin['scope']}/{pin['target']}")
        for host in api.get("/v1/hosts").json()["items"]:
            assert api.delete(f"/v1/hosts/{host['name']}").status_code == 204, host


@pytest.fixture
def served_cli(cli: Cli, plane: ControlPlane) -> Cli:
    cli.env.update(
        METAPAAS_URL=plane.url, METAPAAS_TOKEN=plane.token, METAPAAS_CA_FILE=str(plane.ca_file)
    )
    return cli


@dataclass(frozen=True)
class Pool:
    """What registering a host needs: the login's key, a host key, a port nobody serves."""

    login: KeyPair
    host: KeyPair
    port: int

    def add(self, name: str, *options: str, private_key_file: Path | None = None) -> list[str]:
        key_file = private_key_file or self.login.private_file
        return [
            *("hosts", "add", name, "--address", "127.0.0.1", "--port", str(self.port)),
            *("--private-key-file", str(key_file), "--nodes", "2", "--memory-mb", "1024"),
            *options,
        ]


@pytest.fixture
def pool(tmp_path: Path) -> Pool:
    return Pool(key_pair(tmp_path, "login"), key_pair(tmp_path, "host"), free_port())


def test_an_admin_registers_drains_resumes_and_removes_a_host(
    served_cli: Cli, pool: Pool, tmp_path: Path
) -> None:
    cli = served_cli
    assert cli.json("hosts", "list") == []
    host_key_file = ("--host-key-file", str(pool.host.public_file))

    not_a_key = tmp_path / "not-a-key"
    not_a_key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n")
    refused = cli.run(*pool.add("host1", *host_key_file, private_key_file=not_a_key))
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: 422 private_key: ")
    assert "not a usable private key" in refused.stderr
    assert refused.stdout == ""
    unpinned = cli.run(*pool.add("host1"))
    assert unpinned.returncode == 2
    assert "give one of --host-key and --host-key-file" in unpinned.stderr
    bad_label = cli.run(*pool.add("host1", *host_key_file, "--label", "zone"))
    assert bad_label.returncode == 2
    assert "'zone' is not key=value" in bad_label.stderr
    assert cli.json("hosts", "list") == [], "nothing was registered"

    labels = ("--label", "zone=a", "--label", "rack=r7")
    added = cli.run(*pool.add("host1", *host_key_file, *labels, "--wait", "-o", "json"))
    assert added.returncode == 1, "checked, and not READY"
    assert added.stderr.startswith("error: host host1 is UNREACHABLE: ")
    host = json.loads(added.stdout)
    assert (host["state"], host["draining"], host["nodes"]) == ("UNREACHABLE", False, [])
    assert host["state_reason"] in added.stderr
    assert host["host_key"] == pool.host.public
    assert host["labels"] == {"zone": "a", "rack": "r7"}
    assert (host["capacity"], host["used"]) == (
        {"nodes": 2, "memory_mb": 1024},
        {"nodes": 0, "memory_mb": 0},
    )
    assert host["checked_at"]

    second = cli.json(*pool.add("host2", "--host-key", pool.host.public, "--user", "ops"))
    assert (second["state"], second["user"]) == ("PENDING", "ops"), "no --wait: as registered"
    duplicate = cli.run(*pool.add("host1", *host_key_file))
    assert duplicate.returncode == 1
    assert duplicate.stderr.splitlines() == [
        "error: 409 Conflict with the current state: host host1 is registered already"
    ]

    listed = cli.ok("hosts", "list").splitlines()
    assert listed[0].split() == [
        *("NAME", "ADDRESS", "STATE", "NODES", "MEMORY", "MB", "DRAINING", "REASON")
    ]
    assert listed[1].split()[:5] == ["host1", "127.0.0.1", "UNREACHABLE", "0/2", "0/1024"]
    shown = cli.ok("hosts", "show", "host1")
    assert f"root@127.0.0.1:{pool.port}" in shown
    assert "rack=r7, zone=a" in shown
    assert "0 of 1024 MB" in shown

    drained = cli.run("hosts", "drain", "host1", "--wait", "-o", "json")
    assert drained.returncode == 0, drained.stderr
    assert json.loads(drained.stdout)["draining"] is True
    assert drained.stderr.strip() == "host host1 is drained: it holds no node"
    assert [h["draining"] for h in cli.json("hosts", "list")] == [True, False]
    assert cli.json("hosts", "resume", "host1")["draining"] is False

    unconfirmed = cli.run("hosts", "remove", "host1")
    assert unconfirmed.returncode == 1
    assert "--yes" in unconfirmed.stderr
    cli.ok("hosts", "remove", "host1", "--yes")
    assert [h["name"] for h in cli.json("hosts", "list")] == ["host2"]
    for command in (("show", "host1"), ("drain", "host1"), ("remove", "host1", "--yes")):
        missing = cli.run("hosts", *command)
        assert missing.returncode == 1
        assert missing.stderr.splitlines() == [
            "error: 404 Not found: no host 'host1' is registered"
        ]

    everything_said = cli.run(*pool.add("host3", *host_key_file, "-o", "yaml"))
    said = everything_said.stdout + everything_said.stderr
    assert "host3" in said
    assert pool.login.private.split("\n")[1] not in said, "a private key is never shown"


def test_the_async_client_drives_the_hosts_routes(plane: ControlPlane, pool: Pool) -> None:
    async def session() -> None:
        async with AsyncClient(plane.url, plane.token, ca=plane.ca_file.read_text()) as client:
            api = Hosts(client)
            registered = await api.register(
                "host1",
                address="127.0.0.1",
                port=pool.port,
                private_key=pool.login.private,
                host_key=pool.host.public,
                nodes=1,
                memory_mb=512,
                labels={"zone": "a"},
            )
            assert (registered.state, registered.user, registered.port) == (
                "PENDING",
                "root",
                pool.port,
            )
            assert (await api.get("host1")).labels == {"zone": "a"}
            assert [h.name for h in (await api.list()).items] == ["host1"]
            assert (await api.drain("host1")).draining is True
            assert (await api.resume("host1")).draining is False
            with pytest.raises(ApiError) as raised:
                await api.register(
                    "host2",
                    address="127.0.0.1",
                    private_key=pool.login.private,
                    host_key="ssh-ed25519 not-base64",
                    nodes=0,
                    memory_mb=512,
                )
            assert raised.value.status == 422
            assert {e.field for e in raised.value.errors} == {"host_key", "capacity.nodes"}
            await api.remove("host1")
            with pytest.raises(ApiError) as gone:
                await api.get("host1")
            assert gone.value.status == 404

    asyncio.run(session())


def test_drain_wait_shows_each_node_leaving_until_the_host_is_empty(
    lab_and_plane: Served, served_cli: Cli, plane: ControlPlane, tmp_path: Path
) -> None:
    """Real hosts (network namespaces with their own sshd): two demo nodes on host1 move to
    host2 while ``drain --wait`` says which left and how many are left."""
    cli, lab = served_cli, lab_and_plane.lab
    host1, host2 = lab.hosts
    added = cli.run(*_add(host1, tmp_path), "--wait", "-o", "json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["state"] == "READY"
    with plane.client() as api:  # two nodes, both on host1: the only host yet
        plane.create_instance(api, "demo", {"name": "web", "replicas": 2}, timeout=180)
    on_host1 = sorted(n["name"] for n in cli.json("hosts", "show", "host1")["nodes"])
    assert len(on_host1) == 2
    shown = cli.ok("hosts", "show", "host1")
    assert all(node in shown for node in on_host1)
    cli.ok(*_add(host2, tmp_path), "--wait")

    drained = cli.run("hosts", "drain", "host1", "--wait", "-o", "json")
    assert drained.returncode == 0, drained.stderr
    assert json.loads(drained.stdout)["nodes"] == []
    *progress, done = drained.stderr.splitlines()
    assert done == "host host1 is drained: it holds no node"
    # "  12:00:01 <node> left host host1 (1 node left)": one line per node, in the order
    # they left (one at a time: the other serves meanwhile)
    said = [line.split(maxsplit=1)[1] for line in progress]
    first, second = (line.split()[0] for line in said)
    assert sorted([first, second]) == on_host1
    assert said == [
        f"{first} left host host1 (1 node left)",
        f"{second} left host host1 (0 nodes left)",
    ]
    moved = sorted(n["name"] for n in cli.json("hosts", "show", "host2")["nodes"])
    assert moved == on_host1, "replaced on host2 under their own names"


def _add(host: Host, directory: Path) -> list[str]:
    """``hosts add`` for a host of a :class:`HostLab`, its keys written to files."""
    key_file = directory / f"{host.name}-login"
    key_file.write_text(host.private_key)
    key_file.chmod(0o600)
    return [
        *("hosts", "add", host.name, "--address", host.address, "--port", str(host.port)),
        *("--private-key-file", str(key_file), "--host-key", host.host_key),
        *("--nodes", "2", "--memory-mb", "2048"),
    ]


def test_an_admin_pins_a_type_to_a_pool_and_removes_the_pin(served_cli: Cli, pool: Pool) -> None:
    cli = served_cli
    assert cli.json("pins", "list") == []
    added = cli.json(*pool.add("host1", "--host-key-file", str(pool.host.public_file)))
    assert added["install_packages"] is False

    pinned = cli.json("pins", "set", "type", "demo", "--provider", "ssh", "--host-label", "zone=a")
    assert (pinned["scope"], pinned["target"], pinned["provider"]) == ("type", "demo", "ssh")
    assert pinned["host_labels"] == {"zone": "a"}
    assert [p["target"] for p in cli.json("pins", "list")] == ["demo"]

    unknown = cli.run("pins", "set", "type", "demo", "--provider", "openstack")
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("error: 422 provider: must be an installed provider")
    bad_label = cli.run("pins", "set", "type", "demo", "--provider", "ssh", "--host-label", "a")
    assert bad_label.returncode == 2
    assert "'a' is not key=value" in bad_label.stderr

    removed = cli.run("pins", "remove", "type", "demo")
    assert removed.returncode == 0, removed.stderr
    assert "the pin of type demo is removed" in removed.stderr
    assert cli.json("pins", "list") == []
    assert cli.run("pins", "remove", "type", "demo").returncode == 1
