"""The agent's part of the backups of a type whose snapshots it stores.

For a type declaring ``sdk.Backups(stored_by="agent")`` the type's steps touch no
repository (``sdk._backups`` says what each step does): around them, the agent
seals and uploads what ``backup`` staged, downloads and opens a backup into the
staging directory before ``restore``, hashes and opens a backup's objects for
``verify``, and runs ``expire`` alone. Each is a :data:`commands.Around`, so it
is journalled with the command and runs at most once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from metapaas.agent.commands import Around, CommandResult, Execute, Progress
from metapaas.repositories import (
    Repository,
    RepositoryError,
    StoredObject,
    checked_key,
    open_file,
    open_repository,
    open_stream,
    seal_file,
)
from metapaas.sdk import (
    BackupReport,
    PaasType,
    PluginError,
    RestoreReport,
    StepProgress,
    VerifyReport,
    sha256_of,
)
from metapaas.sdk.introspect import BACKUP_STEP, EXPIRE_STEP, RESTORE_STEP, VERIFY_STEP


@dataclasses.dataclass(frozen=True)
class Place:
    """``backup.store`` or ``backup.source`` of the metadata: a directory of a repository."""

    repository: Mapping[str, Any]
    path: str
    """The instance's directory in the repository, as a key prefix (no leading ``/``)."""
    key: str
    """The instance's passphrase, which seals its objects."""

    @classmethod
    def of(cls, backup: Mapping[str, Any], which: Literal["store", "source"]) -> Place:
        place = backup.get(which)
        if not place:
            raise RepositoryError(f"the node's metadata has no backup {which}")
        return cls(place["repository"], str(place["path"]).strip("/"), str(place["key"]))

    def prefix(self, label: str) -> str:
        """Where the objects of backup ``label`` are."""
        return f"{self.path}/{label}" if self.path else label

    def relative(self, stored: StoredObject) -> str:
        """An object's key under the instance's directory, as reports name it."""
        return stored.key.removeprefix(f"{self.path}/") if self.path else stored.key


@dataclasses.dataclass(frozen=True)
class Request:
    """What a step is asked: its args and the metadata's ``backup``; and where it tells
    how far it is."""

    args: Mapping[str, Any]
    backup: Mapping[str, Any]
    progress: Progress

    def label(self) -> str:
        return one_backup(self.args.get("label"), "args label")


def one_backup(label: object, what: str) -> str:
    """``label`` when it names one backup: one path segment, the directory of its objects."""
    text = str(label or "")
    if not text or "/" in text:
        raise RepositoryError(f"{what} must name one backup, not {text!r}")
    return checked_key(text)


Step = Callable[[Request, Execute, Path], CommandResult]


def around_for(
    declaration: PaasType, name: str, args: Mapping[str, Any], backup: Mapping[str, Any]
) -> Around | None:
    """The agent's work around command ``name``; None when it does none (a type that
    keeps no backups or stores them itself, a command that is no backup step)."""
    backups = declaration.backups
    step = STEPS.get(name)
    if backups is None or backups.stored_by != "agent" or step is None:
        return None

    def around(execute: Execute, staging: Path, progress: Progress) -> CommandResult:
        ran: list[CommandResult] = []

        def execute_once() -> CommandResult:
            ran.append(execute())
            return ran[-1]

        try:
            return step(Request(args, backup, progress), execute_once, staging)
        except (PluginError, OSError, ValidationError) as exc:
            # The type's step may have run: its output stays, the agent's part follows.
            before = ran[-1] if ran else CommandResult("failed")
            note = f"[the agent's part of {name} failed: {exc}]"
            output = f"{before.output}\n{note}" if before.output else note
            return CommandResult("failed", before.exit_code, output)

    return around


def backup(request: Request, execute: Execute, staging: Path) -> CommandResult:
    store = Place.of(request.backup, "store")
    started = _now()
    ran = execute()
    if ran.state != "succeeded":
        return ran
    told = dict(ran.result or {})
    label = one_backup(told.get("label") or request.args.get("backup"), "the backup's label")
    with open_repository(store.repository) as repository:
        try:
            objects, size = _upload(repository, store, label, staging, request.progress)
            report = {"started_at": started, **told, "label": label, "kind": "snapshot"}
            report |= {"finished_at": _now(), "objects": objects, "size_bytes": size}
            result = BackupReport.model_validate(report).model_dump(mode="json")
        except BaseException:
            # No half of a backup is left to look like one; a repository that is away
            # keeps it, and the control plane's expiry of the failed backup takes it.
            with contextlib.suppress(RepositoryError):
                repository.delete(store.prefix(label))
            raise
    return _told(ran, result)


