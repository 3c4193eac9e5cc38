"""Network namespaces: the one module of their helpers, and a ``local`` node's own network.

The helpers (:func:`ip`, :func:`namespaces`, :func:`links`,
:func:`addresses_in`, :func:`kill_members` and :func:`unavailable_reason`) are
what the local provider and the testing kit's labs
(:mod:`metapaas.testing.netlab`) both need. The rest is the node's network.

The ``namespaces`` mode of the local provider (``METAPAAS_LOCAL_NETWORK``). The
control plane's own network namespace (the machine's, normally) holds a bridge
``mpbr<id>`` with the subnet's first address, the *gateway*
(``METAPAAS_LOCAL_SUBNET``, ``10.233.0.0/16`` by default); ``<id>`` is a digest
of the control plane's home, so two homes on one machine keep apart bridges
(they still need subnets of their own). Node ``N`` gets:

- the namespace ``mp<id>-N`` (``ip netns``, so ``/run/netns/mp<id>-N``);
- a veth pair: ``eth0`` in the namespace, ``mpv<id><digest of N>`` a port of
  the bridge (link names have 15 characters at most, node names up to 63);
- the next free address of the subnet on ``eth0``, recorded in ``node.json``,
  a default route through the gateway, and ``lo`` up.

Nodes reach the control plane through the gateway: any address the control
plane's namespace owns (not 127.0.0.1, which is the node's own loopback) is
delivered there without forwarding, so ``METAPAAS_HOST`` must name such an
address (or ``0.0.0.0`` with ``METAPAAS_PUBLIC_URL`` naming one, the gateway
for instance). Clients in the control plane's namespace reach every node at
its address through the bridge; clients elsewhere need a route to the subnet
through the control plane's machine and forwarding there, which this module
does not set up.

Ports: each port of a node is its standard number (its type's
``sdk.Port.number``): nodes no longer share one address.

Every step is keyed by the node's name and the network of a node is rebuilt
whole each time it is started (its old namespace and veth deleted first), so a
crash between two ``ip`` commands converges on the next call. Namespaces and
veths of this home with no node are removed by :meth:`NamespaceNetwork.sweep`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Collection
from pathlib import Path
from urllib.parse import urlsplit

from metapaas.sdk import PermanentError, TemporaryError

NETNS_DIR = Path("/run/netns")
IP_TIMEOUT = 10.0
NODE_LINK = "eth0"
KILL_TIMEOUT = 5.0
POLL_INTERVAL = 0.02

Identity = tuple[int, int]
"""A namespace as the kernel knows it: the device and inode of its ``/proc/<pid>/ns`` file."""


def unavailable_reason() -> str | None:
    """Why nodes cannot get namespaces on this machine, or ``None`` when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    missing = [tool for tool in ("ip", "nsenter") if shutil.which(tool) is None]
    if missing:
        return f"network namespaces need {', '.join(missing)}"
    listed = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, timeout=IP_TIMEOUT, check=False
    )
    if listed.returncode != 0:
        return f"`ip netns` does not work here: {listed.stderr.strip()}"
    return None


class NamespaceNetwork:
    """The bridge of one control-plane home and the namespaces of its nodes."""

    def __init__(self, home: Path, subnet: ipaddress.IPv4Network) -> None:
        if subnet.num_addresses < 4:
            raise PermanentError(f"subnet {subnet} has no room for a gateway and nodes")
        self._id = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:6]
        self.subnet = subnet
        self.gateway = subnet.network_address + 1
        self.bridge = f"mpbr{self._id}"

    # -- names -------------------------------------------------------------------------------

    def netns(self, node: str) -> str:
        return f"mp{self._id}-{node}"

    def veth(self, node: str) -> str:
        return f"mpv{self._id}{hashlib.sha256(node.encode()).hexdigest()[:6]}"

    def enter(self, node: str) -> list[str]:
        """The argv prefix that runs a program in the node's namespace (``nsenter`` execs it,
        so the pid the provider records is the program's)."""
        return ["nsenter", f"--net={NETNS_DIR / self.netns(node)}", "--"]

    # -- addresses ---------------------------------------------------------------------------

    def allocate(self, taken: Collection[str]) -> str:
        """The lowest address of the subnet past the gateway that no node holds; the caller
        holds the lock that makes ``taken`` complete until the address is recorded."""
        for address in self.subnet.hosts():
            if address != self.gateway and str(address) not in taken:
                return str(address)
        raise TemporaryError(f"every address of {self.subnet} is taken")

    def check_reachable(self, control_plane_url: str) -> None:
        """Refuse a control-plane URL that a node's namespace cannot reach."""
        host = urlsplit(control_plane_url).hostname or ""
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if loopback:
            raise PermanentError(
                f"nodes in network namespaces cannot reach the control plane at "
                f"{control_plane_url}: their 127.0.0.1 is their own. Set METAPAAS_HOST to an "
                f"address of this machine (or 0.0.0.0 with METAPAAS_PUBLIC_URL naming one, "
                f"e.g. http://{self.gateway}:<port>)"
            )

    # -- the network -------------------------------------------------------------------------

    def attach(self, node: str, address: str) -> None:
        """Give the node a fresh namespace with ``address`` on the bridge (the old ones go)."""
        self.detach(node)
        self._ensure_bridge()
        netns, veth = self.netns(node), self.veth(node)
        prefix = self.subnet.prefixlen
        ip("netns", "add", netns)
        ip("-n", netns, "link", "set", "lo", "up")
        # The peer is made in the namespace at once, so no crash leaves it in ours.
        ip("link", "add", veth, "type", "veth", "peer", "name", NODE_LINK, "netns", netns)
        ip("link", "set", veth, "master", self.bridge, "up")
        ip("-n", netns, "addr", "add", f"{address}/{prefix}", "dev", NODE_LINK)
        ip("-n", netns, "link", "set", NODE_LINK, "up")
        ip("-n", netns, "route", "add", "default", "via", str(self.gateway))

    def detach(self, node: str) -> None:
        """Remove the node's veth and namespace; either may be absent already.

        The veth goes explicitly: a namespace outlives its name while a process is in
        it, and its ``eth0`` with it.
        """
        veth, netns = self.veth(node), self.netns(node)
        if veth in links():
            ip("link", "del", veth)
        if netns in namespaces():
            ip("netns", "del", netns)

    def sweep(self, nodes: Collection[str]) -> None:
        """Remove this home's namespaces and veths that belong to none of ``nodes``; with no
        node left, the bridge too."""
        prefix = f"mp{self._id}-"
        for name in namespaces():
            if name.startswith(prefix) and name.removeprefix(prefix) not in nodes:
                self.detach(name.removeprefix(prefix))
        kept = {self.veth(node) for node in nodes}
        for link in links():
            if link.startswith(f"mpv{self._id}") and link not in kept:
                ip("link", "del", link)
        if not nodes and self.bridge in links():
            ip("link", "del", self.bridge)

    def _ensure_bridge(self) -> None:
        if self.bridge not in links():
            ip("link", "add", self.bridge, "type", "bridge")
        gateway = f"{self.gateway}/{self.subnet.prefixlen}"
        shown = ip("-o", "-4", "addr", "show", "dev", self.bridge)
        if f" {gateway} " not in shown:
            ip("addr", "add", gateway, "dev", self.bridge)
        ip("link", "set", self.bridge, "up")


