"""Backups of a postgres instance through the control plane, against pgBackRest by hand.

A real control plane (`metapaas server`, embedded SQLite, the local provider) with a
filesystem backup repository, and one postgres instance (``source``) whose database ``bench``
is filled by ``pgbench -i -s S`` (server-side generation; ``S`` = 70 times ``--size-gib``, so 70
for 1 GiB; its ``pg_database_size`` is printed). Its policy is continuous, with the schedule
and the drills once a year (``0 3 1 1 *``), so nothing scheduled runs meanwhile. Then:

1. **Backup**: ``POST …/backups`` (full) until its operation is ``SUCCEEDED``, timed from
   the POST, against ``pgbackrest backup`` by hand on the same cluster with the plugin's
   options (``backup_kit.py``: a second stanza and repository, the options read from the
   node's rendered config), its WAL pushed after it. ``--runs`` of each, alternately.
   Each control-plane run is broken down by the times the database and pgBackRest's own
   logs on the node hold: when the step was queued, when its pgBackRest commands ran, when
   its result came back, when the operation ended.
2. **Restore to a new instance**: ``POST`` of an instance with ``"restore": {"from": …,
   "backup": …}`` (the last backup of 1.) until ``ACTIVE``, its rows counted after; against
   ``pgbackrest restore`` of the last by-hand set and ``postgres`` on it until a connection
   finds it out of recovery; and, the floor, an empty instance's POST → ``ACTIVE``. The
   figure is (restore - floor) / by hand. ``--runs`` of each.
3. **Recovery point**: one insert a second into ``source`` for ``--lag-minutes`` (3 by
   default, the issue's; ``--lag-minutes 1`` for a shorter run), ``GET …/recovery-window``
   every 10 s: median and max of ``lag_seconds`` (goal ≤ 60 s, the template's
   ``archive_timeout``).

Every server's Unix socket directory is under the run's temporary directory
(``XDG_RUNTIME_DIR``), which is removed at the end with everything else.

    .venv/bin/python benchmarks/backups.py                       # the issue's: 1 GiB, 3 runs
    .venv/bin/python benchmarks/backups.py --size-gib 0.05 --runs 1 --lag-minutes 0.5
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import backup_kit
import load
import plane_stats
import simkit
from backup_lab import (
    POLL_SECONDS,
    ROWS_PER_SCALE,
    TYPE,
    Lab,
    Source,
    admin,
    make_source,
    start_lab,
    stop_lab,
)
from metapaas_postgres.layout import NodeLayout
from sqlalchemy import select

from metapaas.db import models
from metapaas.testing import wait_for

SAMPLE_SECONDS = 10.0
STEP_TIMEOUT = 3600.0


Marks = backup_kit.Marks


@dataclass(frozen=True)
class PlaneBackup:
    id: str
    seconds: float
    size_bytes: int
    marks: Marks
    server_cpu: float  # seconds of CPU the control plane used meanwhile
    agent_cpu: float  # ... and the node's agent


def utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def plane_backup(lab: Lab, source: Source) -> PlaneBackup:
    posted_at = datetime.now(UTC)
    cpu = cpu_now(lab, source)
    started = time.perf_counter()
    answer = lab.api.post(f"{source.path}/backups", json={"kind": "full"})
    assert answer.status_code == 202, answer.text
    backup_id = answer.json()["backup_id"]
    wait_for(lambda: operation_ended(lab, backup_id), STEP_TIMEOUT, "the backup", POLL_SECONDS)
    seconds = time.perf_counter() - started
    used = tuple(after - before for before, after in zip(cpu, cpu_now(lab, source), strict=True))
    backup = lab.api.get(f"{source.path}/backups/{backup_id}").json()
    marks = backup_marks(lab, source, backup, posted_at)
    marks.append(("the client saw it", posted_at + timedelta(seconds=seconds)))
    return PlaneBackup(backup_id, seconds, int(backup["size_bytes"]), marks, *used)


def cpu_now(lab: Lab, source: Source) -> tuple[float, float]:
    """CPU seconds so far of the control plane's processes and of the source node's agent
    (its own, without the steps it runs)."""
    assert lab.plane.process is not None
    agent = lab.plane.node_pid(source.layout.node_dir.name)
    return plane_stats.group_cpu_seconds(lab.plane.process.pid), load.cpu_seconds(agent)


def operation_ended(lab: Lab, operation_id: str) -> bool:
    operation = lab.api.get(f"/v1/operations/{operation_id}").json()
    if operation["state"] == "FAILED":
        raise AssertionError(f"operation {operation_id} failed: {operation['error']}")
    return bool(operation["state"] == "SUCCEEDED")


def step_rows(lab: Lab, instance_id: str, name: str) -> tuple[models.NodeCommand, datetime]:
    """The instance's last command ``name`` and when its final result came."""
    with lab.read() as session:
        command = session.scalars(
            select(models.NodeCommand)
            .where(models.NodeCommand.instance_id == instance_id, models.NodeCommand.name == name)
            .order_by(models.NodeCommand.created_at.desc())
        ).first()
        assert command is not None
        assert command.result is not None
        assert command.result.finished_at is not None
        return command, utc(command.result.finished_at)


