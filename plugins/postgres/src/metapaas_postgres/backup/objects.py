"""The sha256 of every object of one backup set, as the repository stores it.

An object is a file under ``backup/main/<label>/`` of the instance's directory in the
repository: the set's files (``pg_data/...``, compressed and encrypted) and its
``backup.manifest`` with the copy. What is hashed is the stored bytes, encrypted as they
are, never what they decrypt to: ``backup`` and ``verify`` hash the same bytes, so a
changed byte in the repository shows as a changed digest. The set is listed by
``pgbackrest repo-ls``; a filesystem repository's files are read directly, an s3 one's
through ``repo-get --raw`` (no decryption).
"""

from __future__ import annotations

import hashlib
import json

from metapaas import sdk
from metapaas_postgres.backup.repository import STANZA, Repository


def backup_objects(repository: Repository, label: str) -> dict[str, str]:
    """sha256 (hex) by path relative to the instance's directory in the repository."""
    prefix = f"backup/{STANZA}/{label}"
    listed = json.loads(repository.run("repo-ls", "--recurse", "--output=json", operands=(prefix,)))
    names = sorted(f"{prefix}/{name}" for name, entry in listed.items() if entry["type"] == "file")
    local = repository.local_path()
    if local is not None:
        return {name: sdk.sha256_of(local / name) for name in names}
    return {name: hashlib.sha256(_stored(repository, name)).hexdigest() for name in names}


def _stored(repository: Repository, name: str) -> bytes:
    return repository.run_bytes("repo-get", "--raw", operands=(name,))
