"""A network lab on one machine: namespaces on a bridge of their own, for tests that need
machines with their own addresses (root only).

::

    with NetLab(prefix="mpnet") as lab:
        plane = ControlPlane(home, url, netns=lab.control_plane_netns,
                             address=lab.control_plane_address)
        lab.join("mynetns", "port1", lab.address(11))   # one more machine on the bridge

The network
    One /24 per lab, ``10.231.<octet>.0``: a *fabric* namespace holds a bridge,
    and every other namespace joins it with a veth pair. The root namespace
    gets ``.1`` (only a client source: pytest reaches the lab's machines and
    the control plane from it, nothing listens there), the control-plane
    namespace ``.2`` (run the server with ``ip netns exec <control_plane_netns>
    ...``). A lab holds ``flock`` on ``/tmp/metapaas-hostlab/subnet-<octet>.lock``
    for its lifetime, so labs of other processes (pytest-xdist) never take its
    subnet, and a lab whose lock is free is known dead. (The lock files stay:
    removing one another process may be opening would break the exclusion.)

Cleaning up
    Leaving the ``with`` block, on an error or ``KeyboardInterrupt`` too, kills
    every process in the lab's namespaces (and in the mount namespaces a
    subclass pins, :meth:`NetLab.pinned`), deletes the root's veth, the
    namespaces and the lab's directory. A lab left by a process that died is
    removed when the next lab of the same prefix starts.

The ``ssh`` provider's tests build machines with their own sshd on it
(``plugins/ssh/tests/hostlab.py``).
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import stat
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from types import TracebackType

from metapaas.providers import netns
from metapaas.sdk import PluginError

# Not $TMPDIR: a lab's machines lay overlays over /var, which must not hold their layers.
# A fixed name in /tmp is safe once _make_state_dir checks that root alone owns it.
STATE_DIR = Path("/tmp/metapaas-hostlab")  # noqa: S108
SUBNET_PREFIX = "10.231"
ROOT_HOST_PART = 1
CONTROL_PLANE_HOST_PART = 2
# Letters only, so the subnet octet after it is unambiguous; at most 8 so that the
# root's link, "<prefix><octet>-fab", fits the kernel's 15 characters.
PREFIX_PATTERN = re.compile(r"[a-z]{1,8}")


class LabError(RuntimeError):
    """The lab could not be built, or a machine of it could not be reached or cleaned up."""


def unavailable_reason() -> str | None:
    """Why a lab cannot be built on this machine, or ``None`` when it can."""
    reason = netns.unavailable_reason()
    if reason is None and shutil.which("mount") is None:
        return "a lab needs mount"
    return reason


class NetLab:
    """The bridge, the control-plane namespace and the root's link of one lab."""

    def __init__(self, prefix: str = "mplab") -> None:
        if not PREFIX_PATTERN.fullmatch(prefix):
            raise ValueError(f"prefix {prefix!r}: 1 to 8 lowercase letters")
        self.prefix = prefix
        self.name = ""
        self.subnet = ""
        self.root_address = ""
        self.control_plane_address = ""
        self._octet = 0
        self._lock: int | None = None

    # -- names -------------------------------------------------------------------------------

    @property
    def fabric_netns(self) -> str:
        return f"{self.name}-fabric"

    @property
    def control_plane_netns(self) -> str:
        return f"{self.name}-cp"

    @property
    def root_link(self) -> str:
        return f"{self.name}-fab"

    @property
    def directory(self) -> Path:
        return STATE_DIR / self.name

    def address(self, host_part: int) -> str:
        """The lab's address ending in ``host_part`` (``.1`` and ``.2`` are taken)."""
        return f"{SUBNET_PREFIX}.{self._octet}.{host_part}"

    # -- the context -------------------------------------------------------------------------

    def __enter__(self) -> NetLab:
        reason = unavailable_reason()
        if reason:
            raise LabError(reason)
        _make_state_dir()
        _remove_stale_labs(self.prefix)
        self._octet, self._lock = _claim_subnet()
        self.name = f"{self.prefix}{self._octet}"
        self.subnet = f"{SUBNET_PREFIX}.{self._octet}.0/24"
        self.root_address = self.address(ROOT_HOST_PART)
        self.control_plane_address = self.address(CONTROL_PLANE_HOST_PART)
        try:
            self.directory.mkdir(mode=0o700)
            self.build()
        except BaseException:
            self._dismantle()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._dismantle()

    def build(self) -> None:
        """Make the fabric, the root's link and the control-plane namespace (a subclass adds
        its machines after them)."""
        fabric = self.fabric_netns
        netns.ip("netns", "add", fabric)
        netns.ip("-n", fabric, "link", "set", "lo", "up")
        netns.ip("-n", fabric, "link", "add", "bridge", "type", "bridge")
        netns.ip("-n", fabric, "link", "set", "bridge", "up")
        # The peer is made in the fabric at once: another lab's "root" may be in the making.
        netns.ip(
            "link", "add", self.root_link, "type", "veth", "peer", "name", "root", "netns", fabric
        )
        netns.ip("-n", fabric, "link", "set", "root", "master", "bridge", "up")
        netns.ip("addr", "add", f"{self.root_address}/24", "dev", self.root_link)
        netns.ip("link", "set", self.root_link, "up")
        self.join(self.control_plane_netns, "cp", self.control_plane_address)

    def join(self, namespace: str, port: str, address: str) -> None:
        """A namespace with ``eth0`` at ``address``, its peer ``port`` a port of the bridge."""
        fabric = self.fabric_netns
        netns.ip("netns", "add", namespace)
        netns.ip("-n", namespace, "link", "set", "lo", "up")
        peer = ("peer", "name", "eth0", "netns", namespace)
        netns.ip("-n", fabric, "link", "add", port, "type", "veth", *peer)
        netns.ip("-n", fabric, "link", "set", port, "master", "bridge", "up")
        netns.ip("-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
        netns.ip("-n", namespace, "link", "set", "eth0", "up")

    def pinned(self) -> list[int]:
        """Descriptors of mount namespaces whose processes go with the lab (a subclass's
        machines'); the lab's own are network namespaces only."""
        return []

    def released(self) -> None:
        """Called once every process of the lab is gone: a subclass closes what it holds."""

    # -- cleaning up -------------------------------------------------------------------------

    def _dismantle(self) -> None:
        """Kill, unlink and delete everything of the lab; safe on a half-built lab."""
        if not self.name:
            return
        try:
            try:
                _remove_lab(self.name, self.pinned())
            finally:
                self.released()
        finally:
            if self._lock is not None:
                os.close(self._lock)
                self._lock = None


# -- labs on the machine -------------------------------------------------------------------


def _make_state_dir() -> None:
    STATE_DIR.mkdir(mode=0o700, exist_ok=True)
    found = STATE_DIR.lstat()
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != 0 or found.st_mode & 0o077:
        raise LabError(f"{STATE_DIR} must be a directory only root can use")


def _claim_subnet() -> tuple[int, int]:
    """An octet no live lab holds and no link of the machine uses, with its lock held."""
    start = os.getpid() % 256
    for step in range(256):
        octet = (start + step) % 256
        lock = _try_lock(octet)
        if lock is None:
            continue
        if netns.addresses_in(f"{SUBNET_PREFIX}.{octet}.0/24"):
            os.close(lock)  # used by something that is not a live lab: not ours to take
            continue
        return octet, lock
    raise LabError(f"no free subnet in {SUBNET_PREFIX}.0.0/16")


def _try_lock(octet: int) -> int | None:
    fd = os.open(STATE_DIR / f"subnet-{octet}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _remove_stale_labs(prefix: str) -> None:
    """Remove the labs of ``prefix`` whose process died: their subnet lock is free."""
    lab_pattern = re.compile(rf"({re.escape(prefix)}(\d{{1,3}}))(?:-.*)?")
    found = [*netns.namespaces(), *netns.links(), *(p.name for p in STATE_DIR.iterdir())]
    stale = {m.group(1): int(m.group(2)) for name in found if (m := lab_pattern.fullmatch(name))}
    for lab, octet in stale.items():
        lock = _try_lock(octet) if octet < 256 else None
        if lock is None:
            continue  # a live lab
        try:
            _remove_lab(lab, pinned=[])
        finally:
            os.close(lock)


def _remove_lab(lab: str, pinned: Sequence[int]) -> None:
    """Kill what runs in ``lab``'s namespaces (and the mount namespaces ``pinned``), then
    delete its root link, its namespaces and its directory. Every step is tried, whatever
    failed before it; the failures are raised together at the end."""
    names = [name for name in netns.namespaces() if name.startswith(f"{lab}-")]
    wanted = [
        *(netns.identity(netns.NETNS_DIR / n) for n in names),
        *map(netns.fd_identity, pinned),
    ]
    steps: list[Callable[[], object]] = [partial(netns.kill_members, wanted)]
    # Deleted explicitly: a namespace lives on while anything holds it, and its veth with it.
    if f"{lab}-fab" in netns.links():
        steps.append(partial(netns.ip, "link", "del", f"{lab}-fab"))
    steps += [partial(netns.ip, "netns", "del", name) for name in names]
    steps.append(partial(shutil.rmtree, STATE_DIR / lab, ignore_errors=True))
    failures = []
    for step in steps:
        try:
            step()
        except (PluginError, OSError) as exc:
            failures.append(str(exc))
    if failures:
        raise LabError(f"lab {lab} was not removed whole: " + "; ".join(failures))
