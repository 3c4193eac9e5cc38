"""The agent stores the snapshots of a type that says ``stored_by="agent"``: a fake type
whose steps are tiny scripts, a directory repository, real nodes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel

from metapaas.agent.commands import CommandResult
from metapaas.agent.node import Node
from metapaas.agent.progress import READ_EVERY
from metapaas.sdk import Backups, Command, DataPlane, PaasType, Version, sha256_of

from .helpers import FakeClock, Recorder, metadata, python

KEY = "instance-passphrase-0123456789abcdef"
DUMP = b"REDIS0011" + bytes(range(256)) * 40
STAGE = python(
    "import json, pathlib, sys; s = pathlib.Path(sys.argv[1]); (s / 'sub').mkdir();"
    f" (s / 'dump.rdb').write_bytes({DUMP!r}); (s / 'sub' / 'extra').write_text('x');"
    " pathlib.Path(sys.argv[2]).write_text(json.dumps({'position': {'keys': 3}}))",
    "{{ backup.staging }}",
    "{{ command.result }}",
)
PUT_IN_PLACE = python(
    "import shutil, sys; shutil.copytree(sys.argv[1], 'restored')", "{{ backup.staging }}"
)
CHECK = python("print('3 keys, as the backup recorded')")
FAIL = python("import sys; print('no space left for the dump'); sys.exit(4)")
STAGE_NOTHING = python("pass")
STEPS = (Command("backup", STAGE), Command("restore", PUT_IN_PLACE), Command("verify", CHECK))


class Snapshots(PaasType):
    slug = "demo"
    title = "Demo"
    versions: ClassVar = [Version("1.0", default=True)]
    spec = BaseModel
    backups = Backups(role="main", methods=("snapshot",), consistency="one moment")

    def __init__(self, commands: tuple[Command, ...]) -> None:
        self.commands = commands

    def data_plane(self, role: str, version: Version) -> DataPlane:
        return DataPlane(commands=self.commands)


class EngineStored(Snapshots):
    backups = Backups(role="main", methods=("snapshot",), consistency="", stored_by="engine")


MakeNode = Callable[..., tuple[Node, Recorder]]


@pytest.fixture
def make_node(tmp_path: Path, clock: FakeClock) -> Iterator[MakeNode]:
    """A node in ``tmp_path/<name>`` of a type with ``commands``."""
    made: list[Node] = []

    def make(name: str, commands: tuple[Command, ...] = STEPS, kind: type = Snapshots) -> Any:
        recorder = Recorder()
        node = Node(tmp_path / name, recorder, load=lambda slug: kind(commands), clock=clock)
        made.append(node)
        return node, recorder

    yield make
    for node in made:
        node.stop()


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    root = tmp_path / "repository"
    root.mkdir()
    return root


def document(repository: Path, name: str, **args: str) -> dict[str, Any]:
    """A metadata document asking for one command of the backups, with a store and a source
    in the instance's own directory of ``repository``."""
    place = {
        "repository": {"kind": "filesystem", "path": str(repository)},
        "path": "/instances/1a2b3c4d",
        "key": KEY,
    }
    return {
        **metadata(),
        "backup": {"store": {**place, "continuous": False}, "source": place},
        "commands": [{"id": f"{name}-1", "name": name, "args": args}],
    }


def run(node: Node, recorder: Recorder, doc: dict[str, Any]) -> CommandResult:
    node.handle(doc)
    return recorder.results[doc["commands"][0]["id"]]


def backed_up(make_node: MakeNode, repository: Path) -> dict[str, Any]:
    node, recorder = make_node("primary")
    done = run(node, recorder, document(repository, "backup", backup="b1", kind="snapshot"))
    assert done.state == "succeeded", done.output
    assert done.result is not None
    return done.result


def test_a_backup_is_sealed_uploaded_and_reported_by_the_agent(
    make_node: MakeNode, repository: Path, tmp_path: Path
) -> None:
    report = backed_up(make_node, repository)
    backup_dir = repository / "instances/1a2b3c4d/b1"
    stored = {p.relative_to(backup_dir).as_posix(): p for p in backup_dir.rglob("*") if p.is_file()}
    assert sorted(stored) == ["dump.rdb", "sub/extra"]
    assert DUMP[:64] not in stored["dump.rdb"].read_bytes(), "sealed, not plain"
    assert report["objects"] == {f"b1/{name}": sha256_of(path) for name, path in stored.items()}
    assert report["size_bytes"] == sum(path.stat().st_size for path in stored.values())
    assert (report["label"], report["kind"], report["position"]) == ("b1", "snapshot", {"keys": 3})
    assert report["started_at"] <= report["finished_at"]
    assert not list((tmp_path / "primary/agent/commands").glob("*staging*")), "staging removed"


def test_a_restore_gets_the_files_back_before_the_types_step_moves_them(
    make_node: MakeNode, repository: Path, tmp_path: Path
) -> None:
    backed_up(make_node, repository)
    node, recorder = make_node("restored")
    done = run(node, recorder, document(repository, "restore", label="b1", point_in_time=""))
    assert done.state == "succeeded", done.output
    assert done.result == {"label": "b1", "point": None}
    assert (tmp_path / "restored/restored/dump.rdb").read_bytes() == DUMP
    assert (tmp_path / "restored/restored/sub/extra").read_text() == "x"


