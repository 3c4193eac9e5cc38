"""The backup steps against the real server and the real pgBackRest, without a control
plane: backups into a filesystem repository under ``tmp_path``, WAL archiving, restores
to a time, a set and the latest point onto new node directories, verify and expire.

Each step runs as the agent runs it: the type's declared argv, rendered with
``{{ command.args }}`` and ``{{ command.result }}`` by the agent's own command
runner. Every server binds 127.0.0.1 only and is stopped by the fixture that started it.
"""

from __future__ import annotations

import configparser
import hashlib
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from metapaas_postgres import Postgres, applier
from metapaas_postgres.backup.repository import Repository
from metapaas_postgres.layout import NodeLayout

from metapaas import sdk
from metapaas.agent import snapshots
from metapaas.agent.commands import CommandRunner
from metapaas.testing import free_port, instance_view, render_argv, wait_for, write_node

POSTGRES = Postgres()
VERSION = Postgres.versions[-1]
BINDIR = Path(str(VERSION.engine["bindir"]))
ADMIN_PASSWORD = "admin-password-123"

pytestmark = pytest.mark.skipif(
    not (BINDIR / "postgres").exists() or shutil.which("pgbackrest") is None,
    reason=f"no PostgreSQL server in {BINDIR} or no pgbackrest",
)


@dataclass
class Step:
    """What one backup step did: its exit code, output and JSON report, and the progress
    the agent would have sent while it ran."""

    name: str
    code: int
    output: str
    report: dict[str, Any] = field(default_factory=dict)
    progress: list[sdk.StepProgress] = field(default_factory=list)


@dataclass
class Node:
    """A node directory, its backup store and source, and its launcher once started."""

    layout: NodeLayout
    port: int
    store: dict[str, Any] | None = None
    source: dict[str, Any] | None = None
    launcher: subprocess.Popen[bytes] | None = None
    context: dict[str, Any] = field(default_factory=dict)

    def write(self) -> None:
        view = instance_view(
            POSTGRES,
            {"admin_password": ADMIN_PASSWORD},
            resources={"databases": [{"name": "shop"}], "roles": []},
            name="pg",
            version=VERSION.name,
        )
        backup = {"store": self.store, "source": self.source}
        self.context = write_node(
            POSTGRES, view, self.layout.node_dir, {"postgres": self.port}, backup=backup
        )

    def start(self) -> None:
        (service,) = POSTGRES.data_plane("main", VERSION).services
        self.launcher = subprocess.Popen(
            render_argv(service.argv, self.context), start_new_session=True
        )
        applier.wait_for_server(self.superuser, 30)
        assert self.apply() == 0, "the node's applier logs in and applies its state"

    def apply(self) -> int:
        argv = [f"--node-dir={self.layout.node_dir}", "--host=127.0.0.1", f"--port={self.port}"]
        return applier.main([*argv, "--wait=30"])

    def superuser(self, database: str = "shop") -> psycopg.Connection[Any]:
        return applier.connector(self.layout, "127.0.0.1", self.port)(database)

    def sql(self, statement: str) -> list[tuple[Any, ...]]:
        with self.superuser() as conn:
            cursor = conn.execute(statement)
            return cursor.fetchall() if cursor.description else []

    def step(self, name: str, **args: str) -> Step:
        """Run the declared command ``name`` as the agent does: its own command runner,
        with the agent's part around it (none: pgBackRest stores the backups itself)."""
        commands = POSTGRES.data_plane("main", VERSION).commands
        progress: list[sdk.StepProgress] = []
        done = CommandRunner(self.layout.node_dir).run(
            f"{name}-{uuid.uuid4().hex}",
            name,
            commands,
            self.context,
            args=args,
            timeout=300,
            on_progress=progress.append,
            around=snapshots.around_for(POSTGRES, name, args, self.context["backup"]),
        )
        assert done.exit_code is not None, done.output  # it ended, not killed at the timeout
        return Step(name, done.exit_code, done.output, done.result or {}, progress)

    def backup(self, catalogue_id: str, kind: str) -> sdk.BackupReport:
        made = self.step("backup", backup=catalogue_id, kind=kind)
        assert made.code == 0, made.output
        return sdk.BackupReport.model_validate(made.report)

    def archived(self) -> sdk.ArchiveStatus:
        path = self.layout.node_dir / sdk.ARCHIVE_STATUS
        return sdk.ArchiveStatus.model_validate_json(path.read_bytes())

    def switch_wal(self) -> str:
        """End the current WAL file (after a write, so there is one) and wait until the
        archive step reports it archived."""
        self.sql("CREATE TABLE IF NOT EXISTS ticks (at timestamptz DEFAULT now())")
        self.sql("INSERT INTO ticks DEFAULT VALUES")
        ((segment,),) = self.sql("SELECT pg_walfile_name(pg_switch_wal())")
        wait_for(lambda: self._archived_name() >= segment, 30, f"{segment} archived")
        return str(segment)

    def _archived_name(self) -> str:
        try:
            return self.archived().segment
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.launcher is not None and self.launcher.poll() is None:
            self.launcher.send_signal(signal.SIGTERM)
            self.launcher.wait(30)


