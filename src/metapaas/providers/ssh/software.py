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
"""

from __future__ import annotations

import inspect
import threading
from pathlib import Path

from metapaas.config import environment_dir
from metapaas.providers import bundle, unpack
from metapaas.providers.ssh.remote import Remotes, SshFailure, Target
from metapaas.sdk import TemporaryError

REMOTE_HOME = "/var/lib/metapaas"
RUNTIME_DIR = f"{REMOTE_HOME}/runtime"
PLUGINS_DIR = f"{REMOTE_HOME}/plugins"
INCOMING_DIR = f"{REMOTE_HOME}/incoming"
UNPACK_SOURCE = inspect.getsource(unpack)


class Software:
    """Puts the runtime and plugin versions on hosts, each at most once."""

    def __init__(self, remotes: Remotes, home: Path) -> None:
        self._remotes = remotes
        self._home = home
        self._present: set[tuple[Target, str]] = set()
        self._lock = threading.Lock()

    def runtime(self, target: Target, python: str) -> str:
        """The directory of this runtime's bundle on the host, sent there if missing."""
        built = bundle.runtime_bundle(self._home)
        remote = f"{RUNTIME_DIR}/{built.digest}"
        self._ensure(target, python, built.path, remote)
        return remote

    def plugin(self, target: Target, python: str, wheelhouse: str) -> None:
        """Put the environment of plugin version ``wheelhouse`` on the host."""
        source = environment_dir(self._home, wheelhouse)
        if not source.is_dir():
            raise TemporaryError(
                f"the plugin environment {wheelhouse} is not installed on the control plane yet"
            )
        archive = bundle.tree_bundle(source, self._home / bundle.BUNDLES_DIR / "plugins")
        self._ensure(target, python, archive.path, f"{PLUGINS_DIR}/{wheelhouse}")

    def forget(self, target_name: str) -> None:
        """Check again next time: the host may have been rebuilt."""
        with self._lock:
            self._present = {p for p in self._present if p[0].name != target_name}

    def _ensure(self, target: Target, python: str, archive: Path, remote: str) -> None:
        with self._lock:
            if (target, remote) in self._present:
                return
        if self._remotes.run(target, ["test", "-d", remote]).exit_status != 0:
            self._send(target, python, archive, remote)
        with self._lock:
            self._present.add((target, remote))

    def _send(self, target: Target, python: str, archive: Path, remote: str) -> None:
        incoming = f"{INCOMING_DIR}/{archive.name}"
        try:
            self._check(target, ["mkdir", "-p", "-m", "0755", INCOMING_DIR], "make incoming/")
            self._remotes.put(target, archive, incoming)
            unpacked = [python, "-I", "-c", UNPACK_SOURCE, incoming, remote]
            self._check(target, unpacked, f"unpack {archive.name}")
            self._check(target, ["rm", "-f", incoming], "remove the archive")
            # Node users cannot write bytecode into it: compiled once here, every agent and
            # host-side call starts from .pyc instead of compiling its imports each time.
            compiled = [python, "-m", "compileall", "-q", "-j", "0", remote]
            self._check(target, compiled, f"compile {archive.name}")
        except SshFailure as exc:
            raise TemporaryError(f"cannot send software to host {target.name}: {exc}") from exc

    def _check(self, target: Target, argv: list[str], what: str) -> None:
        done = self._remotes.run(target, argv, timeout=300)
        if done.exit_status != 0:
            error = done.stderr.decode(errors="replace").strip()[-500:]
            raise TemporaryError(f"host {target.name}: cannot {what}: {error}")