def backup_marks(lab: Lab, source: Source, backup: dict[str, Any], posted_at: datetime) -> Marks:
    instance_id = source.reference.split("/")[1]
    command, reported = step_rows(lab, instance_id, "backup")
    assert command.args["backup"] == backup["id"]
    with lab.read() as session:
        operation = session.get(models.Operation, backup["id"])
        assert operation is not None
        ended = utc(operation.updated_at)
    log_dir = source.layout.backup_dir / "store" / "log"
    logged = backup_kit.logged_commands(log_dir, posted_at)
    made = backup_kit.the(logged, "backup")
    pgbackrest = [
        ("pgbackrest backup began", made.begin),
        *backup_kit.backup_phases(log_dir, made.begin),
        *backup_kit.wal_marks(source.layout, backup["position"]["stop_wal"]),
        ("pgbackrest backup ended", made.end),
    ]
    return [
        ("POST", posted_at),
        ("the step queued", utc(command.created_at)),
        (f"its first pgBackRest command began ({logged[0].command})", logged[0].begin),
        *sorted(pgbackrest, key=lambda mark: mark[1]),
        ("its result reached the control plane", reported),
        ("the operation SUCCEEDED", ended),
    ]


@dataclass(frozen=True)
class BackupRun:
    plane: PlaneBackup
    hand: backup_kit.HandBackup
    hand_size_bytes: int
    hand_server_cpu: float  # seconds of CPU the control plane used during the by-hand run


def hand_backup(
    lab: Lab, source: Source, hand: backup_kit.ByHand
) -> tuple[backup_kit.HandBackup, float]:
    """The by-hand backup and the control plane's CPU meanwhile."""
    before = cpu_now(lab, source)[0]
    made = hand.backup()
    return made, cpu_now(lab, source)[0] - before


def measure_backups(
    lab: Lab, source: Source, hand: backup_kit.ByHand, runs: int
) -> list[BackupRun]:
    """``runs`` of each, alternately, the by-hand one first in odd runs."""
    made = []
    for index in range(runs):
        if index % 2 == 0:
            by_hand, idle = hand_backup(lab, source, hand)
            plane = plane_backup(lab, source)
        else:
            plane = plane_backup(lab, source)
            by_hand, idle = hand_backup(lab, source, hand)
        size = int(hand.sets()[-1]["info"]["repository"]["delta"])
        made.append(BackupRun(plane, by_hand, size, idle))
        print("\n".join(backup_lines(index + 1, made[-1])), flush=True)
    return made


def steps(marks: Marks) -> str:
    """``first → next +Δ s → …``: each mark with the seconds since the one before; a run of
    marks of one name is one (``name xN``, at the last)."""
    runs = [(what, list(group)) for what, group in itertools.groupby(marks, key=lambda m: m[0])]
    collapsed = [
        (what if len(group) == 1 else f"{what} x{len(group)}", group[-1][1]) for what, group in runs
    ]
    parts = [collapsed[0][0]]
    parts += [
        f"{what} +{(at - prior).total_seconds():.2f} s"
        for (_, prior), (what, at) in itertools.pairwise(collapsed)
    ]
    return " → ".join(parts)


def backup_lines(index: int, run: BackupRun) -> Iterator[str]:
    hand, plane = run.hand, run.plane
    yield (
        f"  run {index}: control plane {plane.seconds:.2f} s (POST → SUCCEEDED); "
        f"by hand {hand.seconds:.2f} s (backup {hand.backup_seconds:.2f} s + archive-push of "
        f"{hand.segments} WAL segment(s) {hand.push_seconds:.2f} s); stored "
        f"{plane.size_bytes / 2**20:.1f} / {run.hand_size_bytes / 2**20:.1f} MiB"
    )
    yield f"    control plane: {steps(plane.marks)}"
    yield (
        f"      CPU meanwhile: control plane {plane.server_cpu:.2f} s, the node's agent "
        f"{plane.agent_cpu:.2f} s (control plane during the by-hand run: "
        f"{run.hand_server_cpu:.2f} s)"
    )
    yield f"    by hand: {steps(hand.marks)}"


# -- 2. restores -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Created:
    """One instance POSTed until ``ACTIVE``: its timeline, the client's marks first and last."""

    path: str
    seconds: float
    marks: Marks


