"""Wheelhouses: a plugin version with its own dependencies, as wheels kept in the database.

A wheelhouse is addressed by the hash of its files (their SHA-256 and names),
so the same bytes always have the same address: every control-plane replica
and every node installs exactly what was checked. Its files live in the
shared database (``plugin_files``), so a replica on another machine, or a node
fetching its version, needs no package index.

An *environment* is a wheelhouse installed, without its dependencies' resolution
(it was done once, at install), into ``<home>/plugins/<hash>/``: a directory
put on ``sys.path`` (or a node agent's ``PYTHONPATH``). It is never changed
once made, so a process still running an old version keeps its files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename
from sqlalchemy import select
from sqlalchemy.orm import Session

from metapaas.config import environment_dir
from metapaas.db import models
from metapaas.sdk import sha256_of

PIP_TIMEOUT_SECONDS = 600.0


class WheelhouseError(Exception):
    """A wheelhouse cannot be stored or installed; the message says why."""


def address(files: Iterable[tuple[str, str]]) -> str:
    """The content address of a set of ``(filename, sha256)``: order does not matter."""
    lines = sorted(f"{sha} {name}" for name, sha in files)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def store(session: Session, distribution: str, version: str, wheels: Iterable[Path]) -> str:
    """Record ``wheels`` as a wheelhouse of ``distribution``; returns its address.

    Storing the same files twice is a no-op: the rows are keyed by content.
    """
    files = [(wheel.name, sha256_of(wheel)) for wheel in wheels]
    for (name, sha), wheel in zip(files, wheels, strict=True):
        if session.get(models.PluginFile, sha) is None:
            session.add(models.PluginFile(sha256=sha, filename=name, content=wheel.read_bytes()))
    hash_ = address(files)
    if session.get(models.Wheelhouse, hash_) is None:
        session.add(
            models.Wheelhouse(
                hash=hash_,
                distribution=distribution,
                version=version,
                files=[{"filename": name, "sha256": sha} for name, sha in sorted(files)],
            )
        )
    return hash_


def canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return str(canonicalize_name(name))


def names_and_versions(filenames: Iterable[str]) -> dict[str, str]:
    """``{normalised name: version}`` of wheels, read from their file names."""
    found = {}
    for filename in filenames:
        name, version, _, _ = parse_wheel_filename(filename)
        found[canonical(name)] = str(version)
    return found


def distributions(session: Session, hash_: str) -> dict[str, str]:
    """The distributions wheelhouse ``hash_`` holds, ``{normalised name: version}``."""
    row = session.get(models.Wheelhouse, hash_)
    if row is None:
        raise WheelhouseError(f"no wheelhouse {hash_}")
    return names_and_versions(entry["filename"] for entry in row.files)


def materialize(session: Session, home: Path, hash_: str) -> Path:
    """The environment of wheelhouse ``hash_``, installed from the database if missing.

    Built in a scratch directory and renamed into place, so a crash leaves no
    half environment and two processes building it at once both end with one.
    """
    target = environment_dir(home, hash_)
    if target.is_dir():
        return target
    row = session.get(models.Wheelhouse, hash_)
    if row is None:
        raise WheelhouseError(f"no wheelhouse {hash_} in the database")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as scratch:
        wheels = _write_files(session, row, Path(scratch) / "wheels")
        site = Path(scratch) / "site"
        pip(["install", "--no-deps", "--no-index", "--target", str(site), *map(str, wheels)])
        try:
            site.rename(target)
        except OSError:  # another process made it first: same content by construction
            if not target.is_dir():
                raise
    return target


def _write_files(session: Session, row: models.Wheelhouse, into: Path) -> list[Path]:
    into.mkdir(parents=True)
    wanted = {entry["sha256"]: entry["filename"] for entry in row.files}
    stmt = select(models.PluginFile).where(models.PluginFile.sha256.in_(wanted))
    written = []
    for file in session.scalars(stmt):
        path = into / Path(file.filename).name
        path.write_bytes(file.content)
        written.append(path)
    if len(written) != len(wanted):
        raise WheelhouseError(f"wheelhouse {row.hash} lacks some of its files")
    return written


def remove_unused(home: Path, keep: Iterable[str]) -> None:
    """Delete the environments not in ``keep`` (and scratch left by a crash)."""
    root = home / "plugins"
    if not root.is_dir():
        return
    kept = set(keep)
    for entry in root.iterdir():
        if entry.name not in kept:
            shutil.rmtree(entry, ignore_errors=True)


def pip(args: list[str], env: dict[str, str] | None = None) -> str:
    """Run this interpreter's pip; its output, or :class:`WheelhouseError` with pip's message."""
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT_SECONDS,
        env=env if env is not None else clean_env(),
        check=False,
    )
    if completed.returncode != 0:
        raise WheelhouseError(last_lines(completed.stderr or completed.stdout))
    return completed.stdout


def clean_env() -> dict[str, str]:
    """The environment without ``PYTHONPATH``: pip must see the runtime's packages only."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def last_lines(text: str, count: int = 12) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[-count:]) or "pip failed without a message"
