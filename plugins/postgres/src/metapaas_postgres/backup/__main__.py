"""``python -m metapaas_postgres.backup``: the command line of the backup steps."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pydantic import BaseModel

from metapaas import sdk
from metapaas_postgres.backup import archive, restore, steps
from metapaas_postgres.backup.repository import Failed, Repository
from metapaas_postgres.layout import NodeLayout


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python -m metapaas_postgres.backup")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--pgbackrest", required=True, help="the pgBackRest binary")
    common.add_argument("--node-dir", type=Path, required=True)
    result = argparse.ArgumentParser(add_help=False, parents=[common])
    result.add_argument("--result", type=Path, required=True, help="where the report goes")
    server = argparse.ArgumentParser(add_help=False)
    server.add_argument("--bindir", type=Path, required=True)
    commands = main.add_subparsers(dest="step", required=True)
    made = commands.add_parser("backup", parents=[result])
    made.add_argument("--backup", required=True, help="the control plane's id of it")
    made.add_argument("--kind", required=True)
    made.add_argument("--progress", type=Path, required=True, help="where it tells how far")
    restored = commands.add_parser("restore", parents=[result, server])
    restored.add_argument("--label", default="")
    restored.add_argument("--point-in-time", default="")
    verified = commands.add_parser("verify", parents=[result, server])
    verified.add_argument("--host", required=True)
    verified.add_argument("--port", type=int, required=True)
    verified.add_argument("--label", required=True)
    commands.add_parser("expire", parents=[result]).add_argument("--label", required=True)
    commands.add_parser("archive-push", parents=[common]).add_argument("wal")
    return main


def run(args: argparse.Namespace) -> BaseModel | dict[str, list[str]] | None:
    layout = NodeLayout(args.node_dir)
    store = Repository(layout, "store", args.pgbackrest)
    source = Repository(layout, "source", args.pgbackrest)
    if args.step == "archive-push":
        archive.archive_push(store, args.wal)
        return None
    if args.step == "backup":
        return steps.backup(store, args.backup, args.kind, args.progress)
    if args.step == "restore":
        return restore.restore(source, args.bindir, args.label, args.point_in_time)
    if args.step == "verify":
        amcheck = args.bindir / "pg_amcheck"
        return steps.verify(source, amcheck, args.host, args.port, args.label)
    return steps.expire(store, args.label)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        told = run(args)
    except Failed as exc:
        return failed(args.step, str(exc))
    except Exception as exc:  # a bug, or the machine (a binary missing, a disk full): one line too
        return failed(args.step, f"{type(exc).__name__}: {exc}")
    if told is not None:
        data = told.model_dump_json() if isinstance(told, BaseModel) else json.dumps(told)
        sdk.write_private(args.result, data)
    return 0


def failed(step: str, reason: str) -> int:
    """The step's last line, which the control plane shows as its reason: one sentence."""
    print(f"{step} failed: {' '.join(reason.split())}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
