"""The server's ``archive_command``: one WAL file pushed to the store by pgBackRest.

``python -m metapaas_postgres.backup archive-push --pgbackrest=P --node-dir=D <wal>``,
run by the server (as its user, in its directory) for each finished WAL file.

- No store (the instance has no backup policy): nothing is archived and the server is
  told it was, so it recycles the file. ``archive_mode`` stays on regardless: turning
  it on needs a restart.
- A store in which this node has not made pgBackRest's stanza yet (no backup made
  there): the same, since no backup in it can need the file. The backup step records
  the store it made the stanza in (``layout.stanza_marker``, on the volume) *before*
  its first backup starts, so every file from the start of any backup onwards is
  pushed; a missing repository after that is a failure, never a silent skip.
- Otherwise ``pgbackrest archive-push``; a failure exits non-zero, so the server keeps
  the file and tries again.

After every attempt that reached the store, :class:`sdk.ArchiveStatus` is written to
``sdk.ARCHIVE_STATUS``. A success sets ``archived_at`` and ``segment`` and keeps the
last failure's ``failed_at`` and ``error``: ``failed_at`` after ``archived_at`` is an
archive that is failing now, before it one that failed once and recovered.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from metapaas import sdk
from metapaas_postgres.backup.repository import Failed, Repository


def stanza_made(store: Repository) -> bool:
    marker = store.layout.stanza_marker
    return marker.is_file() and marker.read_text(encoding="utf-8").strip() == store.identity()


def mark_stanza(store: Repository) -> None:
    sdk.write_private(store.layout.stanza_marker, store.identity() + "\n")


def archive_push(store: Repository, wal: str) -> None:
    """Push ``wal`` (the server's ``%p``, relative to its data directory) if it is owed."""
    if not store.settings() or not stanza_made(store):
        return
    status = _last_status(store.layout.archive_status_file)
    now = datetime.now(UTC)
    try:
        store.run("archive-push", operands=(wal,))
    except Failed as exc:
        _write(store, status.model_copy(update={"failed_at": now, "error": str(exc)[:2000]}))
        raise
    _write(store, status.model_copy(update={"archived_at": now, "segment": Path(wal).name}))


def _last_status(path: Path) -> sdk.ArchiveStatus:
    try:
        return sdk.ArchiveStatus.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return sdk.ArchiveStatus()


def _write(store: Repository, status: sdk.ArchiveStatus) -> None:
    sdk.write_private(store.layout.archive_status_file, status.model_dump_json())
