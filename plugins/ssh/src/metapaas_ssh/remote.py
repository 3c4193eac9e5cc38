"""SSH to hosts with pinned host keys, shared by the control plane's threads.

The orchestrator's threads are synchronous; asyncssh is not. One event loop
on a thread of its own holds a connection per host, opened on first use and
reused by every later call (a handshake costs more than most commands), and
dropped when it fails, so the next call opens a new one. The thread starts
with the first call: a server that has the provider but no host runs none.

The host key is pinned: it is the only key trusted for the host, and a host
presenting another is refused (:class:`HostKeyRefused`), never learnt.
Commands are argv lists, quoted for the remote shell here; a non-root login
runs them under ``sudo -n``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import shlex
import threading
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncssh

T = TypeVar("T")

CONNECT_SECONDS = 10.0
STREAM_CHUNK = 1 << 20


@dataclass(frozen=True)
class Target:
    """How to reach one host: its address, the login, its private key and pinned host key."""

    name: str
    address: str
    port: int
    user: str
    private_key: str  # OpenSSH or PEM text
    host_key: str  # the public key line: "ssh-ed25519 AAAA..."


@dataclass(frozen=True)
class Completed:
    exit_status: int
    stdout: bytes
    stderr: bytes


class SshFailure(Exception):
    """No session with the host: down, refused, or timed out. The message says which."""


class HostKeyRefused(SshFailure):
    """The host presented a key other than its pinned one."""


def check_private_key(text: str) -> str:
    """The key's public half in OpenSSH form; ``ValueError`` if ``text`` is not an
    unencrypted private key."""
    try:
        key = asyncssh.import_private_key(text)
    except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
        raise ValueError(f"not a usable private key: {exc}") from exc
    public: bytes = key.export_public_key("openssh")
    return public.decode().strip()


def check_host_key(text: str) -> str:
    """The host key line as it will be pinned; ``ValueError`` if it is not a public key."""
    try:
        key = asyncssh.import_public_key(text.strip())
    except asyncssh.KeyImportError as exc:
        raise ValueError(f"not an SSH public key: {exc}") from exc
    exported: bytes = key.export_public_key("openssh")
    return " ".join(exported.decode().split()[:2])


class Remotes:
    """Open SSH connections by host; every call blocks its caller until done or timed out."""

    def __init__(self, connect_seconds: float = CONNECT_SECONDS) -> None:
        # asyncssh logs every channel at INFO with its whole command line (the unpacker's
        # source, for one): its warnings are what an operator needs.
        logging.getLogger("asyncssh").setLevel(logging.WARNING)
        self._connect_seconds = connect_seconds
        self._loop = asyncio.new_event_loop()
        self._connections: dict[Target, asyncssh.SSHClientConnection] = {}
        self._thread = threading.Thread(target=self._loop.run_forever, name="ssh", daemon=True)
        self._starting = threading.Lock()

    def run(
        self,
        target: Target,
        argv: Sequence[str],
        *,
        stdin: bytes | Path = b"",
        timeout: float = 60.0,
    ) -> Completed:
        """Run ``argv`` on the host (as root: ``sudo -n`` for another login), given ``stdin``:
        bytes, or a file of this machine, streamed."""
        command = shlex.join(argv if target.user == "root" else ["sudo", "-n", *argv])
        return self._call(self._run(target, command, stdin, timeout), target, timeout)

    def put(self, target: Target, local: Path, remote: str, *, timeout: float = 300.0) -> Completed:
        """Copy the file ``local`` to the path ``remote`` on the host, over the session's exec
        channel: a host's sshd may offer no SFTP subsystem (a hardened one does not)."""
        return self.run(
            target, ["sh", "-c", 'cat > "$1"', "sh", remote], stdin=local, timeout=timeout
        )

    def forget(self, name: str) -> None:
        """Close the connection to host ``name`` (its registration changed, or it is gone)."""
        for target in [t for t in list(self._connections) if t.name == name]:
            self._submit(self._drop(target)).result(self._connect_seconds)

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        for target in list(self._connections):
            self.forget(target.name)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def _call(self, coroutine: Coroutine[Any, Any, T], target: Target, timeout: float) -> T:
        future = self._submit(coroutine)
        try:
            return future.result(timeout + self._connect_seconds)
        except TimeoutError as exc:
            future.cancel()
            self._submit(self._drop(target))
            raise SshFailure(f"host {target.name}: no answer within {timeout:.0f} s") from exc

    def _submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        with self._starting:
            if not self._thread.is_alive():
                self._thread.start()
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    async def _run(
        self, target: Target, command: str, stdin: bytes | Path, timeout: float
    ) -> Completed:
        # A file streams in large reads: asyncssh reads 8 KiB at a time by default.
        given: dict[str, Any] = (
            {"stdin": stdin, "bufsize": STREAM_CHUNK}
            if isinstance(stdin, Path)
            else {"input": stdin}
        )

        async def attempt(connection: asyncssh.SSHClientConnection) -> Completed:
            done = await connection.run(command, encoding=None, timeout=timeout, **given)
            return Completed(
                int(done.exit_status if done.exit_status is not None else 255),
                _bytes(done.stdout),
                _bytes(done.stderr),
            )

        completed: Completed = await self._with_connection(target, attempt)
        return completed

    async def _with_connection(self, target: Target, work: Any) -> Any:
        connection = await self._connection(target)
        try:
            return await work(connection)
        except asyncssh.TimeoutError as exc:
            raise SshFailure(f"host {target.name}: the command timed out") from exc
        except (OSError, asyncssh.Error) as exc:
            await self._drop(target)
            raise SshFailure(f"host {target.name}: the session failed: {exc}") from exc

    async def _connection(self, target: Target) -> asyncssh.SSHClientConnection:
        found = self._connections.get(target)
        if found is not None and not found.is_closed():
            return found
        try:
            connection = await asyncio.wait_for(
                asyncssh.connect(
                    target.address,
                    target.port,
                    username=target.user,
                    client_keys=[asyncssh.import_private_key(target.private_key)],
                    known_hosts=([asyncssh.import_public_key(target.host_key)], [], []),
                    agent_path=None,
                    config=None,
                    keepalive_interval=15,
                    keepalive_count_max=2,
                ),
                self._connect_seconds,
            )
        except asyncssh.HostKeyNotVerifiable as exc:
            raise HostKeyRefused(
                f"host {target.name} presented a host key other than its pinned one: refused"
            ) from exc
        except (OSError, TimeoutError, asyncssh.Error) as exc:
            raise SshFailure(
                f"host {target.name} ({target.address}:{target.port}) is unreachable: "
                f"{exc or type(exc).__name__}"
            ) from exc
        self._connections[target] = connection
        return connection

    async def _drop(self, target: Target) -> None:
        connection = self._connections.pop(target, None)
        if connection is not None:
            connection.close()


def _bytes(output: bytes | str | None) -> bytes:
    """A command's output; asyncssh types it loosely, and it is bytes with no encoding."""
    if isinstance(output, str):
        return output.encode()
    return output or b""
