"""Supervising services: logs, restarts with backoff (on a fake clock), group stop."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from metapaas.agent.render import node_context
from metapaas.agent.supervisor import Supervisor
from metapaas.sdk import Service

from .helpers import FakeClock, alive, metadata, python

SLEEPER = python("import time; print('up', flush=True); time.sleep(60)")
QUITTER = python("pass")


@pytest.fixture
def supervisors() -> Iterator[list[Supervisor]]:
    """Makes supervisors and stops every one of them after the test."""
    made: list[Supervisor] = []
    yield made
    for supervisor in made:
        supervisor.stop_all()


Supervise = Callable[..., Supervisor]


@pytest.fixture
def supervise(tmp_path: Path, clock: FakeClock, supervisors: list[Supervisor]) -> Supervise:
    def make(*services: Service) -> Supervisor:
        supervisor = Supervisor(services, tmp_path, node_context(metadata(), tmp_path), clock=clock)
        supervisors.append(supervisor)
        return supervisor

    return make


def tick_until(supervisor: Supervisor, count: int = 1) -> list[str]:
    """Tick (real time, bounded) until ``count`` exits were reaped."""
    happened: list[str] = []
    for _ in range(200):
        happened += supervisor.tick()
        if len(happened) >= count:
            break
        time.sleep(0.02)
    return happened


def wait_for_file(path: Path) -> str:
    for _ in range(250):
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.02)
    raise AssertionError(f"{path} never appeared")


def service_pid(supervisor: Supervisor, name: str) -> int:
    pid = supervisor.pid(name)
    assert pid is not None, f"{name} is not running"
    return pid


def test_a_service_runs_rendered_in_the_node_directory_and_logs_to_its_file(
    supervise: Supervise, tmp_path: Path
) -> None:
    code = "import os, sys; print(os.getcwd(), sys.argv[1], os.environ['PORT'], flush=True)"
    argv = python(code, "{{ instance.name }}")
    supervisor = supervise(Service("web", argv, env={"PORT": "{{ node.ports.http }}"}))
    supervisor.ensure_started()
    tick_until(supervisor)
    log = (tmp_path / "logs" / "web.log").read_text()
    assert log.strip() == f"{tmp_path.resolve()} hello 41231"


def test_a_killed_service_is_restarted_after_its_backoff(
    supervise: Supervise, clock: FakeClock
) -> None:
    supervisor = supervise(Service("web", SLEEPER))
    supervisor.ensure_started()
    os.kill(service_pid(supervisor, "web"), signal.SIGKILL)
    assert tick_until(supervisor) == ["service web exited with code -9; restarting in 1 s"]
    clock.advance(0.9)
    supervisor.tick()
    assert not supervisor.running("web")
    clock.advance(0.1)
    supervisor.tick()
    assert supervisor.running("web")


@pytest.mark.parametrize(
    ("runs", "expected_delays"),
    [
        pytest.param(
            [0, 0, 0, 0, 0, 0, 0], [1, 2, 4, 8, 16, 30, 30], id="quick exits double up to 30 s"
        ),
        pytest.param([0, 0, 0, 30, 0], [1, 2, 4, 1, 2], id="a run of 30 s resets the backoff"),
    ],
)
def test_restarts_back_off_exponentially(
    supervise: Supervise, clock: FakeClock, runs: Sequence[float], expected_delays: Sequence[float]
) -> None:
    supervisor = supervise(Service("flaky", QUITTER))
    supervisor.ensure_started()
    delays = []
    for ran in runs:
        clock.advance(ran)
        (message,) = tick_until(supervisor)
        delays.append(float(message.rsplit(" in ", 1)[1].removesuffix(" s")))
        clock.advance(delays[-1])
        supervisor.tick()
    assert delays == expected_delays


def test_stop_terminates_the_whole_process_group(supervise: Supervise, tmp_path: Path) -> None:
    spawner = python(
        "import subprocess, sys, time;"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        "open('child.pid', 'w').write(str(child.pid)); time.sleep(60)"
    )
    supervisor = supervise(Service("parent", spawner, stop_timeout=5))
    supervisor.ensure_started()
    child = int(wait_for_file(tmp_path / "child.pid"))
    supervisor.stop_all()
    assert not supervisor.running("parent")
    for _ in range(100):
        if not alive(child):
            break
        time.sleep(0.02)
    assert not alive(child)


def test_a_service_ignoring_sigterm_is_killed_after_its_stop_timeout(
    supervise: Supervise, tmp_path: Path
) -> None:
    stubborn = python(
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        "open('ready', 'w').write('yes'); time.sleep(60)"
    )
    supervisor = supervise(Service("stubborn", stubborn, stop_timeout=0.2))
    supervisor.ensure_started()
    wait_for_file(tmp_path / "ready")
    pid = service_pid(supervisor, "stubborn")
    supervisor.stop_all()
    assert not alive(pid)


def test_a_service_that_cannot_start_is_a_problem_and_is_retried(
    supervise: Supervise, clock: FakeClock, tmp_path: Path
) -> None:
    supervisor = supervise(Service("ghost", (str(tmp_path / "no-such-binary"),)))
    supervisor.ensure_started()
    (problem,) = supervisor.problems()
    assert problem.startswith("service ghost cannot start:")
    (tmp_path / "no-such-binary").symlink_to("/bin/true")
    clock.advance(1)
    supervisor.tick()
    assert supervisor.problems() == []


def test_a_log_over_its_bound_is_rotated_and_the_service_keeps_writing(
    tmp_path: Path, clock: FakeClock, supervisors: list[Supervisor]
) -> None:
    chatty = python(
        "import sys, time\n"
        "print('x' * 3000, flush=True)\n"
        "while not __import__('os').path.exists('go'): time.sleep(0.02)\n"
        "print('after the rotation', flush=True); time.sleep(60)"
    )
    context = node_context(metadata(), tmp_path)
    supervisor = Supervisor(
        [Service("chatty", chatty)], tmp_path, context, clock=clock, max_log_bytes=1000
    )
    supervisors.append(supervisor)
    supervisor.ensure_started()
    log = tmp_path / "logs" / "chatty.log"
    wait_for_file(log)
    supervisor.tick()
    assert (tmp_path / "logs" / "chatty.log.1").read_text().startswith("x" * 3000)
    assert log.stat().st_size == 0
    (tmp_path / "go").touch()
    assert wait_for_file(log) == "after the rotation", "the service lost its log"
