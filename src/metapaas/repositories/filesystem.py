"""A repository in a directory (local disk, or a mounted share)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from metapaas.repositories.objects import (
    Repository,
    RepositoryError,
    StoredObject,
    checked_key,
    checked_prefix,
)
from metapaas.sdk import _node as durable


class FilesystemRepository(Repository):
    """Objects are files under ``root``, written as the agent writes its own files
    (staged beside, fsynced, renamed, the directory fsynced)."""

    def __init__(self, root: Path) -> None:
        if not root.is_absolute():
            raise RepositoryError(f"a filesystem repository's path must be absolute: {root}")
        self.root = root
        self.description = f"the repository directory {root}"

    def put(self, key: str, source: Path) -> None:
        dest = self._path(key)
        with self._answers(f"storing {key}"), source.open("rb") as data:
            self._require_root()
            durable.commit(durable.stage(dest, lambda out: _copy(data, out)), dest)

    def get(self, key: str, dest: Path) -> None:
        path = self._path(key)
        with self._answers(f"reading {key}"):
            try:
                data = path.open("rb")
            except FileNotFoundError:
                raise RepositoryError(f"{self.description} holds no object {key}") from None
            with data:
                durable.commit(durable.stage(dest, lambda out: _copy(data, out)), dest)

    def list(self, prefix: str = "") -> list[StoredObject]:
        top = self.root / checked_prefix(prefix)
        with self._answers(f"listing {prefix or 'the objects'}"):
            self._require_root()
            return sorted(self._objects(top), key=lambda stored: stored.key)

    def delete(self, prefix: str) -> int:
        checked = checked_prefix(prefix)
        objects = self.list(checked)
        with self._answers(f"deleting {checked or 'the objects'}"):
            top = self.root / checked
            for child in (top,) if checked else tuple(self.root.iterdir()):
                _remove(child)
        return len(objects)

    def _objects(self, top: Path) -> Iterator[StoredObject]:
        for directory, _, names in os.walk(top):
            for name in names:
                if name.startswith(".") and name.endswith(".staged"):
                    continue  # a write under way, or one a crash cut short
                path = Path(directory, name)
                stat = path.stat()
                when = datetime.fromtimestamp(stat.st_mtime, UTC)
                yield StoredObject(path.relative_to(self.root).as_posix(), stat.st_size, when)

    def _path(self, key: str) -> Path:
        return self.root / checked_key(key)

    def _require_root(self) -> None:
        # Never made here: a share that is not mounted must not fill the disk under it.
        if not self.root.is_dir():
            raise RepositoryError(f"{self.description} does not exist")

    @contextlib.contextmanager
    def _answers(self, doing: str) -> Iterator[None]:
        try:
            yield
        except PermissionError as exc:
            raise RepositoryError(f"{self.description} is not writable ({doing}): {exc}") from exc
        except OSError as exc:
            raise RepositoryError(f"{doing} in {self.description} failed: {exc}") from exc


def _copy(source: BinaryIO, dest: BinaryIO) -> None:
    shutil.copyfileobj(source, dest, 1 << 20)


def _remove(path: Path) -> None:
    """Remove a file or a directory tree; one already gone is removed (a second delete)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
