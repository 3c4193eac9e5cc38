"""pgBackRest by hand on a postgres instance's cluster, the baseline of ``backups.py``; and what
pgBackRest's own logs say of the steps a node ran for the control plane.

By hand is a second stanza (``bench``) with a repository of its own on the same cluster. Its
options are the plugin's, read from the node's rendered ``conf/pgbackrest-store.conf``: the
``[global]`` section as the template wrote it (encryption, ``start-fast``; compression and
``process-max`` left at pgBackRest's defaults there, so here too), only the repository path and
pgBackRest's log, lock and spool directories changed, and the stanza the cluster options of the
plugin's ``[main]``. The cluster's ``archive_command`` archives to the plugin's store only, so
the backup runs with ``--archive-check=n`` and then pushes the set's WAL (its start to its stop
segment) with ``archive-push``, timed with it: the wait for the archive the plugin's backup has.

A restore by hand is ``pgbackrest restore`` of a set (``--type=immediate``, promoted, WAL from
the same repository) into a new directory, then ``postgres`` on it until a connection finds it
out of recovery.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from metapaas_postgres.backup.repository import error_line, write_password_file
from metapaas_postgres.layout import NodeLayout
from metapaas_postgres.privileges import as_unprivileged
from metapaas_postgres.spec import SUPERUSER_ROLE
from psycopg.rows import TupleRow

from metapaas import sdk
from metapaas.testing import free_port, wait_for

Connection = psycopg.Connection[TupleRow]
STANZA = "bench"
PLUGIN_STANZA = "main"
WAL_SEGMENTS_PER_LOG = 0x100
"""16 MiB segments: a WAL file name's last 8 hex digits count 0x00-0xFF."""


def pgbackrest_error(command: str, done: subprocess.CompletedProcess[bytes]) -> RuntimeError:
    output = (done.stdout + done.stderr).decode(errors="replace")
    return RuntimeError(f"pgbackrest {command}: {error_line(output)}")


Marks = list[tuple[str, datetime]]
"""What happened, in order, each with when: the breakdown of one run."""


@dataclass(frozen=True)
class HandBackup:
    label: str
    backup_seconds: float  # pgbackrest backup --archive-check=n
    push_seconds: float  # archive-push of the set's WAL segments
    segments: int
    marks: Marks

    @property
    def seconds(self) -> float:
        return self.backup_seconds + self.push_seconds


@dataclass(frozen=True)
class ByHand:
    """The ``bench`` stanza of the instance whose node is ``layout``, kept under ``root``."""

    layout: NodeLayout
    root: Path
    pgbackrest: str

    @property
    def config(self) -> Path:
        return self.root / "pgbackrest.conf"

    def write_config(self) -> None:
        """The plugin's rendered options with this stanza's own places."""
        plugin = configparser.ConfigParser(interpolation=None)
        plugin.read(self.layout.config("store"), encoding="utf-8")
        own = {
            "repo1-path": self.root / "repository",
            "log-path": self.root / "log",
            "lock-path": self.root / "lock",
            "spool-path": self.root / "spool",
        }
        for directory in own.values():
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        options = {**plugin["global"], **{name: str(path) for name, path in own.items()}}
        lines = ["[global]", *(f"{k}={v}" for k, v in options.items()), "", f"[{STANZA}]"]
        lines += [f"{k}={v}" for k, v in plugin[PLUGIN_STANZA].items()]
        sdk.write_private(self.config, "\n".join(lines) + "\n")

    def run(self, command: str, *options: str, operands: tuple[str, ...] = ()) -> str:
        """One pgBackRest command on the stanza, run as the plugin runs it (unprivileged)."""
        argv = [self.pgbackrest, f"--config={self.config}", f"--stanza={STANZA}", *options]
        argv += [command, *operands]
        env = {**os.environ, "PGPASSFILE": str(self.layout.password_file)}
        done = subprocess.run(as_unprivileged(argv), capture_output=True, env=env, check=False)
        if done.returncode != 0:
            raise pgbackrest_error(command, done)
        return done.stdout.decode(errors="replace")

    def socket_option(self) -> str:
        return f"--pg1-socket-path={self.layout.socket_dir}"

    def create_stanza(self) -> None:
        self.write_config()
        write_password_file(self.layout)
        self.run("stanza-create", self.socket_option())

    def sets(self) -> list[dict[str, Any]]:
        (stanza,) = json.loads(self.run("info", "--output=json"))
        return list(stanza["backup"])

    def backup(self) -> HandBackup:
        """A full backup, then its WAL pushed: the by-hand figure."""
        began = datetime.now(UTC)
        started = time.perf_counter()
        self.run("backup", "--type=full", "--archive-check=n", self.socket_option())
        backed_up = time.perf_counter()
        made = self.sets()[-1]
        segments = wal_range(made["archive"]["start"], made["archive"]["stop"])
        pushing = time.perf_counter()
        for segment in segments:
            wal = self.layout.data_dir / "pg_wal" / segment
            self.run("archive-push", operands=(str(wal),))
        pushed = time.perf_counter()
        log_dir = self.root / "log"
        backup = the(logged_commands(log_dir, began, STANZA), "backup")
        marks = [
            ("pgbackrest backup began", backup.begin),
            *backup_phases(log_dir, backup.begin, STANZA),
            ("pgbackrest backup ended", backup.end),
            ("its WAL pushed by hand", began + timedelta(seconds=pushed - started)),
        ]
        times = (backed_up - started, pushed - pushing)
        return HandBackup(made["label"], *times, len(segments), marks)

    def restore(self, label: str, data: Path) -> None:
        """The set ``label`` into ``data`` (which must not exist), to its end, promoted."""
        archive_get = (
            f"{self.pgbackrest} --config={self.config} --stanza={STANZA}"
            f' --pg1-path={data} archive-get %f "%p"'
        )
        data.mkdir(mode=0o700, parents=True)
        self.run(
            "restore",
            f"--pg1-path={data}",
            f"--set={label}",
            "--type=immediate",
            "--target-action=promote",
            f"--recovery-option=restore_command={archive_get}",
        )


