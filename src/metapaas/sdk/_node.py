"""Helpers for a plugin's node-side programs (and the runtime's own files).

Writes: a reader sees the old file or the new one, never half. A staged file
is written beside its destination (same directory, so the rename is atomic),
fsynced, renamed over the destination, and the directory is fsynced so the
rename itself survives a power cut.

Locks: programs sharing a directory take turns with an exclusive ``flock`` on a
file in it, which the kernel drops when the holder dies, so no crash leaves a
lock behind.

Waits: an engine that has just started refuses connections for a while; a
node-side program asks again a bounded number of times, then fails saying
what it waited for and the last error.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, TypeVar

T = TypeVar("T")
Writer = Callable[[BinaryIO], None]
"""Writes a file's content into the open file it is given (an archive, as it is made)."""

VOLUME_DIR = "data"
"""The node's volume, mounted at ``<node dir>/data`` (``{{ node.dir }}/data`` in a template).

What a type keeps there (a database's cluster, a cache's dump, stored objects)
survives a restart of the node and its replacement where the volume lives; the
rest of the node directory (rendered config, the agent's files) is made anew.
Deleting the instance (or scaling the node away) deletes the volume.
"""

TLS_CERTIFICATE = "tls/node.crt"
TLS_KEY = "tls/node.key"
TLS_AUTHORITY = "tls/ca.crt"
"""Where, in the node directory, the agent keeps the node's server certificate, its key
(mode 0600) and the CA certificate that signed it, for a node of a role with a TLS port.
Templates and argv name them as ``{{ node.tls.certificate }}``, ``{{ node.tls.key }}``
and ``{{ node.tls.authority }}`` (absolute paths); the control plane issues and renews
them, so no type makes certificates of its own."""


def stage(dest: Path, data: bytes | Writer, mode: int = 0o600) -> Path:
    """Write ``data`` (or what the writer writes) to a new hidden file beside ``dest`` with
    ``mode``, fsynced."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".staged")
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), mode)
            if isinstance(data, bytes):
                file.write(data)
            else:
                data(file)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


def commit(staged: Path, dest: Path) -> None:
    """Rename the staged file over ``dest`` and make the rename durable."""
    os.replace(staged, dest)
    _sync_directory(dest.parent)


def write_private(dest: Path, data: str | bytes, mode: int = 0o600) -> None:
    """Replace ``dest`` with ``data`` (text is UTF-8) atomically and durably, readable
    by the owner only unless ``mode`` says otherwise."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    commit(stage(dest, raw, mode), dest)


def create_private(dest: Path, data: str | bytes, mode: int = 0o600) -> bool:
    """Write ``dest`` like :func:`write_private` only when it does not exist yet; return
    whether this call made it. Of two programs racing, the first one's content stands
    (e.g. a password made on first use)."""
    if dest.exists():
        return False
    raw = data.encode("utf-8") if isinstance(data, str) else data
    staged = stage(dest, raw, mode)
    try:
        os.link(staged, dest)
    except FileExistsError:
        return False
    finally:
        staged.unlink()
    _sync_directory(dest.parent)
    return True


def sha256_of(path: Path) -> str:
    """The hex SHA-256 of the file at ``path``, read in chunks: a wheel, a bundle, an
    object stored in a backup repository."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


@contextlib.contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_file`` (made if missing) while the block runs;
    wait for a holder in another process to finish first."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class NotReady(Exception):
    """:func:`wait_until_ready` ran out of attempts; the message names what it waited for."""


def wait_until_ready(
    probe: Callable[[], T],
    *,
    what: str,
    attempts: int,
    interval: float = 1.0,
    retry_on: tuple[type[Exception], ...] = (OSError,),
) -> T:
    """Call ``probe`` until it returns, at most ``attempts`` times, ``interval`` seconds
    apart, and return its answer.

    An exception of ``retry_on`` means "not yet"; any other one stops the wait at
    once (e.g. the engine's process is gone). After the last attempt raises
    :class:`NotReady` naming ``what`` and the last error.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    for _ in range(attempts - 1):
        try:
            return probe()
        except retry_on:
            time.sleep(interval)
    try:
        return probe()
    except retry_on as exc:
        raise NotReady(f"{what}: not ready after {attempts} attempts: {exc}") from exc
