"""Test hosts on one machine: network namespaces that each look like a machine with its sshd.

The ``ssh`` provider runs nodes on registered machines reached over SSH with a
pinned host key; its tests need several of them. A :class:`HostLab` makes them
here, as root, on a :class:`~metapaas.testing.netlab.NetLab` (its bridge, its
control-plane namespace) with the Debian ``openssh-server`` binary
(``scripts/ensure-system-deps.sh`` installs it)::

    with HostLab(count=3) as lab:
        host = lab.hosts[0]   # name, address, port, user, private_key, host_key, netns
        lab.run(host, ["id", "-u"])
        lab.kill(host)        # the machine is lost
        lab.revive(host)      # ... and boots again, its disk as it was

Hosts get ``.11`` on of the lab's subnet. ``without_sftp`` names hosts whose
sshd offers no SFTP subsystem (a hardened host's); ``sshd_extra`` adds lines
to a host's ``sshd_config`` (``SetEnv PATH=...``, say).

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

Killing
    Processes that ``setsid`` leave sshd's tree, so a host's processes are
    those in its network or mount namespace, killed through pidfds
    (:func:`metapaas.providers.netns.kill_members`); leaving the lab kills
    every host's.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import socket
import subprocess
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from sqlalchemy import make_url

from metapaas.providers import netns
from metapaas.testing import ControlPlane
from metapaas.testing.netlab import STATE_DIR, LabError, NetLab
from metapaas.testing.netlab import unavailable_reason as lab_unavailable

__all__ = [
    "STATE_DIR",
    "Host",
    "HostLab",
    "KeyPair",
    "key_pair",
    "pool_control_plane",
    "unavailable_reason",
]

SSHD = Path("/usr/sbin/sshd")
PG_SOCKETS = "/var/run/postgresql"
FIRST_HOST_PART = 11
MAX_HOSTS = 200
BOOT_TIMEOUT = 15.0
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
"""
_SFTP = "Subsystem sftp /usr/lib/openssh/sftp-server\n"


class HostLabError(LabError):
    """A host could not be built, reached, killed or booted."""


def unavailable_reason() -> str | None:
    """Why a lab of hosts cannot be built on this machine, or ``None`` when it can."""
    if not SSHD.exists():
        return f"test hosts need {SSHD} (scripts/ensure-system-deps.sh installs openssh-server)"
    return lab_unavailable()


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


class HostLab(NetLab):
    """``count`` hosts, each with its own sshd, on a :class:`NetLab`."""

    def __init__(
        self,
        count: int = 3,
        prefix: str = "mplab",
        *,
        without_sftp: Collection[str] = (),
        sshd_extra: Mapping[str, str] | None = None,
    ) -> None:
        if not 1 <= count <= MAX_HOSTS:
            raise ValueError(f"count {count}: 1 to {MAX_HOSTS} hosts")
        super().__init__(prefix)
        self.count = count
        self.hosts: list[Host] = []
        self._without_sftp = set(without_sftp)
        self._sshd_extra = dict(sshd_extra or {})
        self._booted: dict[str, _Boot] = {}

    def __enter__(self) -> HostLab:
        reason = unavailable_reason()
        if reason:
            raise HostLabError(reason)
        super().__enter__()
        return self

    def build(self) -> None:
        super().build()
        for ordinal in range(1, self.count + 1):
            host = self._make_host(f"host{ordinal}", self.address(FIRST_HOST_PART - 1 + ordinal))
            self.join(host.netns, host.name, host.address)
            self.hosts.append(host)
        for host in self.hosts:  # all boot at once
            self._start_sshd(host)
        for host in self.hosts:
            self._wait_serving(host)

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
        _write(directory / "etc/ssh/sshd_config", self._sshd_config(name, address), 0o644)
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

    def _sshd_config(self, name: str, address: str) -> str:
        sftp = "" if name in self._without_sftp else _SFTP
        extra = self._sshd_extra.get(name, "")
        return _SSHD_CONFIG.format(address=address) + sftp + (extra and extra.rstrip() + "\n")

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
        enter = ["nsenter", f"--net={netns.NETNS_DIR / host.netns}", f"--mount=/proc/self/fd/{fd}"]
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
            wanted = [netns.identity(netns.NETNS_DIR / host.netns)]
            netns.kill_members([*wanted, *map(netns.fd_identity, pinned)])
        finally:
            for fd in pinned:
                os.close(fd)
        if boot:
            boot.sshd.wait(netns.KILL_TIMEOUT)
        netns.ip("-n", self.fabric_netns, "link", "set", host.name, "down")

    def revive(self, host: Host) -> None:
        """The host boots again: link up, sshd with the same keys, its files as they were."""
        if host.name in self._booted:
            raise HostLabError(f"{host.name} is running")
        netns.ip("-n", self.fabric_netns, "link", "set", host.name, "up")
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
        if netns.fd_identity(fd) == netns.identity("/proc/self/ns/mnt"):
            os.close(fd)
            raise HostLabError(f"sshd of {host.name} runs in the machine's mount namespace")
        boot.mount_namespace = fd

    # -- cleaning up -------------------------------------------------------------------------

    def pinned(self) -> list[int]:
        return [fd for boot in self._booted.values() for fd in boot.pinned()]

    def released(self) -> None:
        for fd in self.pinned():
            os.close(fd)
        for boot in self._booted.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                boot.sshd.wait(netns.KILL_TIMEOUT)
        self._booted.clear()


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


