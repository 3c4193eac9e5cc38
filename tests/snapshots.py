"""What a crash leaves behind, kept so a test restarts from it as often as it likes.

A crash-safety test stops the code under test at every point it reaches, in turn.
Running the code up to each point again costs every step before it, once per point;
instead the run that counts the points keeps, at each one, what a crash there would
leave: the database as committed (copied through a connection of its own, so what
the crashed transaction had not committed is not in it) and the directories the code
writes. Restoring that into a new database and a new directory and starting the code
again is what a restart after that crash sees.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import make_url

from metapaas.testing.fixtures import DatabaseFactory

DUMP_SECONDS = 60.0


@dataclass(frozen=True)
class Snapshot:
    """The committed database (an SQLite file, or a ``pg_dump`` archive) and a copy of a
    directory, taken at one point."""

    backend: str
    database: Path
    directory: Path


def take(url: str, directory: Path, into: Path) -> Snapshot:
    """Keep the committed state of ``url`` and a copy of ``directory`` under ``into``."""
    into.mkdir(parents=True)
    backend = _backend(url)
    database = into / "database"
    if backend == "sqlite":
        _sqlite_copy(_sqlite_path(url), database)
    else:
        _run(["pg_dump", "--format=custom", f"--file={database}", _libpq(url)])
    copy = into / "directory"
    if directory.exists():
        shutil.copytree(directory, copy, symlinks=True)
    return Snapshot(backend, database, copy)


def restore(snapshot: Snapshot, factory: DatabaseFactory, directory: Path) -> str:
    """A new database holding the snapshot's, and ``directory`` as it was; returns the
    database's URL."""
    url = factory.new(snapshot.backend)
    if snapshot.backend == "sqlite":
        _sqlite_copy(snapshot.database, _sqlite_path(url))
    else:
        _run(["pg_restore", "--no-owner", f"--dbname={_libpq(url)}", str(snapshot.database)])
    if snapshot.directory.exists():
        shutil.copytree(snapshot.directory, directory, symlinks=True)
    return url


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup: the committed pages, the write-ahead log's included."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def _backend(url: str) -> str:
    return "sqlite" if make_url(url).get_backend_name() == "sqlite" else "postgresql"


def _sqlite_path(url: str) -> Path:
    return Path(str(make_url(url).database))


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=DUMP_SECONDS, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {done.stderr.strip()}")
