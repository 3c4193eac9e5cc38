"""``metapaas backups repositories``: where backups are stored, a directory or an S3 bucket
(admins).

An S3 secret access key is read from a file, the environment or a prompt, never from
the command line, where ``ps`` and the shell's history would show it. The server seals
it and never shows it again.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from metapaas.cli.output import (
    Column,
    Format,
    OutputOpt,
    UserError,
    show_list,
    show_one,
    status_console,
)
from metapaas.cli.profiles import connect
from metapaas.client.models import BackupRepository

app = typer.Typer(
    help="Where backups are stored: a directory or an S3 bucket (admins).", no_args_is_help=True
)

SECRET_ENV = "METAPAAS_S3_SECRET_ACCESS_KEY"  # noqa: S105 (the variable's name, not a secret)
NameArg = Annotated[str, typer.Argument(help="The repository's name.")]


def _where(repository: BackupRepository) -> str:
    if repository.kind == "filesystem":
        return repository.path
    return "/".join(p for p in (repository.endpoint, repository.bucket, repository.prefix) if p)


COLUMNS: list[Column] = [
    ("NAME", lambda r: r.name),
    ("KIND", lambda r: r.kind),
    ("WHERE", _where),
    ("STATE", lambda r: r.state),
    ("CHECKED", lambda r: r.checked_at),
    ("REASON", lambda r: r.state_reason),
]


@app.command("list")
def list_repositories(output: OutputOpt = Format.table) -> None:
    """The backup repositories and their last check (never a secret).

    Example: metapaas backups repositories list
    """
    with connect() as api:
        show_list(api.backup_repositories.list().items, output, COLUMNS)


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Lowercase letters, digits and '-'.")],
    path: Annotated[
        str | None,
        typer.Option(help="A directory: an absolute path on the control plane's machine."),
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option(help="S3: the service's host:port, spoken to over HTTPS.")
    ] = None,
    instance: Annotated[
        str | None,
        typer.Option(
            help="S3: PROJECT/INSTANCE, an s3 instance of this control plane, instead of"
            " --endpoint and keys (the control plane follows where it serves)."
        ),
    ] = None,
    bucket: Annotated[str | None, typer.Option(help="S3: the bucket.")] = None,
    prefix: Annotated[str | None, typer.Option(help="S3: a key prefix in the bucket.")] = None,
    region: Annotated[str | None, typer.Option(help="S3: the region [us-east-1].")] = None,
    access_key_id: Annotated[str | None, typer.Option(help="S3: the access key's id.")] = None,
    secret_access_key_file: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help=f"S3: a file holding the secret access key (else {SECRET_ENV}, else a prompt).",
        ),
    ] = None,
    output: OutputOpt = Format.table,
) -> None:
    """Register a repository: a directory (--path), an S3 bucket (--endpoint …), or a
    bucket of an s3 instance of this control plane (--instance). The server writes,
    reads back and deletes a probe object first, and refuses one that fails.

    Example: metapaas backups repositories add local --path /srv/metapaas-backups
    Example: metapaas backups repositories add vault --instance team/vault --bucket backups
    """
    s3 = {
        "endpoint": endpoint,
        "bucket": bucket,
        "prefix": prefix,
        "region": region,
        "access_key_id": access_key_id,
    }
    given = {k: v for k, v in s3.items() if v is not None}
    if path is not None and (given or secret_access_key_file):
        raise typer.BadParameter("a directory takes no S3 option", param_hint="'--path'")
    body: dict[str, Any] = {"name": name}
    if path is not None:
        body |= {"kind": "filesystem", "path": path}
    elif instance is not None:
        body |= {"kind": "s3", "instance": instance, **_of_instance(given)}
    else:
        body |= {"kind": "s3", **_s3(given), "secret_access_key": _secret(secret_access_key_file)}
    with connect() as api:
        show_one(api.backup_repositories.create(body), output)


def _s3(given: dict[str, str]) -> dict[str, str]:
    """The S3 options given, once the ones a bucket needs are there."""
    needed = ("endpoint", "bucket", "access_key_id")
    missing = [f"--{k.replace('_', '-')}" for k in needed if k not in given]
    if len(missing) == len(needed):
        raise typer.BadParameter("give --path, or --endpoint and the bucket's options")
    if missing:
        raise typer.BadParameter(f"an S3 repository needs {', '.join(missing)} too")
    return given


def _of_instance(given: dict[str, str]) -> dict[str, str]:
    """The bucket's options beside --instance, which brings the endpoint and keys."""
    brought = [f"--{k.replace('_', '-')}" for k in ("endpoint", "access_key_id") if k in given]
    if brought:
        raise typer.BadParameter(f"--instance brings its own {', '.join(brought)}")
    if "bucket" not in given:
        raise typer.BadParameter("an S3 repository needs --bucket too")
    return given


def _secret(file: Path | None) -> str:
    """The secret access key: from ``file``, the environment, or asked for on a terminal."""
    if file is not None:
        return file.read_text(encoding="utf-8").strip()
    if from_environment := os.environ.get(SECRET_ENV):
        return from_environment
    if not sys.stdin.isatty():
        raise UserError(
            f"give --secret-access-key-file or set {SECRET_ENV} (no terminal to ask on)"
        )
    return str(typer.prompt("Secret access key", hide_input=True, err=True))


@app.command("remove")
def remove(name: NameArg) -> None:
    """Forget a repository that holds no instance's backups (admins).

    Example: metapaas backups repositories remove local
    """
    with connect() as api:
        api.backup_repositories.delete(name)
    status_console.print(f"removed backup repository {name}")