@dataclass(frozen=True)
class KeyPair:
    private_file: Path
    public_file: Path

    @property
    def private(self) -> str:
        return self.private_file.read_text()

    @property
    def public(self) -> str:
        return self.public_file.read_text().strip()


def key_pair(directory: Path, name: str) -> KeyPair:
    """A new ed25519 key pair in ``directory``: ``<name>`` and ``<name>.pub`` (for hosts that
    answer nobody: a registration needs keys all the same)."""
    private, public = _ed25519_pair()
    private_file, public_file = directory / name, directory / f"{name}.pub"
    _write(private_file, private, 0o600)
    _write(public_file, public + "\n", 0o644)
    return KeyPair(private_file, public_file)


def through_socket(url: str) -> str:
    """A database URL a server in a lab's namespace can use: PostgreSQL through its Unix
    socket, which the namespace shares (its 127.0.0.1 is not the machine's)."""
    if not url.startswith("postgresql"):
        return url
    found = make_url(url)
    return found.set(host=None, port=None, query={"host": PG_SOCKETS}).render_as_string(
        hide_password=False
    )


@contextlib.contextmanager
def pool_control_plane(
    lab: NetLab, database_url: str, home: Path, *, cleanup_seconds: float = 120.0, **env: str
) -> Iterator[ControlPlane]:
    """A control plane with the ``ssh`` provider in the lab's control-plane namespace (where
    its hosts reach it), checking its hosts every second, on ``database_url`` (a PostgreSQL
    one through its socket); every instance is deleted before it stops. ``env`` adds
    settings."""
    plane = ControlPlane(
        home,
        through_socket(database_url),
        netns=lab.control_plane_netns,
        address=lab.control_plane_address,
        **{"METAPAAS_PROVIDER": "ssh", "METAPAAS_SSH_HOST_CHECK_SECONDS": "1", **env},
    )
    plane.start()
    try:
        yield plane
        plane.delete_all_instances(cleanup_seconds)
    finally:
        plane.stop()
        plane.kill_leftover_agents()


@dataclass(frozen=True)
class Served:
    """A lab and a control plane in its control-plane namespace, whose pool its hosts can
    join: what a module of end-to-end tests shares."""

    lab: HostLab
    plane: ControlPlane


@contextlib.contextmanager
def served(count: int, prefix: str, database_url: str, home: Path) -> Iterator[Served]:
    """A lab of ``count`` hosts named ``prefix``... and :func:`pool_control_plane` on it."""
    with (
        HostLab(count=count, prefix=prefix) as lab,
        pool_control_plane(lab, database_url, home) as plane,
    ):
        yield Served(lab, plane)
