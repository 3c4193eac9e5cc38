"""Test hosts on one machine: network namespaces that each look like a machine with its sshd.

The ``ssh`` provider runs nodes on registered machines reached over SSH with a
pinned host key; its tests need several of them. A :class:`HostLab` makes them
here, as root, with ``ip netns`` and the Debian ``openssh-server`` binary
(``scripts/ensure-system-deps.sh`` installs it)::

    with HostLab(count=3) as lab:
        host = lab.hosts[0]   # name, address, port, user, private_key, host_key, netns
        lab.run(host, ["id", "-u"])
        lab.kill(host)        # the machine is lost
        lab.revive(host)      # ... and boots again, its disk as it was

The network
    One /24 per lab, ``10.231.<octet>.0``: a *fabric* namespace holds a bridge,
    and every other namespace joins it with a veth pair. The root namespace
    gets ``.1`` (only a client source: pytest reaches the hosts and the control
    plane from it, nothing listens there), the control-plane namespace ``.2``
    (run the server with ``ip netns exec <control_plane_netns> ...``), hosts
    ``.11`` on. A lab holds ``flock`` on ``/tmp/metapaas-hostlab/subnet-<octet>.lock``
    for its lifetime, so labs of other processes (pytest-xdist) never take its
    subnet, and a lab whose lock is free is known dead. (The lock files stay:
    removing one another process may be opening would break the exclusion.)

A host's file system
    sshd starts under ``ip netns exec`` (a mount namespace of its own that
    sends no mounts back to the machine), where the host gets its own ``/etc``
    and ``/var`` as overlays on the machine's (copy-on-write copies: ``useradd``
    on one host changes that host's alone; a full copy of ``/etc`` took
    0.3-0.9 s a host, where mounting an overlay takes milliseconds and a lab of
    three hosts starts in 0.15 s), its own ``/home`` and ``/root`` (bind
    mounts of empty directories; ``/root/.ssh/authorized_keys`` holds the
    kit's client key) and a fresh tmpfs ``/run`` (so ``/run/sshd``). Everything
    but ``/run`` lives in :attr:`Host.directory` and outlives a kill, as a
    machine's disk outlives a reboot. Every process sshd starts stays in the
    host's network and mount namespaces.

Killing and cleaning up
    Processes that ``setsid`` leave sshd's tree, so a host's processes are
    those in its network or mount namespace, found in ``/proc`` and killed
    through pidfds (a pid reused meanwhile is never signalled). Leaving the
    ``with`` block, on an error or ``KeyboardInterrupt`` too, kills every
    process in the lab's namespaces, deletes the root's veth, the namespaces
    and the lab's directory. A lab left by a process that died is removed when
    the next lab of the same prefix starts.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from metapaas.testing.controlplane import ControlPlane

SSHD = Path("/usr/sbin/sshd")
NETNS_DIR = Path("/run/netns")
# Not $TMPDIR: overlay layers must not overlap, and a TMPDIR under /var would. A fixed
# name in /tmp is safe once _state_dir checks that root alone owns it.
STATE_DIR = Path("/tmp/metapaas-hostlab")  # noqa: S108
SUBNET_PREFIX = "10.231"
ROOT_HOST_PART = 1
CONTROL_PLANE_HOST_PART = 2
FIRST_HOST_PART = 11
# Letters only, so the subnet octet after it is unambiguous; at most 8 so that the
# root's link, "<prefix><octet>-fab", fits the kernel's 15 characters.
PREFIX_PATTERN = re.compile(r"[a-z]{1,8}")
MAX_HOSTS = 200
BOOT_TIMEOUT = 15.0
KILL_TIMEOUT = 5.0
POLL_INTERVAL = 0.02
COMMAND_TIMEOUT = 30.0

# Runs as the host's first process, under `ip netns exec` ($1: the host's directory).
_BOOT_SCRIPT = """
set -e
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -m 0755 /run/sshd
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/etc,workdir=$1/work/etc" /etc
mount -t overlay overlay -o "lowerdir=/var,upperdir=$1/var,workdir=$1/work/var" /var
mount --bind "$1/home" /home
mount --bind "$1/root" /root
exec /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config
"""

_SSHD_CONFIG = """\
ListenAddress {address}:22
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PidFile none
UseDNS no
Subsystem sftp /usr/lib/openssh/sftp-server
"""


class HostLabError(RuntimeError):
    """The lab could not be built, or a host could not be reached, killed or booted."""


def unavailable_reason() -> str | None:
    """Why a lab cannot be built on this machine, or ``None`` when it can."""
    if os.geteuid() != 0:
        return "test hosts need root (network and mount namespaces)"
    missing = [tool for tool in ("ip", "nsenter", "mount") if shutil.which(tool) is None]
    if missing:
        return f"test hosts need {', '.join(missing)}"
    if not SSHD.exists():
        return f"test hosts need {SSHD} (scripts/ensure-system-deps.sh installs openssh-server)"
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, check=False)
    if listed.returncode != 0:
        return f"`ip netns` does not work here: {listed.stderr.decode().strip()}"
    return None


@dataclass(frozen=True)
class Host:
    """A machine of the lab, as the ``ssh`` provider would register it."""

    name: str
    address: str
    netns: str
    private_key: str
    """The client key sshd accepts for root, OpenSSH PEM text."""
    public_key: str
    host_key: str
    """sshd's public host key line (``ssh-ed25519 AAAA...``), to pin."""
    directory: Path
    """Where the host's own files are on the machine (its /etc and /var overlays, /home, /root)."""
    port: int = 22
    user: str = "root"

    @property
    def var_lib_metapaas(self) -> Path:
        """The host's /var/lib/metapaas, seen from the machine."""
        return self.directory / "var" / "lib" / "metapaas"