def segment_number(name: str) -> int:
    return int(name[8:16], 16) * WAL_SEGMENTS_PER_LOG + int(name[16:], 16)


def segment_name(timeline: str, number: int) -> str:
    return f"{timeline}{number // WAL_SEGMENTS_PER_LOG:08X}{number % WAL_SEGMENTS_PER_LOG:08X}"


def wal_range(start: str, stop: str) -> list[str]:
    """The WAL file names from ``start`` to ``stop``, both included (one timeline)."""
    numbers = range(segment_number(start), segment_number(stop) + 1)
    return [segment_name(start[:8], number) for number in numbers]


def wal_marks(layout: NodeLayout, segment: str) -> Marks:
    """When the server finished ``segment`` (the mtime of its ``archive_status`` file, which
    the rename of ``.ready`` to ``.done`` keeps) and, if it is the last the plugin's archive
    step pushed, when that push ended (``sdk.ARCHIVE_STATUS``)."""
    marks = []
    with contextlib.suppress(FileNotFoundError):
        ready = (layout.data_dir / "pg_wal" / "archive_status" / f"{segment}.done").stat()
        marks.append((f"{segment} ready to archive", datetime.fromtimestamp(ready.st_mtime, UTC)))
    status = sdk.ArchiveStatus.model_validate_json(layout.archive_status_file.read_bytes())
    if status.segment == segment and status.archived_at is not None:
        marks.append((f"{segment} archived by the archive_command", status.archived_at))
    return marks


@contextlib.contextmanager
def server(bindir: Path, data: Path, sockets: Path) -> Iterator[int]:
    """``postgres`` on ``data`` (its own config, a socket in ``sockets``, no TCP); its port.
    Stopped with a fast shutdown afterwards."""
    port = free_port()
    sockets.mkdir(mode=0o700, parents=True, exist_ok=True)
    argv = [str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(sockets)]
    argv += ["-c", "listen_addresses=", "-c", "archive_mode=off"]
    with (data.parent / "server.log").open("wb") as log:
        process = subprocess.Popen(
            as_unprivileged(argv), stdout=log, stderr=log, stdin=subprocess.DEVNULL
        )
    try:
        yield port
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def superuser(layout: NodeLayout, sockets: Path, port: int, database: str) -> Connection:
    """The source's superuser, with its password, over the socket in ``sockets``."""
    password = layout.superuser_password_file.read_text(encoding="utf-8").strip()
    return psycopg.connect(
        host=str(sockets),
        port=port,
        user=SUPERUSER_ROLE,
        password=password,
        dbname=database,
        autocommit=True,
        connect_timeout=2,
    )


