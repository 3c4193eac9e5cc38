"""A node handling metadata documents: apply, start, reload, commands, report."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import BaseModel

from metapaas.agent.client import Report
from metapaas.agent.commands import CommandResult
from metapaas.agent.node import Node
from metapaas.sdk import (
    ARCHIVE_STATUS,
    VOLUME_DIR,
    Command,
    DataPlane,
    HealthCheck,
    PaasType,
    PermanentError,
    Service,
    Template,
    TemporaryError,
    Version,
)

from .helpers import FakeClock, Recorder, metadata, python

COUNT_RELOADS = python("open('reloads.txt', 'a').write('reload\\n')")


class Demo(PaasType):
    slug = "demo"
    title = "Demo"
    versions: ClassVar = [Version("1.0", default=True)]
    spec = BaseModel

    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane

    def data_plane(self, role: str, version: Version) -> DataPlane:
        assert (role, version.name) == ("main", "1.0")
        return self.plane


MakeNode = Callable[[DataPlane], tuple[Node, Recorder]]


@pytest.fixture
def make_node(tmp_path: Path, clock: FakeClock) -> Iterator[MakeNode]:
    """Nodes of a plugin declaring ``plane``; their services are stopped after the test."""
    made: list[Node] = []

    def make(plane: DataPlane) -> tuple[Node, Recorder]:
        recorder = Recorder()
        node = Node(tmp_path, recorder, load=lambda slug: Demo(plane), clock=clock)
        made.append(node)
        return node, recorder

    yield make
    for node in made:
        node.stop()


GREETING = Template(source="{{ instance.spec.message }}\n", dest="app.conf", reload=COUNT_RELOADS)
SLEEPER = Service("web", python("import time; time.sleep(60)"), stop_timeout=1)


def last(recorder: Recorder) -> Report:
    return recorder.reports[-1]


def test_a_first_document_applies_starts_services_and_reports_ready(
    make_node: MakeNode, tmp_path: Path
) -> None:
    node, recorder = make_node(DataPlane(templates=(GREETING,), services=(SLEEPER,)))
    node.handle(metadata(revision=5))
    report = last(recorder)
    assert (report["applied_revision"], report["applied_generation"]) == (5, 3)
    assert (report["state"], report["message"]) == ("ready", "")
    assert report["events"] == [{"kind": "config_applied", "message": "app.conf changed"}]
    assert (tmp_path / "app.conf").read_text() == "hi\n"
    assert not (tmp_path / "reloads.txt").exists()


def test_a_steady_state_writes_nothing_and_reloads_nothing(
    make_node: MakeNode, tmp_path: Path
) -> None:
    node, recorder = make_node(DataPlane(templates=(GREETING,), services=(SLEEPER,)))
    node.handle(metadata(revision=1))
    before = (tmp_path / "app.conf").stat()
    node.handle(metadata(revision=2))
    after = (tmp_path / "app.conf").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert not (tmp_path / "reloads.txt").exists()
    assert last(recorder)["events"] == []


def test_a_changed_template_is_reloaded_once_the_services_run(
    make_node: MakeNode, tmp_path: Path
) -> None:
    node, recorder = make_node(DataPlane(templates=(GREETING,), services=(SLEEPER,)))
    node.handle(metadata(revision=1))
    node.handle(metadata(revision=2, spec={"message": "bye"}))
    assert (tmp_path / "app.conf").read_text() == "bye\n"
    assert (tmp_path / "reloads.txt").read_text() == "reload\n"
    assert last(recorder)["events"] == [
        {"kind": "config_applied", "message": "app.conf changed; reloaded"}
    ]


def test_a_refused_reload_is_retried_until_it_succeeds(
    make_node: MakeNode, tmp_path: Path, clock: FakeClock
) -> None:
    """The engine was restarting: the reload is owed though the file is already current."""
    only_when_up = python(
        "import pathlib, sys; up = pathlib.Path('up');"
        "sys.exit('not up') if not up.exists() else open('reloads.txt', 'a').write('reload\\n')"
    )
    template = Template(
        source="{{ instance.spec.message }}\n", dest="app.conf", reload=only_when_up
    )
    node, recorder = make_node(DataPlane(templates=(template,), services=(SLEEPER,)))
    node.handle(metadata(revision=1))
    node.handle(metadata(revision=2, spec={"message": "bye"}))
    assert last(recorder)["state"] == "failed"
    assert "reload of app.conf failed" in last(recorder)["message"]
    node.tick()
    assert not (tmp_path / "reloads.txt").exists()  # not before the retry is due
    (tmp_path / "up").touch()
    clock.advance(3.0)
    node.tick()
    assert (last(recorder)["state"], last(recorder)["message"]) == ("ready", "")
    assert (tmp_path / "reloads.txt").read_text() == "reload\n"
    clock.advance(3.0)
    node.tick()
    assert (tmp_path / "reloads.txt").read_text() == "reload\n"


def test_a_restarted_agent_reloads_once_its_services_serve(
    make_node: MakeNode, tmp_path: Path, clock: FakeClock
) -> None:
    """A reload may apply what no service reads at start (users, buckets): after an agent
    restart it is owed, whatever changed while the node was down."""
    gate = Path(tmp_path / "healthy")
    healthy = HealthCheck("command", argv=python(f"import os, sys; os.stat({str(gate)!r})"))
    plane = DataPlane(templates=(GREETING,), services=(SLEEPER,), health=(healthy,))
    first, _ = make_node(plane)
    first.handle(metadata(revision=1))
    first.stop()
    assert not (tmp_path / "reloads.txt").exists(), "a brand-new node owes no reload"

    second, recorder = make_node(plane)
    second.handle(metadata(revision=1))
    second.tick()
    assert last(recorder)["state"] == "applying"
    assert not (tmp_path / "reloads.txt").exists(), "reloaded before the service serves"
    gate.touch()
    clock.advance(2.0)
    second.tick()
    second.tick()
    assert (tmp_path / "reloads.txt").read_text() == "reload\n"
    assert last(recorder)["state"] == "ready"


def test_a_tick_during_a_command_does_not_reenter_the_apply(
    make_node: MakeNode, tmp_path: Path, clock: FakeClock
) -> None:
    """The reload owed by a restarted agent waits for the running command to end."""
    journal = tmp_path / "order.txt"
    note = "open({path!r}, 'a').write({word!r} + '\\n')"
    init = Command(
        "init",
        python(
            "import pathlib, time; pathlib.Path('healthy').touch();"
            + note.format(path=str(journal), word="init-start")
            + "; time.sleep(1.2); "
            + note.format(path=str(journal), word="init-end")
        ),
    )
    reload_ = python(note.format(path=str(journal), word="reload"))
    template = Template("{{ instance.spec.message }}\n", dest="app.conf", reload=reload_)
    healthy = HealthCheck("command", argv=python("import os; os.stat('healthy')"))
    plane = DataPlane(
        templates=(template,), services=(SLEEPER,), health=(healthy,), commands=(init,)
    )
    first, _ = make_node(plane)
    first.handle(metadata(revision=1))
    first.stop()

    second, _ = make_node(plane)
    second.handle({**metadata(revision=1), "commands": [{"id": "c1", "name": "init"}]})
    assert journal.read_text().split() == ["init-start", "init-end"]
    # The check is due again, whether a tick during the command ran it before or after
    # the command made the service healthy.
    clock.advance(healthy.interval)
    second.tick()
    assert journal.read_text().split() == ["init-start", "init-end", "reload"]


def test_a_long_reload_keeps_heartbeating_as_applying(
    make_node: MakeNode, clock: FakeClock
) -> None:
    slow = python("import time; time.sleep(1.5)")
    template = Template("{{ instance.spec.message }}\n", dest="app.conf", reload=slow)
    node, recorder = make_node(DataPlane(templates=(template,), services=(SLEEPER,)))
    node.handle(metadata(revision=1))
    clock.advance(4.0)  # a heartbeat is due while the next reload runs
    node.handle(metadata(revision=2, spec={"message": "bye"}))
    states = [(r["applied_revision"], r["state"]) for r in recorder.reports]
    assert states[-2:] == [(2, "applying"), (2, "ready")]


@pytest.mark.parametrize(
    ("plane", "explained"),
    [
        pytest.param(
            DataPlane(required_binaries=("no-such-engine-binary",)),
            "required binary not found on PATH: no-such-engine-binary",
            id="a missing binary fails naming it",
        ),
        pytest.param(
            DataPlane(templates=(Template(source="{{ extra.port }}", dest="app.conf"),)),
            "cannot render app.conf",
            id="a template error fails naming the file",
        ),
        pytest.param(
            DataPlane(services=(Service("ghost", ("/no/such/binary",)),)),
            "service ghost cannot start",
            id="a service that cannot start fails naming it",
        ),
    ],
)
def test_provisioning_failures_are_reported_failed_with_the_reason(
    make_node: MakeNode, plane: DataPlane, explained: str
) -> None:
    node, recorder = make_node(plane)
    node.handle(metadata(revision=4))
    report = last(recorder)
    assert (report["applied_revision"], report["state"]) == (4, "failed")
    assert explained in report["message"]


def test_a_pending_command_runs_once_and_is_re_reported(
    make_node: MakeNode, tmp_path: Path
) -> None:
    init = Command("init", python("open('inits.txt', 'a').write('init\\n')"))
    node, recorder = make_node(DataPlane(commands=(init,)))
    document = {**metadata(revision=1), "commands": [{"id": "c1", "name": "init", "timeout": 5}]}
    node.handle(document)
    node.handle({**document, "revision": 2})
    assert recorder.command_results == [("c1", "running"), ("c1", "succeeded"), ("c1", "succeeded")]
    assert (tmp_path / "inits.txt").read_text() == "init\n"


def test_commands_wait_for_a_successful_apply(make_node: MakeNode, tmp_path: Path) -> None:
    init = Command("init", python("open('inits.txt', 'a').write('init\\n')"))
    node, recorder = make_node(DataPlane(commands=(init,), required_binaries=("no-such-engine",)))
    node.handle({**metadata(), "commands": [{"id": "c1", "name": "init"}]})
    assert recorder.command_results == []
    assert not (tmp_path / "inits.txt").exists()


def test_heartbeats_repeat_the_state_every_few_seconds(
    make_node: MakeNode, clock: FakeClock
) -> None:
    node, recorder = make_node(DataPlane())
    node.handle(metadata())
    node.tick()
    assert len(recorder.reports) == 1
    clock.advance(4.0)
    node.tick()
    assert len(recorder.reports) == 2
    assert last(recorder)["state"] == "ready"


def test_a_started_service_is_probed_at_once_and_its_health_reported_without_a_heartbeat(
    make_node: MakeNode, clock: FakeClock
) -> None:
    """A new node is ACTIVE when its control plane hears ``healthy``: neither the first
    check nor the report may wait for an interval or the heartbeat (4 s)."""
    answers = HealthCheck("command", argv=python("pass"), interval=30.0)
    node, recorder = make_node(DataPlane(services=(SLEEPER,), health=(answers,)))
    node.handle(metadata())
    assert last(recorder)["health"] == "unknown"
    node.tick()  # the loop's first tick after the document, at the same instant
    assert len(recorder.reports) == 2
    assert last(recorder)["health"] == "healthy"


class Refusing(Recorder):
    """A control plane that answers every call with ``error``."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error
        self.calls = 0

    def command_result(self, command_id: str, result: CommandResult) -> None:
        self.calls += 1
        raise self.error