def filesystem_store(root: Path, instance: str, *, continuous: bool = True) -> dict[str, Any]:
    repository = {"kind": "filesystem", "path": str(root)}
    store = {"repository": repository, "path": f"/metapaas/{instance}", "key": f"key-{instance}"}
    return {**store, "continuous": continuous}


def as_source(store: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in store.items() if name != "continuous"}


def stored_dir(store: dict[str, Any]) -> Path:
    return Path(store["repository"]["path"]) / store["path"].lstrip("/")


@pytest.fixture(scope="module", autouse=True)
def own_cache_and_sockets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Cluster templates and socket directories of this module's own, not the user's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        patch.setenv("XDG_RUNTIME_DIR", str(tmp_path_factory.mktemp("run")))
        yield


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's root, made by the control plane once."""
    return tmp_path_factory.mktemp("repository")


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Node]]:
    """Makes node directories, written with the store and source given; stops every
    launcher started at the end of the module."""
    made: list[Node] = []
    root = tmp_path_factory.mktemp("nodes")

    def make(name: str, store: Any = None, source: Any = None) -> Node:
        node = Node(NodeLayout(root / name), free_port(), store=store, source=source)
        node.layout.node_dir.mkdir()
        node.write()
        made.append(node)
        return node

    yield make
    for node in made:
        node.stop()


@pytest.fixture(scope="module")
def primary(nodes: Callable[..., Node], repository: Path) -> Node:
    """The instance the module backs up; its store is continuous."""
    node = nodes("primary", store=filesystem_store(repository, "primary"))
    node.start()
    node.sql("CREATE TABLE items (id int PRIMARY KEY)")
    node.sql("INSERT INTO items SELECT generate_series(1, 10)")
    return node


@pytest.fixture(scope="module")
def full_step(primary: Node) -> Step:
    made = primary.step("backup", backup="b-1", kind="full")
    assert made.code == 0, made.output
    return made


@pytest.fixture(scope="module")
def full(full_step: Step) -> sdk.BackupReport:
    return sdk.BackupReport.model_validate(full_step.report)


@dataclass(frozen=True)
class Idle:
    """An instance backed up twice with nothing committed since before the first; the
    module's last test expires the older backup."""

    node: Node
    older: sdk.BackupReport
    newer: sdk.BackupReport


@pytest.fixture(scope="module")
def idle(nodes: Callable[..., Node], repository: Path) -> Idle:
    node = nodes("idle", store=filesystem_store(repository, "idle"))
    node.start()
    node.sql("CREATE TABLE items AS SELECT 1 AS id")
    return Idle(node, node.backup("b-1", "full"), node.backup("b-2", "full"))


