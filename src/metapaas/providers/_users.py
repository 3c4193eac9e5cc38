"""A system user per node, for the local provider run as root on a host of ``ssh``."""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import subprocess
from pathlib import Path

from metapaas.sdk import TemporaryError


class NodeUsers:
    """A user per node, made with its volume and removed with it.

    Its name is ``mpn-`` and a digest of the node's (user names are short); its uid
    comes from the same digest, in a range no distribution allocates from
    (``FIRST_UID`` up), so a node has one uid on every machine and two machines'
    nodes never share one by chance of allocation order.
    """

    PREFIX = "mpn-"
    FIRST_UID = 1 << 30
    UID_SPAN = 1 << 28

    @classmethod
    def name_of(cls, node: str) -> str:
        return cls.PREFIX + cls._digest(node)[:16]

    @classmethod
    def uid_of(cls, node: str) -> int:
        return cls.FIRST_UID + int(cls._digest(node)[16:23], 16) % cls.UID_SPAN

    @staticmethod
    def _digest(node: str) -> str:
        return hashlib.sha256(node.encode()).hexdigest()

    def get(self, node: str) -> pwd.struct_passwd:
        return pwd.getpwnam(self.name_of(node))

    def give(self, node: str, node_dir: Path, volume: Path) -> None:
        """Make the node's user if it has none, and make its directory and volume its own and
        private to it.

        The node directory is small and the provider writes into it at each start: all
        of it is given. The volume can hold a database, and what the node wrote there is
        its user's already: only its top, made by the provider, is given.
        """
        try:
            user = self.get(node)
        except KeyError:
            self._run(
                "useradd",
                *("--uid", str(self.uid_of(node)), "--user-group", "--no-create-home"),
                *("--no-log-init", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin"),
                self.name_of(node),
            )
            user = self.get(node)
        for path in (node_dir, *node_dir.rglob("*"), volume, *volume.iterdir()):
            os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)
        for directory in (node_dir, volume):
            directory.chmod(0o700)

    def remove(self, node: str) -> None:
        with contextlib.suppress(KeyError):
            self.get(node)
            self._run("userdel", self.name_of(node))

    @staticmethod
    def _run(*argv: str) -> None:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise TemporaryError(f"{argv[0]} failed: {done.stderr.strip() or done.returncode}")