def wait_primary(layout: NodeLayout, sockets: Path, port: int, timeout: float) -> None:
    """Until a connection finds the server out of recovery."""

    def primary() -> bool:
        try:
            with superuser(layout, sockets, port, "postgres") as connection:
                row = connection.execute("SELECT NOT pg_is_in_recovery()").fetchone()
                return bool(row and row[0])
        except psycopg.OperationalError:
            return False

    wait_for(primary, timeout, "the restored server to accept connections", 0.05)


def setting(layout: NodeLayout, name: str) -> str:
    """A setting of the node's rendered ``postgresql.conf``."""
    for line in layout.config_file.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == name:
            return value.strip().strip("'")
    raise KeyError(name)


def pgbackrest(layout: NodeLayout) -> str:
    """The pgBackRest binary the node's ``archive_command`` runs."""
    (option,) = [o for o in setting(layout, "archive_command").split() if "--pgbackrest=" in o]
    return option.split("=", 1)[1]


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


# -- what pgBackRest logged ------------------------------------------------------------

LOG_LINE = re.compile(
    r"^(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) P00\s+INFO: "
    r"(?P<command>[a-z-]+) command (?P<edge>begin|end)"
)


@dataclass(frozen=True)
class Logged:
    command: str
    begin: datetime
    end: datetime


def logged_commands(log_dir: Path, since: datetime, stanza: str = PLUGIN_STANZA) -> list[Logged]:
    """The pgBackRest commands that began after ``since`` (log lines in UTC, the machine's
    zone), oldest first; ``archive-push`` and ``archive-get`` (the server's) left out."""
    found: list[Logged] = []
    for log in sorted(log_dir.glob(f"{stanza}-*.log")):
        begun: dict[str, datetime] = {}
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            matched = LOG_LINE.match(line)
            if matched is None or matched["command"].startswith("archive-"):
                continue
            at = datetime.fromisoformat(matched["at"]).replace(tzinfo=UTC)
            if matched["edge"] == "begin":
                begun[matched["command"]] = at
            elif (began := begun.pop(matched["command"], None)) and began >= since:
                found.append(Logged(matched["command"], began, at))
    return sorted(found, key=lambda logged: logged.begin)


def logged_at(log_dir: Path, text: str, since: datetime, stanza: str = PLUGIN_STANZA) -> datetime:
    """When pgBackRest first logged a line holding ``text`` after ``since``."""
    for log in sorted(log_dir.glob(f"{stanza}-*.log")):
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            at = line[: len("2026-01-01 00:00:00.000")]
            if text in line and (when := datetime.fromisoformat(at).replace(tzinfo=UTC)) > since:
                return when
    raise LookupError(f"pgBackRest logged no {text!r} in {log_dir} after {since}")


BACKUP_PHASES = (
    ("backup start archive", "its checkpoint done"),
    ("execute non-exclusive backup stop", "files copied"),
    ("new backup label", "its WAL found archived"),
)
"""What pgBackRest's backup logs of its phases, and what each line means."""


def backup_phases(log_dir: Path, began: datetime, stanza: str = PLUGIN_STANZA) -> Marks:
    """The phases of the backup that began at ``began``."""
    return [(label, logged_at(log_dir, text, began, stanza)) for text, label in BACKUP_PHASES]


RECOVERY_SERVER_LINES = (
    ("starting PostgreSQL", "the recovery server started"),
    ("database system is ready to accept connections", "it promoted"),
    ("database system is shut down", "it shut down"),
)
"""What the plugin's restore step's server (``backup/restore-server.log``) logs, and what
each line means (the node's ``log_line_prefix`` starts with ``%m``, in UTC)."""


def server_marks(log: Path) -> Marks:
    """The lines of :data:`RECOVERY_SERVER_LINES` the server's ``log`` holds, with when."""
    marks = []
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    for text, label in RECOVERY_SERVER_LINES:
        for line in (line for line in lines if text in line):
            stamp = line[: len("2026-01-01 00:00:00.000")]
            marks.append((label, datetime.fromisoformat(stamp).replace(tzinfo=UTC)))
            break
    return marks


def the(logged: list[Logged], command: str) -> Logged:
    """The one run of ``command`` in ``logged``."""
    (found,) = [entry for entry in logged if entry.command == command]
    return found