def _upload(
    repository: Repository, store: Place, label: str, staging: Path, progress: Progress
) -> tuple[dict[str, str], int]:
    """Seal and store every staged file, telling after each how many of the staged bytes
    are stored; their sha256 as stored by key, and bytes stored."""
    staged = {path: path.stat().st_size for path in sorted(staging.rglob("*")) if path.is_file()}
    if not staged:
        raise RepositoryError("the backup step staged no files")
    total, done = sum(staged.values()), 0
    progress(StepProgress(done_bytes=done, total_bytes=total))
    objects: dict[str, str] = {}
    size = 0
    for path, plain_bytes in staged.items():
        key = f"{label}/{path.relative_to(staging).as_posix()}"
        with _scratch(staging) as sealed:
            seal_file(path, sealed, store.key)
            repository.put(store.prefix(key), sealed)
            objects[key] = sha256_of(sealed)
            size += sealed.stat().st_size
        done += plain_bytes
        progress(StepProgress(done_bytes=done, total_bytes=total))
    return objects, size


def restore(request: Request, execute: Execute, staging: Path) -> CommandResult:
    source, label = Place.of(request.backup, "source"), request.label()
    with open_repository(source.repository) as repository:
        for stored, sealed in _downloaded(repository, source, label, staging):
            name = stored.key.removeprefix(f"{source.prefix(label)}/")
            open_file(sealed, staging / name, source.key, name=stored.key)
    ran = execute()
    if ran.state != "succeeded":
        return ran
    report = RestoreReport.model_validate({"label": label, **(ran.result or {})})
    return _told(ran, report.model_dump(mode="json"))


def verify(request: Request, execute: Execute, staging: Path) -> CommandResult:
    source, label = Place.of(request.backup, "source"), request.label()
    objects: dict[str, str] = {}
    with open_repository(source.repository) as repository:
        for stored, sealed in _downloaded(repository, source, label, staging):
            objects[source.relative(stored)] = sha256_of(sealed)
            # Opened, not only hashed: a changed object fails here, by its name.
            with sealed.open("rb") as data, open(os.devnull, "wb") as sink:
                open_stream(data, sink, source.key, name=stored.key)
    ran = execute()
    if ran.state != "succeeded":
        return ran
    told = {"check": ran.output.strip()[-4000:], **(ran.result or {}), "objects": objects}
    return _told(ran, VerifyReport.model_validate(told).model_dump(mode="json"))


def expire(request: Request, execute: Execute, staging: Path) -> CommandResult:
    """The agent's alone: the type's ``execute`` is never run."""
    store, label = Place.of(request.backup, "store"), request.label()
    with open_repository(store.repository) as repository:
        deleted = repository.delete(store.prefix(label))
    return CommandResult("succeeded", output=f"deleted {deleted} objects of backup {label}")


STEPS: Mapping[str, Step] = {
    BACKUP_STEP: backup,
    RESTORE_STEP: restore,
    VERIFY_STEP: verify,
    EXPIRE_STEP: expire,
}


def _downloaded(
    repository: Repository, place: Place, label: str, staging: Path
) -> Iterator[tuple[StoredObject, Path]]:
    """Each object of backup ``label``, downloaded as stored (sealed) to a scratch file
    that is removed once the caller moves on."""
    stored = repository.list(place.prefix(label))
    if not stored:
        raise RepositoryError(f"{repository.description} holds no backup {place.prefix(label)}")
    for one in stored:
        with _scratch(staging) as sealed:
            repository.get(one.key, sealed)
            yield one, sealed


@contextlib.contextmanager
def _scratch(staging: Path) -> Iterator[Path]:
    """A file path beside the staging directory (same disk, never among its files),
    removed after the block."""
    fd, name = tempfile.mkstemp(dir=staging.parent, prefix=f".{staging.name}.", suffix=".sealed")
    os.close(fd)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def _told(ran: CommandResult, result: dict[str, Any]) -> CommandResult:
    return dataclasses.replace(ran, result=result)


def _now() -> datetime:
    return datetime.now(UTC)
