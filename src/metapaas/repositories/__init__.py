"""Backup repositories: one client for the agent and the control plane.

The control plane hands out a repository as a mapping (``sdk.Backups`` names its
fields); :func:`open_repository` turns it into a :class:`Repository` that puts,
gets, lists and deletes objects by key and probes that it can. Keys are relative
``/`` paths; a prefix is a directory of them. Objects are sealed with the
instance's passphrase before they leave a node (:func:`seal_file`,
:func:`open_file`) and checked by their SHA-256 as stored (``sdk.sha256_of``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from metapaas.repositories.filesystem import FilesystemRepository
from metapaas.repositories.objects import (
    PROBE_PREFIX,
    Repository,
    RepositoryError,
    StoredObject,
    checked_key,
)
from metapaas.repositories.s3 import S3Repository
from metapaas.repositories.sealing import (
    open_file,
    open_stream,
    seal_file,
    seal_stream,
)

__all__ = [
    "PROBE_PREFIX",
    "FilesystemRepository",
    "Repository",
    "RepositoryError",
    "S3Repository",
    "StoredObject",
    "checked_key",
    "open_file",
    "open_repository",
    "open_stream",
    "seal_file",
    "seal_stream",
]

S3_FIELDS = ("endpoint", "bucket", "region", "access_key_id", "secret_access_key")


def open_repository(mapping: Mapping[str, Any]) -> Repository:
    """The repository ``mapping`` describes: ``kind`` ``filesystem`` with ``path``, or
    ``s3`` with :data:`S3_FIELDS` and ``ca_certificate`` (PEM, or empty)."""
    kind = mapping.get("kind")
    if kind == "filesystem":
        return FilesystemRepository(Path(str(mapping.get("path", ""))))
    if kind == "s3":
        missing = [name for name in S3_FIELDS if not mapping.get(name)]
        if missing:
            raise RepositoryError(f"the s3 repository lacks {', '.join(missing)}")
        fields = {name: str(mapping[name]) for name in S3_FIELDS}
        return S3Repository(**fields, ca_certificate=str(mapping.get("ca_certificate") or ""))
    raise RepositoryError(f"unknown repository kind {kind!r}: filesystem or s3")
