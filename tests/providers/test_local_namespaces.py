"""The local provider's ``namespaces`` mode: a namespace, an address and standard ports per
node; nothing left after a delete or a crash between steps.

The root-only tests run with this thread inside a network namespace the test makes
(``setns``; the processes the provider starts inherit it), so the bridge, the veths and
everything the nodes bind are behind it, never in the machine's own namespace. Each node
runs a stand-in agent that answers its name on its one port, bound on its address.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from metapaas.providers import LocalProvider, netns
from metapaas.providers.netns import NamespaceNetwork
from metapaas.sdk import PermanentError
from tests.providers.conftest import script_argv, spec

REASON = netns.unavailable_reason()
needs_namespaces = pytest.mark.skipif(REASON is not None, reason=str(REASON))
SUBNET = ipaddress.IPv4Network("10.234.0.0/24")
CLONE_NEWNET = 0x40000000

# The stand-in agent: serve the node's name on its recorded address and first port.
ANSWER_NAME = """
import json, os, socket
record = json.load(open("node.json"))
port = next(iter(record["ports"].values()))
with socket.create_server((record["address"], port)) as server:
    while True:
        connection, _ = server.accept()
        with connection:
            connection.sendall(os.environ["METAPAAS_NODE_NAME"].encode())
"""


def test_a_loopback_control_plane_url_is_refused_naming_what_to_set(tmp_path: Path) -> None:
    network = NamespaceNetwork(tmp_path, SUBNET)
    for url in ("http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080"):
        with pytest.raises(PermanentError, match="METAPAAS_HOST"):
            network.check_reachable(url)
    network.check_reachable("http://10.234.0.1:8080")


def test_addresses_skip_the_gateway_and_those_taken(tmp_path: Path) -> None:
    network = NamespaceNetwork(tmp_path, SUBNET)
    assert str(network.gateway) == "10.234.0.1"
    assert network.allocate(set()) == "10.234.0.2"
    assert network.allocate({"10.234.0.2", "10.234.0.4"}) == "10.234.0.3"


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")


@contextlib.contextmanager
def _inside(name: str) -> Iterator[None]:
    """This thread (and what it starts) in the namespace ``name`` until the block ends."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(netns.NETNS_DIR / name, os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(target)
        os.close(own)


@pytest.fixture
def network(home: Path) -> NamespaceNetwork:
    return NamespaceNetwork(home, SUBNET)


@pytest.fixture
def provider(home: Path, network: NamespaceNetwork) -> Iterator[LocalProvider]:
    """A provider in namespaces mode, running inside a namespace of the test's own."""
    sandbox = f"mptest{os.getpid()}"
    netns.ip("netns", "add", sandbox)
    made = LocalProvider(home, grace=0.5, agent_argv=script_argv(ANSWER_NAME), network=network)
    try:
        with _inside(sandbox):
            netns.ip("link", "set", "lo", "up")
            try:
                yield made
            finally:
                for info in made.list_nodes({}):
                    made.delete_node(info.name)
    finally:
        for name in os.listdir(netns.NETNS_DIR):  # what a failure left
            if name.startswith(network.netns("")):
                netns.ip("netns", "del", name)
        netns.ip("netns", "del", sandbox)  # its bridge and veths go with it


def _ask(address: str, port: int) -> str:
    """The name the node at ``address:port`` answers, waiting (bounded) for it to listen."""
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection((address, port), timeout=1) as connection:
                return connection.recv(100).decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@needs_namespaces
def test_two_nodes_serve_one_standard_port_each_at_its_own_address(
    provider: LocalProvider, network: NamespaceNetwork
) -> None:
    url = f"http://{network.gateway}:8080"
    started = time.monotonic()
    infos = [
        provider.create_node(replace(spec(name, ports={"redis": 6379}), control_plane_url=url))
        for name in ("n-a", "n-b")
    ]
    print(f"create_node in namespaces mode: {(time.monotonic() - started) / 2 * 1000:.0f} ms")
    assert [info.address for info in infos] == ["10.234.0.2", "10.234.0.3"]
    assert [dict(info.ports) for info in infos] == [{"redis": 6379}, {"redis": 6379}]
    assert [_ask(info.address, 6379) for info in infos] == ["n-a", "n-b"]
    assert provider.get_node("n-b") == infos[1]
    assert sorted(_netns_names(network)) == [network.netns("n-a"), network.netns("n-b")]

    assert provider.create_node(replace(spec("n-a"), control_plane_url=url)) == infos[0]
    provider.delete_node("n-a")
    assert _netns_names(network) == [network.netns("n-b")]
    assert network.veth("n-a") not in netns.links()
    assert _ask("10.234.0.3", 6379) == "n-b"
    with pytest.raises(OSError, match=r"timed out|No route to host"):
        socket.create_connection(("10.234.0.2", 6379), timeout=1).close()

    provider.delete_node("n-b")
    assert _netns_names(network) == []
    assert [link for link in netns.links() if link.startswith(("mpv", "mpbr"))] == []


@needs_namespaces
def test_a_crash_between_steps_converges(
    provider: LocalProvider, network: NamespaceNetwork
) -> None:
    """A namespace made without its veth (a crash inside attach) is rebuilt by the create;
    one whose node is gone (a crash after the node's directory went) goes with the next
    call."""
    url = f"http://{network.gateway}:8080"
    netns.ip("netns", "add", network.netns("n-half"))
    half = provider.create_node(
        replace(spec("n-half", ports={"redis": 6379}), control_plane_url=url)
    )
    assert _ask(half.address, 6379) == "n-half"

    network.attach("n-ghost", "10.234.0.200")
    assert network.netns("n-ghost") in _netns_names(network)
    provider.create_node(replace(spec("n-next", ports={"redis": 6379}), control_plane_url=url))
    assert network.netns("n-ghost") not in _netns_names(network)
    assert network.veth("n-ghost") not in netns.links()


@needs_namespaces
def test_a_restarted_node_keeps_its_address(
    provider: LocalProvider, network: NamespaceNetwork
) -> None:
    url = f"http://{network.gateway}:8080"
    node = replace(spec("n-a", ports={"redis": 6379}), control_plane_url=url)
    first = provider.create_node(node)
    provider.create_node(replace(node, name="n-b"))
    again = provider.restart_node(node)
    assert (again.address, dict(again.ports)) == (first.address, dict(first.ports))
    assert _ask(again.address, 6379) == "n-a"


def _netns_names(network: NamespaceNetwork) -> list[str]:
    return [n for n in netns.namespaces() if n.startswith(network.netns(""))]