@pytest.mark.parametrize(
    ("error", "calls_after_two_ticks"),
    [
        pytest.param(TemporaryError("away"), 4, id="a result the control plane missed is resent"),
        pytest.param(PermanentError("404"), 2, id="a result the control plane refused is dropped"),
    ],
)
def test_unsent_command_results(
    tmp_path: Path, clock: FakeClock, error: Exception, calls_after_two_ticks: int
) -> None:
    control_plane = Refusing(error)
    plane = DataPlane(commands=(Command("init", ("true",)),))
    node = Node(tmp_path, control_plane, load=lambda slug: Demo(plane), clock=clock)
    node.handle({**metadata(), "commands": [{"id": "c1", "name": "init"}]})
    node.tick()
    node.tick()
    assert control_plane.calls == calls_after_two_ticks


def test_many_events_are_sent_in_reports_of_at_most_50(make_node: MakeNode) -> None:
    templates = tuple(Template(source="x", dest=f"f{n}.conf") for n in range(60))
    node, recorder = make_node(DataPlane(templates=templates))
    node.handle(metadata())
    sizes = [len(report["events"]) for report in recorder.reports]
    assert sizes == [50, 10]


def test_a_long_failure_message_is_cut_to_the_api_limit(make_node: MakeNode) -> None:
    node, recorder = make_node(DataPlane(templates=(Template("{{ nope }}", dest="x" * 5000),)))
    node.handle(metadata())
    message = last(recorder)["message"]
    assert message.startswith("cannot render xxx")
    assert len(message) == 4000