@dataclass(frozen=True)
class RestoreRun:
    floor: Created  # an empty instance
    plane: Created  # an instance restored from the control plane's backup
    rows: int  # pgbench_accounts in the restored instance
    hand: float  # pgbackrest restore + postgres until it accepts connections
    hand_restore: float  # ... of which pgbackrest restore


def post_until_active(lab: Lab, body: dict[str, Any]) -> Created:
    """POST ``body``, wait until ``ACTIVE``; the instance's events are its marks."""
    posted_at = datetime.now(UTC)
    started = time.perf_counter()
    created = lab.api.post(TYPE, json=body)
    assert created.status_code == 202, created.text
    path = f"{TYPE}/{created.json()['id']}"
    lab.plane.wait_status(lab.api, path, "ACTIVE", STEP_TIMEOUT)
    seconds = time.perf_counter() - started
    seen = ("the client saw ACTIVE", posted_at + timedelta(seconds=seconds))
    return Created(path, seconds, [("POST", posted_at), *event_marks(lab, path), seen])


def event_marks(lab: Lab, path: str) -> Marks:
    """The instance's events; a command's and a health change's with their message's first
    word (the command, the health it turned from)."""
    events = lab.api.get(f"{path}/events").json()["items"]
    marks = [(event_name(e["kind"], e["message"]), datetime.fromisoformat(e["at"])) for e in events]
    return sorted(marks, key=lambda mark: mark[1])


def event_name(kind: str, message: str) -> str:
    if kind.startswith("command_"):
        return f"{kind}({message.split()[0]})"
    if kind == "health_changed":
        return f"{kind}({message})"
    return kind


def floor_instance(lab: Lab, index: int) -> Created:
    created = post_until_active(lab, {"name": f"empty-{index}"})
    load.delete_instances(lab.api, [created.path])
    return created


def plane_restore(lab: Lab, source: Source, backup_id: str, index: int) -> tuple[Created, int]:
    """The restored instance (its marks with the restore step's) and its rows."""
    restore = {"from": source.reference, "backup": backup_id}
    created = post_until_active(lab, {"name": f"restored-{index}", "restore": restore})
    with admin(lab, created.path, "bench") as connection:
        row = connection.execute("SELECT count(*) FROM pgbench_accounts").fetchone()
    assert row is not None
    step = restore_marks(lab, created.path.rsplit("/", 1)[1], created.marks[0][1])
    marks = sorted([*created.marks, *step], key=lambda mark: mark[1])
    load.delete_instances(lab.api, [created.path])
    return Created(created.path, created.seconds, marks), int(row[0])


def restore_marks(lab: Lab, instance_id: str, posted_at: datetime) -> Marks:
    command, reported = step_rows(lab, instance_id, "restore")
    backup_dir = NodeLayout(lab.node_dir(instance_id)).backup_dir
    logged = backup_kit.logged_commands(backup_dir / "source" / "log", posted_at)
    restored = backup_kit.the(logged, "restore")
    return [
        ("the restore step queued", utc(command.created_at)),
        ("pgbackrest restore began", restored.begin),
        ("pgbackrest restore ended", restored.end),
        *backup_kit.server_marks(backup_dir / "restore-server.log"),
        ("the step's result reached the control plane", reported),
    ]


def hand_restore(
    lab: Lab, source: Source, hand: backup_kit.ByHand, label: str
) -> tuple[float, float]:
    """Seconds of the whole restore by hand, and of its ``pgbackrest restore``; the rows
    are checked."""
    data = lab.tmp / "by-hand-restore" / "pgdata"
    sockets = lab.tmp / "by-hand-sockets"
    backup_kit.remove(data.parent)
    try:
        started = time.perf_counter()
        hand.restore(label, data)
        restored = time.perf_counter()
        with backup_kit.server(lab.bindir, data, sockets) as port:
            backup_kit.wait_primary(source.layout, sockets, port, STEP_TIMEOUT)
            seconds = time.perf_counter() - started
            with backup_kit.superuser(source.layout, sockets, port, "bench") as connection:
                row = connection.execute("SELECT count(*) FROM pgbench_accounts").fetchone()
        assert row is not None
        assert row[0] == source.scale * ROWS_PER_SCALE, row
        return seconds, restored - started
    finally:
        backup_kit.remove(data.parent)


def measure_restores(
    lab: Lab, source: Source, hand: backup_kit.ByHand, backups: Sequence[BackupRun], runs: int
) -> list[RestoreRun]:
    backup_id, label = backups[-1].plane.id, backups[-1].hand.label
    made = []
    for index in range(runs):
        floor = floor_instance(lab, index)
        by_hand, by_hand_restore = hand_restore(lab, source, hand, label)
        plane, rows = plane_restore(lab, source, backup_id, index)
        made.append(RestoreRun(floor, plane, rows, by_hand, by_hand_restore))
        print("\n".join(restore_lines(index + 1, made[-1])), flush=True)
    return made


