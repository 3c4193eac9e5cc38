"""The ``backup``, ``verify`` and ``expire`` steps (``restore`` is in :mod:`.restore`)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from metapaas import sdk
from metapaas_postgres.backup.archive import mark_stanza
from metapaas_postgres.backup.objects import backup_objects
from metapaas_postgres.backup.repository import (
    Failed,
    Repository,
    restorable_from,
    write_password_file,
)
from metapaas_postgres.spec import SUPERUSER_ROLE

PGBACKREST_TYPES = {"full": "full", "incremental": "incr", "snapshot": "full"}
"""A snapshot is a full backup restored to its own end (``--type=immediate``)."""
WAL_NAME_TIMELINE = 8
"""A WAL file name's first 8 hex digits are its timeline."""
WAL_DIR = "pg_wal"
"""What of the cluster's directory a backup does not copy: the archive keeps the WAL."""


def backup(store: Repository, catalogue_id: str, kind: str, progress: Path) -> sdk.BackupReport:
    """Make the stanza if missing, back up online, and report the new set.

    pgBackRest 2.45 tells a running backup's progress only in its text ``info`` (a
    percentage, in a format it may change) and its lock file (internal), not in ``info
    --output=json``: so ``progress`` says the database's size at the start, 0 bytes
    of it done, and the report says what the backup stored at the end.
    """
    if kind not in PGBACKREST_TYPES:
        raise Failed(f"kind {kind!r} is not one of {', '.join(PGBACKREST_TYPES)}")
    store.prepare()
    store.run("stanza-create", f"--pg1-socket-path={store.layout.socket_dir}")
    mark_stanza(store)  # from here on every WAL file is archived (see .archive)
    before = {found["label"] for found in store.backups()}
    total = database_bytes(store.layout.data_dir)
    sdk.write_private(progress, sdk.StepProgress(done_bytes=0, total_bytes=total).model_dump_json())
    store.run(
        "backup",
        f"--type={PGBACKREST_TYPES[kind]}",
        f"--pg1-socket-path={store.layout.socket_dir}",
        f"--annotation=metapaas-backup={catalogue_id}",
    )
    made = [found for found in store.backups() if found["label"] not in before]
    if len(made) != 1:
        raise Failed(f"pgbackrest backup made {len(made)} backup sets, not one")
    told = report(store, made[0], kind)
    # Its end may still be up to a second away: the control plane's window starts there,
    # and a restore refuses a point still to come.
    time.sleep(max(0.0, (told.finished_at - datetime.now(UTC)).total_seconds()))
    return told


def database_bytes(data_dir: Path) -> int:
    """What a full backup of the cluster copies, near enough: its files but the WAL; a
    file removed while they are counted (a temporary one) counts nothing."""
    total = 0
    for root, dirs, files in os.walk(data_dir):
        if Path(root) == data_dir and WAL_DIR in dirs:
            dirs.remove(WAL_DIR)
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def report(store: Repository, made: dict[str, Any], kind: str) -> sdk.BackupReport:
    archive, lsn = made["archive"], made["lsn"]
    return sdk.BackupReport.model_validate(
        {
            "label": made["label"],
            "kind": kind,
            "started_at": _utc(made["timestamp"]["start"]),
            "finished_at": restorable_from(made),
            "size_bytes": made["info"]["repository"]["delta"],
            "objects": backup_objects(store, made["label"]),
            "position": {
                "start_lsn": lsn["start"],
                "stop_lsn": lsn["stop"],
                "timeline": int(archive["start"][:WAL_NAME_TIMELINE], 16),
                "start_wal": archive["start"],
                "stop_wal": archive["stop"],
            },
            "depends_on": made["prior"] or "",
        }
    )


def verify(source: Repository, amcheck: Path, host: str, port: int, label: str) -> sdk.VerifyReport:
    """pg_amcheck on every database of the restored server, then the set's digests as
    the source holds them now."""
    source.backup(label)
    write_password_file(source.layout)
    argv = [str(amcheck), "--all", "--install-missing", "--no-password"]
    argv += [f"--host={host}", f"--port={port}", f"--username={SUPERUSER_ROLE}"]
    env = {**os.environ, "PGPASSFILE": str(source.layout.password_file)}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        raise Failed(f"pg_amcheck found corruption or could not check: {output[-3000:]}")
    verdict = "pg_amcheck --all: no corruption found in any database"
    check = f"{verdict}\n{output}" if output else verdict
    return sdk.VerifyReport(objects=backup_objects(source, label), check=check[-4000:])


def expire(store: Repository, label: str) -> dict[str, list[str]]:
    """Expire ``label`` and what depends on it; report every set that went."""
    before = {found["label"] for found in store.backups()}
    if label not in before:
        raise Failed(f"the repository holds no backup {label!r}")
    store.run("expire", f"--set={label}")
    after = {found["label"] for found in store.backups()}
    return {"expired": sorted(before - after)}


def _utc(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