def restored(
    nodes: Callable[..., Node], name: str, source: Node, **target: str
) -> tuple[Node, sdk.RestoreReport]:
    """A new node restored from ``source``'s store to ``target``, then started."""
    assert source.store is not None
    node = nodes(name, source=as_source(source.store))
    done = node.step("restore", **{"label": "", "point_in_time": "", **target})
    assert done.code == 0, done.output
    auto = (node.layout.data_dir / "postgresql.auto.conf").read_text()
    assert "restore_command" not in auto, "no recovery settings are left behind"
    node.start()
    return node, sdk.RestoreReport.model_validate(done.report)


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def fails(step: Step) -> str:
    """The reason a step failed: its output's last line, one sentence, never a traceback."""
    assert step.code != 0, step.output
    assert step.report == {}
    assert "Traceback" not in step.output, step.output
    reason = step.output.strip().splitlines()[-1]
    assert reason.startswith(f"{step.name} failed: "), step.output
    return reason


def test_an_s3_store_renders_pgbackrests_s3_options_and_its_ca(tmp_path: Path) -> None:
    repository = {
        "kind": "s3",
        "endpoint": "127.0.0.1:9000",
        "bucket": "backups",
        "region": "eu-1",
        "access_key_id": "AKID",
        "secret_access_key": "SECRET",
        "ca_certificate": "-----BEGIN CERTIFICATE-----\n...\n",
    }
    store = {"repository": repository, "path": "/metapaas/i-1", "key": "k", "continuous": False}
    node = Node(NodeLayout(tmp_path / "node"), 40001, store=store)
    node.write()
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(node.layout.config("store"))
    options = dict(parser["global"])
    ca_file = node.layout.node_dir.resolve() / "conf" / "pgbackrest-store-ca.pem"
    assert options["repo1-storage-ca-file"] == str(ca_file)
    assert {
        name: options[name]
        for name in ("repo1-type", "repo1-s3-endpoint", "repo1-storage-port", "repo1-path")
    } == {
        "repo1-type": "s3",
        "repo1-s3-endpoint": "127.0.0.1",
        "repo1-storage-port": "9000",
        "repo1-path": "/metapaas/i-1",
    }
    assert options["repo1-s3-uri-style"] == "path"
    assert options["repo1-storage-verify-tls"] == "y"
    assert ca_file.read_text() == repository["ca_certificate"]
    assert ca_file.stat().st_mode & 0o077 == 0, "the configs hold the key: the owner's only"
    assert "[global]" not in node.layout.config("source").read_text(), "no source, no repository"
    server = (node.layout.config_file).read_text()
    assert "archive_timeout = 0" in server, "not continuous: no segment forced each minute"