def ip(*argv: str) -> str:
    """Run ``ip <argv>``; its output, or a :class:`~metapaas.sdk.TemporaryError` naming it."""
    try:
        done = subprocess.run(
            ["ip", *argv], capture_output=True, text=True, timeout=IP_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TemporaryError(f"ip {' '.join(argv)}: {exc}") from exc
    if done.returncode != 0:
        raise TemporaryError(f"ip {' '.join(argv)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def namespaces() -> list[str]:
    """The names ``ip netns`` knows."""
    return os.listdir(NETNS_DIR) if NETNS_DIR.is_dir() else []


def links() -> list[str]:
    """The links of this process's network namespace (``/sys`` may show another's: ``ip
    netns exec`` remounts it, and a process that ``setns`` does not)."""
    shown = ip("-o", "link", "show")
    return [line.split(":", 2)[1].strip().split("@")[0] for line in shown.splitlines()]


def addresses_in(subnet: str) -> list[str]:
    """This namespace's addresses in ``subnet``, one ``ip -o`` line each."""
    return ip("-o", "-4", "addr", "show", "to", subnet).splitlines()


# -- processes in namespaces ---------------------------------------------------------------


def identity(path: str | Path) -> Identity:
    """The namespace ``path`` names (``/run/netns/<name>``, ``/proc/<pid>/ns/mnt``)."""
    found = os.stat(path)
    return found.st_dev, found.st_ino


def fd_identity(fd: int) -> Identity:
    """The namespace an open descriptor pins (one opened on a ``/proc/<pid>/ns`` file)."""
    found = os.fstat(fd)
    return found.st_dev, found.st_ino


def kill_members(wanted: Collection[Identity]) -> None:
    """SIGKILL every process in any of the ``wanted`` network or mount namespaces until none
    is left. Through pidfds: a pid the kernel gave to another process meanwhile is never
    signalled."""
    wanted = set(wanted)
    own = {identity("/proc/self/ns/net"), identity("/proc/self/ns/mnt")}
    if wanted & own:
        raise PermanentError("refusing to kill the machine's own namespaces")
    deadline = time.monotonic() + KILL_TIMEOUT
    while members := _members(wanted):
        if time.monotonic() > deadline:
            raise TemporaryError(f"processes {members} outlived SIGKILL for {KILL_TIMEOUT}s")
        for pid in members:
            _kill_if_member(pid, wanted)
        time.sleep(POLL_INTERVAL)


def _members(wanted: set[Identity]) -> list[int]:
    return [
        int(entry)
        for entry in os.listdir("/proc")
        if entry.isdigit() and _is_member(int(entry), wanted)
    ]


def _is_member(pid: int, wanted: set[Identity]) -> bool:
    for kind in ("net", "mnt"):
        try:
            if identity(f"/proc/{pid}/ns/{kind}") in wanted:
                return True
        except OSError:  # gone, or a zombie: it holds no namespace any more
            return False
    return False


def _kill_if_member(pid: int, wanted: set[Identity]) -> None:
    # The pidfd names one process; checked after opening it, a pid reused by another
    # process is never signalled.
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        if _is_member(pid, wanted):
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except ProcessLookupError:
        pass
    finally:
        os.close(pidfd)
