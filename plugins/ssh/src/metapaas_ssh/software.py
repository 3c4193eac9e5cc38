"""What a host needs to run nodes, sent from the control plane: hosts need no package index.

- The runtime bundle (the agent, the bundled plugins and what they import) is
  unpacked once per digest into ``/var/lib/metapaas/runtime/<digest>``.
- A plugin version installed at run time is its wheelhouse's environment,
  unpacked into ``/var/lib/metapaas/plugins/<wheelhouse>``, where the host-side
  node manager looks for it, as the local provider does under its home.

Both are sent once: the archive goes over SFTP to ``incoming/``, the unpacker's
own source (standard library only) runs under the host's Python, and a
directory named after the content's digest is complete or absent. What a host
was found to have is remembered, so a node start costs one check at most once.
The archives come from the runtime (the context's ``bundles``), the runtime's
with this distribution in it: the host runs :mod:`metapaas_ssh.hostside` from it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from metapaas.sdk import TemporaryError
from metapaas_ssh import DISTRIBUTION
from metapaas_ssh.hostside import HOME
from metapaas_ssh.remote import Completed, Remotes, SshFailure, Target

if TYPE_CHECKING:
    from metapaas.bundle import Bundles

RUNTIME_DIR = f"{HOME}/runtime"
PLUGINS_DIR = f"{HOME}/plugins"  # where the host's node manager looks for a plugin version
INCOMING_DIR = f"{HOME}/incoming"


class Software:
    """Puts the runtime and plugin versions on hosts, each at most once."""

    def __init__(self, remotes: Remotes, bundles: Bundles) -> None:
        self._remotes = remotes
        self._bundles = bundles
        self._present: set[tuple[Target, str]] = set()
        self._lock = threading.Lock()

    def runtime(self, target: Target, python: str) -> str:
        """The directory of this runtime's bundle on the host, sent there if missing."""
        built = self._bundles.runtime(also=(DISTRIBUTION,))
        remote = f"{RUNTIME_DIR}/{built.digest}"
        self._ensure(target, python, built.path, remote)
        return remote

    def plugin(self, target: Target, python: str, wheelhouse: str) -> None:
        """Put the environment of plugin version ``wheelhouse`` on the host."""
        archive = self._bundles.plugin(wheelhouse)
        self._ensure(target, python, archive.path, f"{PLUGINS_DIR}/{wheelhouse}")

    def forget(self, target_name: str) -> None:
        """Check again next time: the host may have been rebuilt."""
        with self._lock:
            self._present = {p for p in self._present if p[0].name != target_name}

    def _ensure(self, target: Target, python: str, archive: Path, remote: str) -> None:
        with self._lock:
            if (target, remote) in self._present:
                return
        try:
            if self._remotes.run(target, ["test", "-d", remote]).exit_status != 0:
                self._send(target, python, archive, remote)
        except SshFailure as exc:
            raise TemporaryError(f"cannot send software to host {target.name}: {exc}") from exc
        with self._lock:
            self._present.add((target, remote))

    def _send(self, target: Target, python: str, archive: Path, remote: str) -> None:
        incoming = f"{INCOMING_DIR}/{archive.name}"
        self._check(target, ["mkdir", "-p", "-m", "0755", INCOMING_DIR], "make incoming/")
        self._judge(target, self._remotes.put(target, archive, incoming), f"send {archive.name}")
        unpacked = [python, "-I", "-c", self._bundles.unpacker, incoming, remote]
        self._check(target, unpacked, f"unpack {archive.name}")
        self._check(target, ["rm", "-f", incoming], "remove the archive")
        # Node users cannot write bytecode into it: compiled once here, every agent and
        # host-side call starts from .pyc instead of compiling its imports each time.
        compiled = [python, "-m", "compileall", "-q", "-j", "0", remote]
        self._check(target, compiled, f"compile {archive.name}")

    def _check(self, target: Target, argv: list[str], what: str) -> None:
        self._judge(target, self._remotes.run(target, argv, timeout=300), what)

    @staticmethod
    def _judge(target: Target, done: Completed, what: str) -> None:
        if done.exit_status != 0:
            error = done.stderr.decode(errors="replace").strip()[-500:]
            raise TemporaryError(f"host {target.name}: cannot {what}: {error}")