@dataclass
class _Boot:
    """A running host: its sshd and a descriptor that pins its mount namespace."""

    sshd: subprocess.Popen[bytes]
    mount_namespace: int | None = None

    def pinned(self) -> list[int]:
        return [] if self.mount_namespace is None else [self.mount_namespace]


class HostLab:
    """``count`` hosts, a control-plane namespace and the root's link, on one bridge."""

    def __init__(self, count: int = 3, prefix: str = "mplab") -> None:
        if not PREFIX_PATTERN.fullmatch(prefix):
            raise ValueError(f"prefix {prefix!r}: 1 to 8 lowercase letters")
        if not 1 <= count <= MAX_HOSTS:
            raise ValueError(f"count {count}: 1 to {MAX_HOSTS} hosts")
        self.count = count
        self.prefix = prefix
        self.name = ""
        self.subnet = ""
        self.root_address = ""
        self.control_plane_address = ""
        self.hosts: list[Host] = []
        self._lock: int | None = None
        self._booted: dict[str, _Boot] = {}

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

    # -- the context -------------------------------------------------------------------------

    def __enter__(self) -> HostLab:
        reason = unavailable_reason()
        if reason:
            raise HostLabError(reason)
        _make_state_dir()
        _remove_stale_labs(self.prefix)
        octet, self._lock = _claim_subnet()
        self.name = f"{self.prefix}{octet}"
        self.subnet = f"{SUBNET_PREFIX}.{octet}.0/24"
        self.root_address = f"{SUBNET_PREFIX}.{octet}.{ROOT_HOST_PART}"
        self.control_plane_address = f"{SUBNET_PREFIX}.{octet}.{CONTROL_PLANE_HOST_PART}"
        try:
            self._build(octet)
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

    def _build(self, octet: int) -> None:
        self.directory.mkdir(mode=0o700)
        fabric = self.fabric_netns
        _ip(f"netns add {fabric}")
        _ip(f"-n {fabric} link set lo up")
        _ip(f"-n {fabric} link add bridge type bridge")
        _ip(f"-n {fabric} link set bridge up")
        # The peer is made in the fabric at once: another lab's "root" may be in the making.
        _ip(f"link add {self.root_link} type veth peer name root netns {fabric}")
        _ip(f"-n {fabric} link set root master bridge up")
        _ip(f"addr add {self.root_address}/24 dev {self.root_link}")
        _ip(f"link set {self.root_link} up")
        self._join_fabric(self.control_plane_netns, "cp", self.control_plane_address)
        for ordinal in range(1, self.count + 1):
            address = f"{SUBNET_PREFIX}.{octet}.{FIRST_HOST_PART - 1 + ordinal}"
            host = self._make_host(f"host{ordinal}", address)
            self._join_fabric(host.netns, host.name, host.address)
            self.hosts.append(host)
        for host in self.hosts:  # all boot at once
            self._start_sshd(host)
        for host in self.hosts:
            self._wait_serving(host)

    def _join_fabric(self, netns: str, port: str, address: str) -> None:
        """A namespace with ``eth0`` at ``address``, its peer ``port`` a port of the bridge."""
        fabric = self.fabric_netns
        _ip(f"netns add {netns}")
        _ip(f"-n {netns} link set lo up")
        _ip(f"-n {fabric} link add {port} type veth peer name eth0 netns {netns}")
        _ip(f"-n {fabric} link set {port} master bridge up")
        _ip(f"-n {netns} addr add {address}/24 dev eth0")
        _ip(f"-n {netns} link set eth0 up")

    def _make_host(self, name: str, address: str) -> Host:
        """The host's keys and its directories: the upper layers of its /etc and /var and more."""
        directory = self.directory / name
        host_private, host_public = _ed25519_pair()
        client_private, client_public = _ed25519_pair()
        for sub, mode in (
            ("", 0o700),
            ("etc", 0o755),
            ("etc/ssh", 0o755),
            ("var", 0o755),
            ("var/lib", 0o755),
            ("var/lib/metapaas", 0o755),
            ("work", 0o700),
            ("work/etc", 0o700),
            ("work/var", 0o700),
            ("home", 0o755),
            ("root", 0o700),
            ("root/.ssh", 0o700),
        ):
            path = directory / sub
            path.mkdir()
            path.chmod(mode)  # mkdir's mode passes the umask; the overlay shows these modes
        # Opaque: the host's /var/lib/metapaas starts empty even where the machine has one.
        os.setxattr(directory / "var/lib/metapaas", "trusted.overlay.opaque", b"y")
        _write(directory / "etc/ssh/sshd_config", _SSHD_CONFIG.format(address=address), 0o644)
        _write(directory / "etc/ssh/ssh_host_ed25519_key", host_private, 0o600)
        _write(directory / "etc/ssh/ssh_host_ed25519_key.pub", host_public + "\n", 0o644)
        _write(directory / "root/.ssh/authorized_keys", client_public + "\n", 0o600)
        return Host(
            name=name,
            address=address,
            netns=f"{self.name}-{name}",
            private_key=client_private,
            public_key=client_public,
            host_key=host_public,
            directory=directory,
        )

    # -- hosts -------------------------------------------------------------------------------

    def run(
        self,
        host: Host,
        argv: Sequence[str],
        *,
        check: bool = True,
        timeout: float = COMMAND_TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` as root inside ``host``'s network and mount namespaces."""
        boot = self._booted.get(host.name)
        if boot is None or boot.mount_namespace is None:
            raise HostLabError(f"{host.name} is down")
        fd = boot.mount_namespace
        enter = ["nsenter", f"--net={NETNS_DIR / host.netns}", f"--mount=/proc/self/fd/{fd}"]
        result = subprocess.run(
            [*enter, "--", *argv],
            pass_fds=(fd,),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if check and result.returncode != 0:
            raise HostLabError(
                f"{shlex.join(argv)} on {host.name} exited with {result.returncode}: "
                f"{result.stderr.strip()}"
            )
        return result

    def kill(self, host: Host) -> None:
        """The host is lost: every process in its namespaces is killed and its link goes down."""
        boot = self._booted.pop(host.name, None)
        pinned = boot.pinned() if boot else []
        try:
            _kill_members([_netns_identity(host.netns), *map(_fd_identity, pinned)])
        finally:
            for fd in pinned:
                os.close(fd)
        if boot:
            boot.sshd.wait(KILL_TIMEOUT)
        _ip(f"-n {self.fabric_netns} link set {host.name} down")

    def revive(self, host: Host) -> None:
        """The host boots again: link up, sshd with the same keys, its files as they were."""
        if host.name in self._booted:
            raise HostLabError(f"{host.name} is running")
        _ip(f"-n {self.fabric_netns} link set {host.name} up")
        self._start_sshd(host)
        self._wait_serving(host)

    def _start_sshd(self, host: Host) -> None:
        log = (host.directory / "sshd.log").open("ab")
        with log:
            boot = ["sh", "-c", _BOOT_SCRIPT, "boot", str(host.directory)]
            sshd = subprocess.Popen(
                ["ip", "netns", "exec", host.netns, *boot],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # the terminal's Ctrl-C is for pytest, which cleans up
            )
        # Not pinned yet: until sshd listens, the process may still be `ip`, in the machine's
        # mount namespace.
        self._booted[host.name] = _Boot(sshd)

    def _wait_serving(self, host: Host) -> None:
        boot = self._booted[host.name]
        deadline = time.monotonic() + BOOT_TIMEOUT
        while not _accepts(host.address, host.port):
            if boot.sshd.poll() is not None or time.monotonic() > deadline:
                log = (host.directory / "sshd.log").read_text(errors="replace")[-2000:]
                raise HostLabError(f"sshd of {host.name} did not start:\n{log}")
            time.sleep(POLL_INTERVAL)
        fd = os.open(f"/proc/{boot.sshd.pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        if _fd_identity(fd) == _path_identity("/proc/self/ns/mnt"):
            os.close(fd)
            raise HostLabError(f"sshd of {host.name} runs in the machine's mount namespace")
        boot.mount_namespace = fd

    # -- cleaning up -------------------------------------------------------------------------

    def _dismantle(self) -> None:
        """Kill, unlink and delete everything of the lab; safe on a half-built lab."""
        if not self.name:
            return
        try:
            pinned = [fd for boot in self._booted.values() for fd in boot.pinned()]
            try:
                _remove_lab(self.name, pinned)
            finally:
                for fd in pinned:
                    os.close(fd)
                for boot in self._booted.values():
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        boot.sshd.wait(KILL_TIMEOUT)
                self._booted.clear()
        finally:
            if self._lock is not None:
                os.close(self._lock)
                self._lock = None


# -- labs on the machine -------------------------------------------------------------------


def _make_state_dir() -> None:
    STATE_DIR.mkdir(mode=0o700, exist_ok=True)
    found = STATE_DIR.lstat()
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != 0 or found.st_mode & 0o077:
        raise HostLabError(f"{STATE_DIR} must be a directory only root can use")


def _claim_subnet() -> tuple[int, int]:
    """An octet no live lab holds and no link of the machine uses, with its lock held."""
    start = os.getpid() % 256
    for step in range(256):
        octet = (start + step) % 256
        lock = _try_lock(octet)
        if lock is None:
            continue
        if _addresses_in(f"{SUBNET_PREFIX}.{octet}.0/24"):
            os.close(lock)  # used by something that is not a live lab: not ours to take
            continue
        return octet, lock
    raise HostLabError(f"no free subnet in {SUBNET_PREFIX}.0.0/16")


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
    found = [*_netns_names(), *_root_links(), *(p.name for p in STATE_DIR.iterdir())]
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
    namespaces = [name for name in _netns_names() if name.startswith(f"{lab}-")]
    steps: list[Callable[[], object]] = [
        lambda: _kill_members([*map(_netns_identity, namespaces), *map(_fd_identity, pinned)])
    ]
    # Deleted explicitly: a namespace lives on while anything holds it, and its veth with it.
    if f"{lab}-fab" in _root_links():
        steps.append(partial(_ip, f"link del {lab}-fab"))
    steps += [partial(_ip, f"netns del {name}") for name in namespaces]
    steps.append(partial(shutil.rmtree, STATE_DIR / lab, ignore_errors=True))
    failures = []
    for step in steps:
        try:
            step()
        except (HostLabError, OSError, subprocess.SubprocessError) as exc:
            failures.append(str(exc))
    if failures:
        raise HostLabError(f"lab {lab} was not removed whole: " + "; ".join(failures))


# -- processes in namespaces ---------------------------------------------------------------

_Identity = tuple[int, int]


def _kill_members(namespaces: Iterable[_Identity]) -> None:
    """SIGKILL every process in any of ``namespaces`` until none is left."""
    wanted = set(namespaces)
    own = {_path_identity("/proc/self/ns/net"), _path_identity("/proc/self/ns/mnt")}
    if wanted & own:
        raise HostLabError("refusing to kill the machine's own namespaces")
    deadline = time.monotonic() + KILL_TIMEOUT
    while members := _members(wanted):
        if time.monotonic() > deadline:
            raise HostLabError(f"processes {members} outlived SIGKILL for {KILL_TIMEOUT}s")
        for pid in members:
            _kill_if_member(pid, wanted)
        time.sleep(POLL_INTERVAL)


def _members(wanted: set[_Identity]) -> list[int]:
    return [
        int(entry)
        for entry in os.listdir("/proc")
        if entry.isdigit() and _is_member(int(entry), wanted)
    ]


def _is_member(pid: int, wanted: set[_Identity]) -> bool:
    for kind in ("net", "mnt"):
        try:
            if _path_identity(f"/proc/{pid}/ns/{kind}") in wanted:
                return True
        except OSError:  # gone, or a zombie: it holds no namespace any more
            return False
    return False


def _kill_if_member(pid: int, wanted: set[_Identity]) -> None:
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


def _path_identity(path: str | Path) -> _Identity:
    found = os.stat(path)
    return found.st_dev, found.st_ino


def _fd_identity(fd: int) -> _Identity:
    found = os.fstat(fd)
    return found.st_dev, found.st_ino


def _netns_identity(name: str) -> _Identity:
    return _path_identity(NETNS_DIR / name)


# -- small helpers -------------------------------------------------------------------------


def _ip(command: str) -> None:
    """Run ``ip <command>``; its words hold no spaces (names and addresses the kit made)."""
    result = subprocess.run(
        ["ip", *command.split()], capture_output=True, text=True, timeout=10, check=False
    )
    if result.returncode != 0:
        raise HostLabError(f"ip {command}: {result.stderr.strip()}")


def _netns_names() -> list[str]:
    return os.listdir(NETNS_DIR) if NETNS_DIR.is_dir() else []


def _root_links() -> list[str]:
    return os.listdir("/sys/class/net")


def _addresses_in(subnet: str) -> list[str]:
    shown = subprocess.run(
        ["ip", "-o", "-4", "addr", "show", "to", subnet],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    return shown.stdout.splitlines()


def _accepts(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False


def _ed25519_pair() -> tuple[str, str]:
    """A new key: (private key in OpenSSH PEM, public key line)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()).decode()
    public = key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
    return private, public


def _write(path: Path, text: str, mode: int) -> None:
    """A new file, made with ``mode``: a private key is never readable by others, even briefly."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    os.chmod(path, mode)  # the umask may have taken bits off


@contextlib.contextmanager
def pool_control_plane(
    lab: HostLab, database_url: str, home: Path, *, cleanup_seconds: float = 120.0, **env: str
) -> Iterator[ControlPlane]:
    """A control plane with the ``ssh`` provider in the lab's control-plane namespace (where
    its hosts reach it), checking its hosts every second; every instance is deleted before it
    stops. ``env`` adds settings."""
    plane = ControlPlane(
        home,
        database_url,
        netns=lab.control_plane_netns,
        address=lab.control_plane_address,
        **{"METAPAAS_PROVIDER": "ssh", "METAPAAS_HOST_CHECK_SECONDS": "1", **env},
    )
    plane.start()
    try:
        yield plane
        plane.delete_all_instances(cleanup_seconds)
    finally:
        plane.stop()
