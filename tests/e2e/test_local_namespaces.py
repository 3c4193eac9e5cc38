"""The local provider's ``namespaces`` mode end to end: two redis nodes, each in a network
namespace of its own, both on port 6379 at their own addresses, reached by real clients.

The control plane runs in the control-plane namespace of a :class:`NetLab` (so the
bridge and the node namespaces it makes are behind it, never in the machine's own
namespace), with a node subnet ``10.233.<lab octet>.0/24`` (the lab's lock on its octet
keeps two such tests apart). pytest reaches the nodes through the lab: a route to the
node subnet via the control plane's address, which forwards (both made here, and gone
with the lab's link and namespace).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from metapaas.providers import netns
from metapaas.testing import ControlPlane, wait_for
from metapaas.testing.fixtures import DatabaseFactory
from metapaas.testing.netlab import NetLab
from metapaas.testing.netlab import unavailable_reason as lab_unavailable

REASON = lab_unavailable() or netns.unavailable_reason()
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(REASON is not None, reason=str(REASON))]


@dataclass
class Setup:
    lab: NetLab
    plane: ControlPlane
    subnet: ipaddress.IPv4Network

    def in_plane(self, *argv: str) -> str:
        """Run ``argv`` in the server's own namespaces: its network and its mount namespace,
        where the node namespaces' names are (``ip netns exec`` gave it a mount namespace of
        its own, and ``ip netns add`` there does not reach the machine's)."""
        assert self.plane.process is not None
        target = str(self.plane.process.pid)
        done = subprocess.run(
            ["nsenter", "--target", target, "--net", "--mount", "--", *argv],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return done.stdout

    def node_namespaces(self, *, on_the_machine: bool = False) -> list[str]:
        """This home's node namespaces, as the server sees them or as the machine does."""
        network = netns.NamespaceNetwork(self.plane.home, self.subnet)
        prefix = network.netns("")  # the names of this home's nodes' namespaces begin so
        if on_the_machine:
            names = os.listdir(netns.NETNS_DIR) if netns.NETNS_DIR.is_dir() else []
        else:
            names = self.in_plane("ls", str(netns.NETNS_DIR)).split()
        return [name for name in names if name.startswith(prefix)]

    def links(self) -> list[str]:
        shown = self.in_plane("ip", "-o", "link", "show")
        return [line.split(":", 2)[1].strip().split("@")[0] for line in shown.splitlines()]


def _sh(*argv: str) -> None:
    subprocess.run(argv, capture_output=True, text=True, timeout=10, check=True)


@pytest.fixture
def setup(database_factory: DatabaseFactory, tmp_path: Path) -> Iterator[Setup]:
    url = database_factory.new("sqlite")
    with NetLab(prefix="mpnet") as lab:
        octet = lab.subnet.split(".")[2]
        subnet = ipaddress.IPv4Network(f"10.233.{octet}.0/24")
        cp = lab.control_plane_netns
        _sh("ip", "netns", "exec", cp, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        _sh("ip", "route", "add", str(subnet), "via", lab.control_plane_address)
        plane = ControlPlane(
            tmp_path / "home",
            url,
            netns=cp,
            address=lab.control_plane_address,
            METAPAAS_LOCAL_NETWORK="namespaces",
            METAPAAS_LOCAL_SUBNET=str(subnet),
        )
        found = Setup(lab, plane, subnet)
        try:
            plane.start()
            yield found
        finally:
            _tear_down(found)
    database_factory.drop(url)


def _tear_down(setup: Setup) -> None:
    """Leave nothing, whatever failed: the nodes, their agents, their namespaces' names
    (files on the machine's /run: only their mounts were the server's), the route."""
    plane = setup.plane
    if plane.process is not None and plane.process.poll() is None:
        with contextlib.suppress(AssertionError, httpx.HTTPError):
            plane.delete_all_instances(60)
    plane.stop()
    plane.kill_leftover_agents()
    for name in setup.node_namespaces(on_the_machine=True):
        _sh("ip", "netns", "del", name)
    with contextlib.suppress(subprocess.CalledProcessError):
        _sh("ip", "route", "del", str(setup.subnet))


def _namespace_identity(setup: Setup, name: str) -> tuple[int, int]:
    device, inode = setup.in_plane("stat", "-L", "-c", "%d %i", f"/run/netns/{name}").split()
    return int(device), int(inode)


def _processes_in(identities: set[tuple[int, int]]) -> list[int]:
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            ns = os.stat(f"/proc/{entry}/ns/net")
            if (ns.st_dev, ns.st_ino) in identities:
                found.append(int(entry))
    return found


def test_two_redis_nodes_listen_on_6379_each_at_its_own_address(setup: Setup) -> None:
    plane = setup.plane
    with plane.client() as api:
        started = time.monotonic()
        first = plane.create_instance(api, "redis", {"name": "one", "memory_mb": 32}, 180)
        second = plane.create_instance(api, "redis", {"name": "two", "memory_mb": 32}, 180)
        print(f"two redis instances ACTIVE in {time.monotonic() - started:.1f}s")
        paths = [f"/v1/types/redis/instances/{i['id']}" for i in (first, second)]
        credentials = [api.get(f"{path}/credentials").json() for path in paths]

        hosts = {c["host"] for c in credentials}
        assert len(hosts) == 2, credentials
        assert all(ipaddress.ip_address(h) in setup.subnet for h in hosts), hosts
        assert [c["port"] for c in credentials] == [6379, 6379]
        assert [i["endpoints"]["redis"] for i in (first, second)] == [
            f"{c['host']}:6379" for c in credentials
        ]

        # Over TLS: each node's certificate names its own address, signed by the CA.
        clients = [
            redis.Redis.from_url(c["url"], socket_timeout=5, ssl_ca_data=c["ca_certificate"])
            for c in credentials
        ]
        for client, word in zip(clients, ("one", "two"), strict=True):
            client.set("who", word)
        assert [c.get("who") for c in clients] == [b"one", b"two"]

        namespaces = setup.node_namespaces()
        assert len(namespaces) == 2, namespaces
        identities = {_namespace_identity(setup, name) for name in namespaces}
        assert len(_processes_in(identities)) >= 4  # an agent and a redis in each
        assert sum(link.startswith("mpv") for link in setup.links()) == 2

        for path in paths:
            assert api.delete(path).status_code == 202
        for path in paths:
            wait_for(lambda p=path: api.get(p).status_code == 404, 60, f"{path} to go")

    assert setup.node_namespaces() == []
    assert setup.node_namespaces(on_the_machine=True) == []
    assert [link for link in setup.links() if link.startswith(("mpv", "mpbr"))] == []
    assert _processes_in(identities) == []
    for credential in credentials:
        with pytest.raises((redis.ConnectionError, redis.TimeoutError)):
            redis.Redis(host=credential["host"], port=6379, socket_connect_timeout=1).ping()


def test_demo_web_nodes_serve_on_port_80_each_at_its_own_address(setup: Setup) -> None:
    plane = setup.plane
    with plane.client() as api:
        body = {"name": "web", "replicas": 2, "message": "from a namespace"}
        web = plane.create_instance(api, "demo", body, 180)
        nodes = api.get(f"/v1/types/demo/instances/{web['id']}/nodes").json()["items"]
        addresses = sorted(node["address"] for node in nodes)
        assert len(set(addresses)) == 2, nodes
        assert [node["ports"] for node in nodes] == [{"http": 80, "https": 443}] * 2
        trusted = ssl.create_default_context(cadata=api.get("/v1/ca.pem").text)
        for address in addresses:
            assert httpx.get(f"http://{address}/", timeout=5).text == "from a namespace"
            # Its own certificate, for its own address: what verify-full checks.
            secure = httpx.get(f"https://{address}/", timeout=5, verify=trusted)
            assert secure.text == "from a namespace"
        assert api.delete(f"/v1/types/demo/instances/{web['id']}").status_code == 202
        path = f"/v1/types/demo/instances/{web['id']}"
        wait_for(lambda: api.get(path).status_code == 404, 60, "the instance to go")
    assert setup.node_namespaces() == []