RESTORE_MARK = python("open('restored.txt', 'w').write('restored')")
REFUSED_RESTORE = python("import sys; print('no such backup'); sys.exit(3)")
SERVICE_SEES_RESTORE = Service(
    "web",
    python(
        "import os, time; open('saw.txt', 'w').write(str(os.path.exists('restored.txt')));"
        " time.sleep(60)"
    ),
    stop_timeout=1,
)


def test_a_restore_runs_before_any_service_starts(make_node: MakeNode, tmp_path: Path) -> None:
    plane = DataPlane(
        services=(SERVICE_SEES_RESTORE,), commands=(Command("restore", RESTORE_MARK),)
    )
    node, recorder = make_node(plane)
    node.handle({**metadata(), "commands": [{"id": "r1", "name": "restore", "args": {}}]})
    assert recorder.command_results[:2] == [("r1", "running"), ("r1", "succeeded")]
    saw = tmp_path / "saw.txt"
    for _ in range(100):
        if saw.exists() and saw.read_text():
            break
        time.sleep(0.05)
    assert saw.read_text() == "True"


def test_a_failed_restore_keeps_the_services_down_and_says_why(
    make_node: MakeNode, tmp_path: Path
) -> None:
    plane = DataPlane(
        services=(SERVICE_SEES_RESTORE,), commands=(Command("restore", REFUSED_RESTORE),)
    )
    node, recorder = make_node(plane)
    node.handle({**metadata(), "commands": [{"id": "r1", "name": "restore", "args": {}}]})
    assert recorder.command_results == [("r1", "running"), ("r1", "failed")]
    report = last(recorder)
    assert report["state"] == "failed"
    assert "the restore failed: no such backup" in report["message"]
    time.sleep(0.3)
    assert not (tmp_path / "saw.txt").exists()