def restore_lines(index: int, run: RestoreRun) -> Iterator[str]:
    yield (
        f"  run {index}: restored instance {run.plane.seconds:.2f} s (POST → ACTIVE, "
        f"{run.rows} rows); empty instance {run.floor.seconds:.2f} s; by hand {run.hand:.2f} s "
        f"(pgbackrest restore {run.hand_restore:.2f} s + postgres until it accepts "
        f"connections {run.hand - run.hand_restore:.2f} s)"
    )
    yield f"    restored: {steps(run.plane.marks)}"
    yield f"    empty: {steps(run.floor.marks)}"


# -- 3. the recovery point ---------------------------------------------------------------------


def recovery_point(lab: Lab, source: Source, minutes: float) -> list[float]:
    """``lag_seconds`` of the recovery window every 10 s, under one insert a second."""
    lags: list[float] = []
    with admin(lab, source.path, "bench") as connection:
        connection.execute("CREATE TABLE ticks (at timestamptz DEFAULT now())")
        started = time.monotonic()
        next_sample = started
        for second in range(math.ceil(minutes * 60)):
            connection.execute("INSERT INTO ticks DEFAULT VALUES")
            if time.monotonic() >= next_sample:
                window = lab.api.get(f"{source.path}/recovery-window").json()
                lags.append(float(window["lag_seconds"]))
                next_sample += SAMPLE_SECONDS
            time.sleep(max(0.0, started + second + 1 - time.monotonic()))
    return lags


# -- the report --------------------------------------------------------------------------------


def report_backups(runs: Sequence[BackupRun]) -> Iterator[str]:
    plane = statistics.median(r.plane.seconds for r in runs)
    hand = statistics.median(r.hand.seconds for r in runs)
    yield (
        f"backup, median of {len(runs)}: control plane {plane:.2f} s, by hand {hand:.2f} s, "
        f"ratio {plane / hand:.2f}x (goal <= 1.1x)"
    )


def report_restores(runs: Sequence[RestoreRun]) -> Iterator[str]:
    plane = statistics.median(r.plane.seconds for r in runs)
    floor = statistics.median(r.floor.seconds for r in runs)
    hand = statistics.median(r.hand for r in runs)
    yield (
        f"restore, median of {len(runs)}: restored instance {plane:.2f} s, empty instance "
        f"(floor) {floor:.2f} s, by hand {hand:.2f} s; (restore - floor) / by hand = "
        f"{(plane - floor) / hand:.2f}x (goal <= 1.2x); restore / by hand {plane / hand:.2f}x"
    )


def report_lags(lags: Sequence[float], minutes: float) -> Iterator[str]:
    yield (
        f"recovery point, {len(lags)} samples over {minutes:g} min (one insert a second): "
        f"lag_seconds median {statistics.median(lags):.1f} s, max {max(lags):.1f} s "
        f"(goal <= 60 s); samples: {', '.join(f'{lag:.0f}' for lag in lags)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-gib", type=float, default=1.0, help="the database's size")
    parser.add_argument("--runs", type=int, default=3, help="runs of each backup and restore")
    parser.add_argument("--lag-minutes", type=float, default=3.0, help="the write load's length")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="backups-") as name:
        tmp = Path(name)
        os.environ["XDG_RUNTIME_DIR"] = str(tmp / "run")  # every server's socket directory
        lab = start_lab(tmp)
        try:
            run(lab, args)
        finally:
            stop_lab(lab)
    print(f"machine: {load.machine()}")
    print(f"command: {simkit.command()}")


def run(lab: Lab, args: argparse.Namespace) -> None:
    source = make_source(lab, args.size_gib)
    print(
        f"database bench: pg_database_size {source.size_bytes / 2**30:.2f} GiB "
        f"(pgbench -i -s {source.scale}, loaded in {source.load_seconds:.0f} s)",
        flush=True,
    )
    hand = backup_kit.ByHand(
        source.layout, lab.tmp / "by-hand", backup_kit.pgbackrest(source.layout)
    )
    hand.create_stanza()
    backups = measure_backups(lab, source, hand, args.runs)
    print("\n".join(report_backups(backups)), flush=True)
    restores = measure_restores(lab, source, hand, backups, args.runs)
    print("\n".join(report_restores(restores)), flush=True)
    lags = recovery_point(lab, source, args.lag_minutes)
    print("\n".join(report_lags(lags, args.lag_minutes)), flush=True)


if __name__ == "__main__":
    main()
