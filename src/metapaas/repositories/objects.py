"""What every repository shares: its objects, its errors, its keys, and the probe."""

from __future__ import annotations

import abc
import secrets
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Self

from metapaas.sdk import PluginError

PROBE_PREFIX = ".metapaas-probe"
"""Where :meth:`Repository.probe` writes: a prefix no backup is stored under."""


class RepositoryError(PluginError):
    """A repository call failed; the message is a sentence naming what failed.

    ``temporary``: asking again later may succeed (the repository did not answer),
    unlike a refusal (credentials, a missing bucket, an untrusted certificate).
    """

    def __init__(self, message: str, *, temporary: bool = False) -> None:
        super().__init__(message)
        self.temporary = temporary


@dataclass(frozen=True)
class StoredObject:
    """One object as the repository holds it."""

    key: str
    size: int
    last_modified: datetime


def checked_key(key: str) -> str:
    """``key`` when it is a relative path with no ``.``, ``..`` or empty part."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise RepositoryError(f"{key!r} is no repository key: a relative path without '..'")
    return str(PurePosixPath(key))


def checked_prefix(prefix: str) -> str:
    """A prefix is a directory of keys: ``""`` (all of them) or a key; a trailing ``/``
    is dropped, so ``a/b`` and ``a/b/`` both mean the keys under ``a/b/``."""
    stripped = prefix.rstrip("/")
    return "" if not stripped else checked_key(stripped)


def under(prefix: str) -> str:
    """What the keys under ``prefix`` (a checked one) start with."""
    return f"{prefix}/" if prefix else ""


class Repository(abc.ABC):
    """A place backups are kept: objects by key, streamed from and to files.

    Use it as a context manager (or call :meth:`close`): an S3 repository keeps its
    CA certificate in a private temporary file while it is open.
    """

    description: str
    """Names the repository in error sentences (its directory, or its endpoint and bucket)."""

    @abc.abstractmethod
    def put(self, key: str, source: Path) -> None:
        """Store the file ``source`` as ``key``; a reader sees all of it or none."""

    @abc.abstractmethod
    def get(self, key: str, dest: Path) -> None:
        """Write the object ``key`` to ``dest``, replacing it once complete."""

    @abc.abstractmethod
    def list(self, prefix: str = "") -> list[StoredObject]:
        """Every object under ``prefix`` (see :func:`checked_prefix`), by key."""

    @abc.abstractmethod
    def delete(self, prefix: str) -> int:
        """Delete every object under ``prefix``; return how many there were (0 again)."""

    def probe(self) -> None:
        """Write, read back and delete a probe object; raise :class:`RepositoryError`
        saying what failed."""
        prefix = f"{PROBE_PREFIX}/{uuid.uuid4().hex}"
        token = secrets.token_bytes(64)
        with tempfile.TemporaryDirectory(prefix="metapaas-probe-") as scratch:
            sent, back = Path(scratch, "sent"), Path(scratch, "back")
            sent.write_bytes(token)
            self.put(f"{prefix}/probe", sent)
            try:
                self.get(f"{prefix}/probe", back)
            finally:
                self.delete(prefix)
            if back.read_bytes() != token:
                raise RepositoryError(f"{self.description} returned another probe than written")

    def close(self) -> None:  # noqa: B027 (a directory holds nothing open)
        """Free what the repository holds open (nothing, unless it says otherwise)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