@pytest.mark.parametrize(
    ("volume_holds", "restored"),
    [
        pytest.param([], True, id="an empty volume is restored"),
        pytest.param(["pgdata"], False, id="a volume that kept its data is left alone"),
    ],
)
def test_a_restore_asked_if_the_volume_came_empty_runs_only_then(
    make_node: MakeNode, tmp_path: Path, volume_holds: list[str], restored: bool
) -> None:
    plane = DataPlane(commands=(Command("restore", RESTORE_MARK),))
    node, recorder = make_node(plane)
    for name in volume_holds:
        (tmp_path / VOLUME_DIR / name).mkdir(parents=True)
    request = {"id": "r1", "name": "restore", "args": {"if_empty": "true", "label": ""}}
    node.handle({**metadata(), "commands": [request]})
    assert recorder.command_results[:2] == [("r1", "running"), ("r1", "succeeded")]
    assert (tmp_path / "restored.txt").exists() == restored


def test_the_archive_steps_record_is_reported_as_written(
    make_node: MakeNode, tmp_path: Path
) -> None:
    node, recorder = make_node(DataPlane())
    node.handle(metadata())
    assert last(recorder)["archive"] is None
    status = tmp_path / ARCHIVE_STATUS
    status.parent.mkdir(parents=True)
    status.write_text('{"segment": "000000010000000000000003"}')
    node.tick()  # a new record is news: reported before the next heartbeat
    assert last(recorder)["archive"] == {"segment": "000000010000000000000003"}


class Seeing(Recorder):
    """Marks ``seen`` once progress came, so the step that wrote it can end."""

    def __init__(self, seen: Path) -> None:
        super().__init__()
        self.seen = seen

    def command_result(self, command_id: str, result: CommandResult) -> None:
        super().command_result(command_id, result)
        if result.progress is not None:
            self.seen.touch()


def test_a_running_command_s_progress_is_sent_before_its_result(
    tmp_path: Path, clock: FakeClock
) -> None:
    seen = tmp_path / "seen"
    step = python(
        "import pathlib, sys, time; pathlib.Path(sys.argv[1]).write_text(sys.argv[2]);"
        " deadline = time.monotonic() + 10\n"
        "while not pathlib.Path(sys.argv[3]).exists() and time.monotonic() < deadline:"
        " time.sleep(0.05)",
        "{{ command.progress }}",
        '{"done_bytes": 512, "total_bytes": 2048}',
        str(seen),
    )
    plane = DataPlane(commands=(Command("backup", step),))
    recorder = Seeing(seen)
    node = Node(tmp_path, recorder, load=lambda slug: Demo(plane), clock=clock)
    node.handle({**metadata(), "commands": [{"id": "c1", "name": "backup"}]})
    assert recorder.command_results == [("c1", "running"), ("c1", "running"), ("c1", "succeeded")]
    assert recorder.progress == [{"done_bytes": 512, "total_bytes": 2048}]
