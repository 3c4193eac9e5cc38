"""The server's Unix socket directory, which pgBackRest needs (it talks to PostgreSQL
over a socket only).

The node directory can be deeper than the 107 bytes a socket path may have, so the
socket lives in ``layout.socket_dir``: ``<root>/<16 hex digits of the node directory's
hash>``, the root being ``$XDG_RUNTIME_DIR/metapaas-postgres`` or, without one,
``/tmp/metapaas-postgres-<uid>``. Root and node directory are the running user's own,
mode 0700: no other user can reach the socket or put a directory of its own in the
way (one that is not the user's own, or open to others, is refused). The launcher
makes it before each start, names it in ``conf/socket.conf`` (which the node's
``postgresql.conf`` includes) and removes it when the server has stopped.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from metapaas import sdk
from metapaas_postgres.layout import NodeLayout, socket_root


def ensure(layout: NodeLayout) -> None:
    for directory in (socket_root(), layout.socket_dir):
        _own_directory(directory)
    setting = f"unix_socket_directories = '{layout.socket_dir}'\n"
    current = layout.socket_config_file
    if not current.exists() or current.read_text(encoding="utf-8") != setting:
        sdk.write_private(current, setting)


def remove(layout: NodeLayout) -> None:
    """Remove the (then empty) directory: the stopped server removed its socket."""
    with contextlib.suppress(OSError):
        layout.socket_dir.rmdir()


def _own_directory(directory: Path) -> None:
    with contextlib.suppress(FileExistsError):
        directory.mkdir(mode=0o700, parents=True)
    found = os.lstat(directory)
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.geteuid() or found.st_mode & 0o077:
        raise PermissionError(f"{directory} is not a directory of this user's own, mode 0700")
