"""One repository as the node's rendered pgBackRest config names it, and pgBackRest run
against it.

Every step reads the repository from the config the agent rendered
(``conf/pgbackrest-store.conf`` or ``-source.conf``), so the template is the one place
that turns ``backup.store`` into pgBackRest's options. pgBackRest runs as the server
does (:func:`~metapaas_postgres.privileges.as_unprivileged`): the files it writes into
the cluster and the repository belong to the server's user, and ``archive-push``, which
the server itself runs, can write where the backups went.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from metapaas import sdk
from metapaas_postgres.layout import NodeLayout, Place
from metapaas_postgres.privileges import as_unprivileged

STANZA = "main"


class Failed(Exception):
    """A step cannot do what it was asked; the message is the one-line reason."""


@dataclass(frozen=True)
class Repository:
    layout: NodeLayout
    place: Place
    pgbackrest: str

    @property
    def config(self) -> Path:
        return self.layout.config(self.place)

    def settings(self) -> dict[str, str]:
        """The ``[global]`` options of the rendered config; empty when there is no
        repository (no policy, or nothing to restore from)."""
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(self.config, encoding="utf-8")
        return dict(parser["global"]) if parser.has_section("global") else {}

    def require(self) -> dict[str, str]:
        settings = self.settings()
        if not settings:
            raise Failed(f"the node has no backup {self.place} (backup.{self.place} is None)")
        return settings

    def local_path(self) -> Path | None:
        """The instance's directory of a filesystem repository; None for s3."""
        settings = self.require()
        return Path(settings["repo1-path"]) if settings["repo1-type"] == "posix" else None

    def identity(self) -> str:
        """What tells this repository from another one: its kind, place and bucket."""
        settings = self.require()
        names = ("repo1-type", "repo1-s3-endpoint", "repo1-s3-bucket", "repo1-path")
        text = "\n".join(settings.get(name, "") for name in names)
        return hashlib.sha256(text.encode()).hexdigest()

    def prepare(self) -> None:
        """Make the instance's directory of a filesystem store (the control plane made
        the repository's own) and the password file pgBackRest's libpq reads."""
        path = self.local_path()
        if path is not None:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_password_file(self.layout)

    def run(self, command: str, *options: str, operands: tuple[str, ...] = ()) -> str:
        """Run one pgBackRest command on the stanza; its output, or :class:`Failed` with
        pgBackRest's own error line."""
        return self.run_bytes(command, *options, operands=operands).decode(errors="replace")

    def run_bytes(self, command: str, *options: str, operands: tuple[str, ...] = ()) -> bytes:
        settings = self.require()
        for own in ("log-path", "lock-path", "spool-path"):  # pgBackRest makes only its locks'
            Path(settings[own]).mkdir(mode=0o700, parents=True, exist_ok=True)
        argv = [self.pgbackrest, f"--config={self.config}", f"--stanza={STANZA}", *options]
        argv += [command, *operands]
        env = {**os.environ, "PGPASSFILE": str(self.layout.password_file)}
        done = subprocess.run(as_unprivileged(argv), capture_output=True, env=env, check=False)
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode("utf-8", errors="replace")
            raise Failed(f"pgbackrest {command}: {error_line(output)}")
        return done.stdout

    def info(self) -> dict[str, Any]:
        """``pgbackrest info`` of the stanza: its ``backup`` list, oldest first."""
        (stanza,) = json.loads(self.run("info", "--output=json"))
        if stanza["status"]["code"] not in (0, 2):  # 2: no backups yet
            raise Failed(f"pgbackrest info: {stanza['status']['message']}")
        return dict(stanza)

    def backups(self) -> list[dict[str, Any]]:
        return list(self.info()["backup"])

    def backup(self, label: str) -> dict[str, Any]:
        for found in self.backups():
            if found["label"] == label:
                return found
        raise Failed(f"the repository holds no backup {label!r}")


def restorable_from(backup_set: dict[str, Any]) -> datetime:
    """The first moment a restore from ``backup_set`` (``pgbackrest info``'s) can reach.

    pgBackRest keeps the set's stop time truncated to the second, and the server's
    consistency point (the backup's real end) may be up to a second after it: a target
    before it is refused by PostgreSQL, and one in the same second by pgBackRest, which
    takes only a set that stopped before the target.
    """
    return datetime.fromtimestamp(backup_set["timestamp"]["stop"] + 1, UTC)


def write_password_file(layout: NodeLayout) -> None:
    """The superuser's password as libpq's ``PGPASSFILE`` for pgBackRest and pg_amcheck."""
    password = layout.superuser_password_file.read_text(encoding="utf-8").strip()
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    sdk.write_private(layout.password_file, f"*:*:*:*:{escaped}\n")


def error_line(output: str) -> str:
    """pgBackRest's ``ERROR: [code]: ...`` lines on one (the last line when there is
    none): the first says what went wrong, the last that the command failed."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR:" in line]
    return ("; ".join(errors) or (lines or ["failed without output"])[-1])[:1000]