def test_verify_hashes_the_stored_objects_and_runs_the_types_check(
    make_node: MakeNode, repository: Path
) -> None:
    report = backed_up(make_node, repository)
    node, recorder = make_node("drill")
    done = run(node, recorder, document(repository, "verify", label="b1"))
    assert done.state == "succeeded", done.output
    assert done.result == {"objects": report["objects"], "check": "3 keys, as the backup recorded"}


@pytest.mark.parametrize("step", ["restore", "verify"], ids=lambda step: f"{step} fails")
def test_a_flipped_byte_in_a_stored_object_fails_naming_it(
    make_node: MakeNode, repository: Path, tmp_path: Path, step: str
) -> None:
    backed_up(make_node, repository)
    dump = repository / "instances/1a2b3c4d/b1/dump.rdb"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0x40
    dump.write_bytes(bytes(data))
    node, recorder = make_node("other")
    done = run(node, recorder, document(repository, step, label="b1"))
    assert done.state == "failed"
    assert "instances/1a2b3c4d/b1/dump.rdb does not decrypt" in done.output
    assert not (tmp_path / "other/restored").exists(), "the type's step never ran"


def test_expire_is_the_agents_alone_and_keeps_the_other_backups(
    make_node: MakeNode, repository: Path
) -> None:
    backed_up(make_node, repository)
    (repository / "instances/1a2b3c4d/b2").mkdir()
    (repository / "instances/1a2b3c4d/b2/dump.rdb").write_bytes(b"kept")
    node, recorder = make_node("primary-again")  # the type declares no expire command
    done = run(node, recorder, document(repository, "expire", label="b1"))
    assert (done.state, done.output) == ("succeeded", "deleted 2 objects of backup b1")
    assert sorted(p.name for p in (repository / "instances/1a2b3c4d").iterdir()) == ["b2"]


@pytest.mark.parametrize(
    ("commands", "args", "says"),
    [
        ((Command("backup", FAIL),), {"backup": "b1"}, "no space left for the dump"),
        ((Command("backup", STAGE_NOTHING),), {"backup": "b1"}, "the backup step staged no files"),
        (STEPS, {"backup": "../b1"}, "must name one backup, not '../b1'"),
        (STEPS, {"label": ""}, "args label must name one backup"),
    ],
    ids=[
        "a failed backup step uploads nothing and says why",
        "a backup step that staged nothing has failed",
        "a label that is no single name is refused",
        "a restore names the backup it restores",
    ],
)
def test_a_snapshot_step_that_cannot_be_done_fails_saying_why(
    make_node: MakeNode,
    repository: Path,
    commands: tuple[Command, ...],
    args: dict[str, str],
    says: str,
) -> None:
    node, recorder = make_node("primary", commands)
    name = "backup" if "backup" in args else "restore"
    done = run(node, recorder, document(repository, name, **args))
    assert done.state == "failed"
    assert says in done.output
    assert not list(repository.rglob("*")), "nothing stored"


def test_an_engine_stored_type_runs_its_own_steps_with_an_empty_staging_directory(
    make_node: MakeNode, repository: Path, tmp_path: Path
) -> None:
    sees = python(
        "import os, sys; print(sorted(os.listdir(sys.argv[1])), os.getcwd())",
        "{{ backup.staging }}",
    )
    node, recorder = make_node("engine", (Command("backup", sees),), EngineStored)
    done = run(node, recorder, document(repository, "backup", backup="b1"))
    assert (done.state, done.result) == ("succeeded", None)
    assert done.output.strip() == f"[] {tmp_path / 'engine'}"
    assert not list(repository.rglob("*")), "the engine's tool writes the repository, not the agent"


def test_a_step_that_reports_a_result_a_backup_report_forbids_fails(
    make_node: MakeNode, repository: Path
) -> None:
    odd = python(
        "import json, pathlib, sys; (pathlib.Path(sys.argv[1]) / 'f').write_text('x');"
        " pathlib.Path(sys.argv[2]).write_text(json.dumps({'lsn': 1}))",
        "{{ backup.staging }}",
        "{{ command.result }}",
    )
    node, recorder = make_node("primary", (Command("backup", odd),))
    done = run(node, recorder, document(repository, "backup", backup="b1"))
    assert done.state == "failed"
    assert "lsn\n  Extra inputs are not permitted" in done.output
    assert not [p for p in repository.rglob("*") if p.is_file()], "no half backup is left"


class Hurried(FakeClock):
    """A clock each look at which is 2 s later: every change of progress is due to be sent."""

    def __call__(self) -> float:
        self.advance(READ_EVERY)
        return self.now


def test_a_backup_s_upload_tells_how_many_staged_bytes_are_stored(
    tmp_path: Path, repository: Path
) -> None:
    recorder = Recorder()
    node = Node(tmp_path / "primary", recorder, load=lambda slug: Snapshots(STEPS), clock=Hurried())
    done = run(node, recorder, document(repository, "backup", backup="b1", kind="snapshot"))
    assert done.state == "succeeded", done.output
    staged = len(DUMP) + len("x")  # dump.rdb, then sub/extra
    assert [(p["done_bytes"], p["total_bytes"]) for p in recorder.progress] == [
        (0, staged),
        (len(DUMP), staged),
        (staged, staged),
    ]
