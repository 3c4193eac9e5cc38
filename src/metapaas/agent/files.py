"""Durable file replacement: a reader sees the old file or the new one, never half.

A staged file is written beside its destination (same directory, so the
rename is atomic), fsynced, renamed over the destination, and the directory
is fsynced so the rename itself survives a power cut.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def stage(dest: Path, data: bytes, mode: int) -> Path:
    """Write ``data`` to a new hidden file beside ``dest`` with ``mode``, fsynced."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".staged")
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), mode)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


def commit(staged: Path, dest: Path) -> None:
    """Rename the staged file over ``dest`` and make the rename durable."""
    os.replace(staged, dest)
    directory = os.open(dest.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def write_atomically(dest: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``dest`` with ``data`` durably (journal entries, the credential)."""
    commit(stage(dest, data, mode), dest)