def test_a_full_backup_reports_its_set_and_the_digest_of_every_stored_file(
    primary: Node, full: sdk.BackupReport
) -> None:
    assert full.kind == "full"
    assert full.depends_on == ""
    assert full.started_at <= full.finished_at
    assert full.size_bytes > 0
    assert full.position["timeline"] == 1
    assert {"start_lsn", "stop_lsn", "start_wal", "stop_wal"} <= set(full.position)
    assert primary.store is not None
    instance_dir = stored_dir(primary.store)
    on_disk = {
        str(path.relative_to(instance_dir)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in (instance_dir / "backup" / "main" / full.label).rglob("*")
        if path.is_file()
    }
    assert full.objects == on_disk
    assert f"backup/main/{full.label}/backup.manifest" in full.objects
    assert any(name.startswith(f"backup/main/{full.label}/pg_data/") for name in full.objects)


def test_a_running_backup_tells_the_size_of_the_database_it_reads(
    primary: Node, full_step: Step, full: sdk.BackupReport
) -> None:
    """pgBackRest 2.45 has no progress in its JSON: the step tells the size at the start."""
    (told,) = full_step.progress
    store = Repository(primary.layout, "store", shutil.which("pgbackrest") or "pgbackrest")
    read = store.backup(full.label)["info"]["size"]
    assert told.done_bytes == 0
    assert 0.9 * read <= told.total_bytes <= 1.1 * read, (told, read)


def test_restores_to_a_time_and_to_the_latest_point(
    primary: Node, full: sdk.BackupReport, nodes: Callable[..., Node]
) -> None:
    primary.sql("INSERT INTO items SELECT generate_series(11, 20)")
    time.sleep(0.5)
    ((point,),) = primary.sql("SELECT clock_timestamp()")
    time.sleep(0.5)
    primary.sql("INSERT INTO items SELECT generate_series(21, 30)")
    primary.sql("DROP TABLE items")
    primary.sql("CREATE TABLE after_the_drop AS SELECT 1 AS id")
    primary.switch_wal()

    at_time, told = restored(nodes, "at-time", primary, point_in_time=point.isoformat())
    assert (told.label, told.point) == (full.label, point)
    assert at_time.sql("SELECT count(*), max(id) FROM items") == [(20, 20)]
    assert at_time.sql("SELECT to_regclass('after_the_drop')") == [(None,)]
    assert at_time.sql("SELECT rolname FROM pg_roles WHERE rolname = 'admin'") == [("admin",)]

    latest, told = restored(nodes, "latest", primary)
    assert told.label == full.label
    assert latest.sql("SELECT to_regclass('items')") == [(None,)], "the drop was committed"
    assert latest.sql("SELECT id FROM after_the_drop") == [(1,)]


def test_a_restore_to_the_end_of_a_backup_has_the_data_it_ended_with(
    primary: Node, full: sdk.BackupReport, nodes: Callable[..., Node]
) -> None:
    """The recovery window's earliest point is the oldest backup's ``finished_at``."""
    primary.sql("CREATE TABLE after_the_end AS SELECT 1 AS id")
    primary.switch_wal()
    point = full.finished_at.isoformat()
    at_end, told = restored(nodes, "at-end", primary, point_in_time=point)
    assert (told.label, told.point) == (full.label, full.finished_at)
    assert at_end.sql("SELECT count(*) FROM items") == [(10,)]
    assert at_end.sql("SELECT to_regclass('after_the_end')") == [(None,)]


def test_a_point_between_two_backups_of_an_idle_instance_restores_from_the_older(
    idle: Idle, nodes: Callable[..., Node]
) -> None:
    """Recovery finds no record after the point, and goes to the end of the archived WAL."""
    point = idle.older.finished_at + (idle.newer.started_at - idle.older.finished_at) / 2
    between, told = restored(nodes, "between", idle.node, point_in_time=point.isoformat())
    assert (told.label, told.point) == (idle.older.label, point)
    assert between.sql("SELECT id FROM items") == [(1,)]


def test_the_latest_point_of_an_idle_instances_window_restores(
    idle: Idle, nodes: Callable[..., Node]
) -> None:
    """The window ends at the newest backup's end or, later, the last archived segment."""
    archived_at = idle.node.archived().archived_at
    assert archived_at is not None
    latest = max(idle.newer.finished_at, archived_at)
    at_latest, told = restored(nodes, "idle-latest", idle.node, point_in_time=latest.isoformat())
    assert (told.label, told.point) == (idle.newer.label, latest)
    assert at_latest.sql("SELECT id FROM items") == [(1,)]


def test_an_incremental_backup_depends_on_the_full_one(
    primary: Node, full: sdk.BackupReport
) -> None:
    primary.sql("CREATE TABLE IF NOT EXISTS more (id int)")
    primary.sql("INSERT INTO more SELECT generate_series(1, 1000)")
    report = primary.backup("b-2", "incremental")
    assert report.kind == "incremental"
    assert report.depends_on == full.label
    assert report.label != full.label
    assert report.size_bytes < full.size_bytes


def test_a_flipped_byte_in_a_stored_object_changes_exactly_its_digest_and_fails_a_restore(
    nodes: Callable[..., Node], repository: Path
) -> None:
    source = nodes("flipped", store=filesystem_store(repository, "flipped"))
    source.start()
    source.sql("CREATE TABLE items AS SELECT generate_series(1, 100) AS id")
    report = source.backup("b-1", "full")
    drill, _ = restored(nodes, "drill", source, label=report.label)
    verified = drill.step("verify", label=report.label)
    assert verified.code == 0, verified.output
    assert sdk.VerifyReport.model_validate(verified.report).objects == report.objects
    assert source.store is not None
    relation = next(n for n in sorted(report.objects) if "/pg_data/base/" in n)
    flip_a_byte(stored_dir(source.store) / relation)

    verified = drill.step("verify", label=report.label)
    assert verified.code == 0, verified.output
    now = sdk.VerifyReport.model_validate(verified.report).objects
    assert {name for name in report.objects if now[name] != report.objects[name]} == {relation}
    assert "no corruption" in verified.report["check"], "the restored copy itself is sound"

    again = nodes("again", source=as_source(source.store))
    # pgBackRest 2.45 says what failed (the file does not decompress), not which file.
    assert "pgbackrest restore: ERROR:" in fails(
        again.step("restore", label=report.label, point_in_time="")
    )
    assert not again.layout.data_dir.exists()


def test_an_unreachable_repository_is_recorded_as_a_failed_archive_until_it_returns(
    primary: Node, full: sdk.BackupReport
) -> None:
    assert primary.store is not None
    instance_dir = stored_dir(primary.store)
    primary.switch_wal()
    before = primary.archived()
    assert before.archived_at is not None
    away = instance_dir.with_name("away")
    instance_dir.rename(away)
    try:
        primary.sql("INSERT INTO ticks DEFAULT VALUES")
        primary.sql("SELECT pg_switch_wal()")
        failed = wait_for(lambda: primary.archived().failed_at, 30, "a failed archive")
        status = primary.archived()
        assert status.archived_at == before.archived_at
        assert "archive-push" in status.error
    finally:
        away.rename(instance_dir)
    primary.switch_wal()
    status = primary.archived()
    assert status.archived_at is not None
    assert status.archived_at > failed, "archiving resumed where it stopped"
    assert status.failed_at == failed, "the last failure is kept"


@pytest.mark.parametrize(
    ("hours", "reason"),
    [
        pytest.param(
            -24 * 365,
            "before the end of the oldest backup",
            id="a point before the oldest backup ends is refused",
        ),
        pytest.param(1, "is still to come", id="a point still to come is refused"),
    ],
)
def test_a_point_outside_what_the_repository_holds_fails_and_leaves_no_cluster(
    primary: Node, full: sdk.BackupReport, nodes: Callable[..., Node], hours: int, reason: str
) -> None:
    assert primary.store is not None
    point = datetime.now(UTC) + timedelta(hours=hours)
    node = nodes(f"outside-{hours}", source=as_source(primary.store))
    output = fails(node.step("restore", label="", point_in_time=point.isoformat()))
    assert reason in output
    assert not node.layout.data_dir.exists()
    assert not node.layout.restore_dir.exists()


def test_expiring_the_older_full_backup_leaves_the_newer_restorable(
    idle: Idle, nodes: Callable[..., Node]
) -> None:
    source, older, newer = idle.node, idle.older.label, idle.newer.label
    expired = source.step("expire", label=older)
    assert expired.code == 0, expired.output
    assert expired.report == {"expired": [older]}
    assert source.store is not None
    assert not (stored_dir(source.store) / "backup" / "main" / older).exists()
    assert "cannot be expired" in fails(source.step("expire", label=newer))

    copy, told = restored(nodes, "after-expire", source, label=newer)
    assert told.label == newer
    assert copy.sql("SELECT id FROM items") == [(1,)]
