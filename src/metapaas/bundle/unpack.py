"""Unpack a runtime bundle on a host: ``python3 unpack.py ARCHIVE TARGET``.

This module runs on the host, under its system Python (3.11.2 on Debian 12,
without ``tarfile``'s extraction filters of 3.11.4) and without MetaPaaS: it
imports only the standard library, so a remote provider sends its source and
runs it with ``python3 -c``.

Extraction is checked member by member rather than trusted to ``tarfile``: a
bundle holds only directories and regular files, so anything else (a link, a
device, a FIFO) is refused, and so is a name that is absolute or climbs out
with ``..``. As no link is ever created, a path inside the scratch directory
can only lead inside it. Files are created exclusively, without following a
link, with a mode of 0644 or 0755 (no set-id bit, no write for others) and
owned by the user unpacking, whatever the archive says.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

CHUNK = 1 << 20


class UnsafeArchive(Exception):
    """The archive holds a member that could write outside the target."""


def unpack(archive: Path, target: Path) -> None:
    """Unpack ``archive`` into ``target``, all at once or not at all.

    The target is named after the archive's digest, so one that exists holds
    the same content already: it is left as it is.
    """
    if target.is_dir():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        _extract(archive, scratch)
        _open_directories(scratch)
        try:
            scratch.rename(target)
        except OSError:  # another process unpacked it first: same content by construction
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _extract(archive: Path, into: Path) -> None:
    with tarfile.open(archive, mode="r:gz") as tar:
        for member in tar:
            name = _safe_name(member)
            if name is None:
                continue
            path = into / name
            if member.isdir():
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            if source is None:
                raise UnsafeArchive(f"{member.name}: no content")
            mode = 0o755 if member.mode & 0o111 else 0o644
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            with source, os.fdopen(os.open(path, flags, mode), "wb") as out:
                os.fchmod(out.fileno(), mode)  # whatever the umask of the session unpacking
                shutil.copyfileobj(source, out, CHUNK)


def _open_directories(root: Path) -> None:
    """Every directory 0755: the nodes may run as other users than the one unpacking."""
    for parent, directories, _files in os.walk(root):
        for directory in directories:
            os.chmod(os.path.join(parent, directory), 0o755)  # noqa: S103 (code, not secrets)
    root.chmod(0o755)


def _safe_name(member: tarfile.TarInfo) -> str | None:
    """The member's normalised relative name; None for the top directory itself."""
    if not (member.isfile() or member.isdir()):
        raise UnsafeArchive(f"{member.name}: only files and directories may be unpacked")
    if member.name.startswith("/"):
        raise UnsafeArchive(f"{member.name}: absolute name")
    name = posixpath.normpath(member.name)
    if name == ".." or name.startswith("../"):
        raise UnsafeArchive(f"{member.name}: leaves the target")
    return None if name == "." else name


if __name__ == "__main__":
    unpack(Path(sys.argv[1]), Path(sys.argv[2]))
