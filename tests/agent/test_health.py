"""Health: a threshold of failures in a row, one success to recover, real probes."""

from __future__ import annotations

import os
import socket
import ssl
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from metapaas import tls
from metapaas.agent.health import STARTUP_PROBE_SECONDS, HealthMonitor, probe_for
from metapaas.agent.render import node_context
from metapaas.db.models import utcnow
from metapaas.sdk import HealthCheck

from .helpers import FakeClock, metadata, python


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        pytest.param([], "unknown", id="before any result the node is unknown"),
        pytest.param([False, False], "unknown", id="failures below the threshold say nothing yet"),
        pytest.param([False] * 3, "unhealthy", id="threshold failures in a row are unhealthy"),
        pytest.param([True], "healthy", id="one success is healthy"),
        pytest.param(
            [True, False, False], "healthy", id="a healthy node survives failures below threshold"
        ),
        pytest.param(
            [False, False, True, False, False], "healthy", id="a success resets the count"
        ),
        pytest.param([False] * 3 + [True], "healthy", id="one success recovers an unhealthy node"),
    ],
)
def test_the_failure_threshold_decides_health(
    clock: FakeClock, results: Sequence[bool], expected: str
) -> None:
    outcomes = iter(results)
    check = HealthCheck(kind="tcp", interval=2.0, failure_threshold=3)
    monitor = HealthMonitor([(check, lambda: next(outcomes))], clock=clock)
    for _ in results:
        monitor.tick()
        clock.advance(2.0)
    assert monitor.status == expected


def test_a_check_runs_once_per_interval(clock: FakeClock) -> None:
    calls: list[float] = []

    def probe() -> bool:
        calls.append(clock())
        return True

    monitor = HealthMonitor([(HealthCheck(kind="tcp", interval=5.0), probe)], clock=clock)
    for _ in range(11):
        monitor.tick()
        clock.advance(1.0)
    assert calls == [1000.0, 1005.0, 1010.0]


STEP = 0.0625
"""The agent loop's pace in these tests: above STARTUP_PROBE_SECONDS, exact in binary."""


def test_a_check_runs_quickly_until_it_first_passes(clock: FakeClock) -> None:
    """A service still starting is probed at every tick of the loop, not once per
    interval, and is healthy at the first probe it answers."""
    assert STEP > STARTUP_PROBE_SECONDS
    outcomes = iter([False] * 5 + [True, True])
    calls: list[float] = []

    def probe() -> bool:
        calls.append(clock() - 1000.0)
        return next(outcomes)

    check = HealthCheck(kind="tcp", interval=1.0, failure_threshold=2)
    monitor = HealthMonitor([(check, probe)], clock=clock)
    seen = []
    for _ in range(30):
        seen.append(monitor.tick())
        clock.advance(STEP)

    assert calls[:6] == [step * STEP for step in range(6)]
    assert seen[5] == "healthy"
    assert "unhealthy" not in seen  # five failures within an interval count as one
    assert calls[6] == 5 * STEP + 1.0  # once it passed, once per interval


def test_a_service_that_never_answers_turns_unhealthy_after_its_threshold(
    clock: FakeClock,
) -> None:
    check = HealthCheck(kind="tcp", interval=1.0, failure_threshold=3)
    monitor = HealthMonitor([(check, lambda: False)], clock=clock)
    statuses = {}
    for step in range(40):
        statuses[step * STEP] = monitor.tick()
        clock.advance(STEP)
    assert statuses[2.0 - STEP] == "unknown"  # failures counted at 0 s and 1 s
    assert statuses[2.0] == "unhealthy"  # and at 2 s: the threshold, as without quick probes


@pytest.mark.parametrize(
    ("first_results", "expected"),
    [
        pytest.param([], "healthy", id="a node without checks is healthy"),
        pytest.param([True, True], "healthy", id="all checks passing is healthy"),
        pytest.param([True, False], "unknown", id="a check still below its threshold is unknown"),
    ],
)
def test_the_node_is_as_healthy_as_its_worst_check(
    clock: FakeClock, first_results: Sequence[bool], expected: str
) -> None:
    probes = [(HealthCheck(kind="tcp"), lambda ok=ok: ok) for ok in first_results]
    assert HealthMonitor(probes, clock=clock).tick() == expected


def test_one_unhealthy_check_makes_the_node_unhealthy(clock: FakeClock) -> None:
    passing = (HealthCheck(kind="tcp"), lambda: True)
    failing = (HealthCheck(kind="tcp", failure_threshold=1), lambda: False)
    assert HealthMonitor([passing, failing], clock=clock).tick() == "unhealthy"


@pytest.fixture
def context(tmp_path: Path) -> dict[str, Any]:
    return node_context(metadata(), tmp_path)


def test_a_tcp_check_passes_while_the_port_listens(tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    context = {**node_context(metadata(), tmp_path), "port": port}
    probe = probe_for(HealthCheck(kind="tcp", target="127.0.0.1:{{ port }}"), tmp_path, context)
    assert probe()
    listener.close()
    assert not probe()


class _Status(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(int(self.path.strip("/")))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


@pytest.fixture
def status_server() -> Iterator[str]:
    """Answers ``GET /<code>`` with that status code."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Status)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.mark.parametrize(
    ("status", "passes"),
    [
        pytest.param(200, True, id="a 200 answer passes"),
        pytest.param(204, True, id="any 2xx answer passes"),
        pytest.param(503, False, id="a 5xx answer fails"),
        pytest.param(404, False, id="a 4xx answer fails"),
    ],
)
def test_an_http_check_wants_a_2xx(
    status_server: str, tmp_path: Path, context: dict[str, Any], status: int, passes: bool
) -> None:
    check = HealthCheck(kind="http", target=f"{status_server}/{status}")
    assert probe_for(check, tmp_path, context)() is passes


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, tls.Authority]]:
    """Answers ``GET /<code>`` over TLS with a certificate of its own CA (returned)."""
    authority = tls.Authority.new("node CA", utcnow())
    issued = authority.issue(["127.0.0.1"], utcnow())
    (tmp_path / "server.pem").write_text(issued.certificate + issued.key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "server.pem")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Status)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_port}", authority
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_an_https_check_trusts_its_authority_file_alone(
    https_server: tuple[str, tls.Authority], tmp_path: Path, context: dict[str, Any]
) -> None:
    """A node's TLS port presents a certificate of the control plane's CA, which no system
    trusts: only the check's ``authority`` file vouches for it, read anew once replaced."""
    url, authority = https_server
    ca = tmp_path / "ca.crt"
    ca.write_text(authority.certificate_pem)
    check = HealthCheck(kind="http", target=f"{url}/200", authority="{{ node.dir }}/ca.crt")
    probe = probe_for(check, tmp_path, context)
    assert probe()
    assert not probe_for(HealthCheck(kind="http", target=f"{url}/200"), tmp_path, context)()
    (tmp_path / "other.crt").write_text(tls.Authority.new("other", utcnow()).certificate_pem)
    os.replace(tmp_path / "other.crt", ca)  # as the agent replaces a file
    assert not probe()


@pytest.mark.parametrize(
    ("argv", "passes"),
    [
        pytest.param(python("raise SystemExit(0)"), True, id="a command exiting 0 passes"),
        pytest.param(python("raise SystemExit(1)"), False, id="a command exiting 1 fails"),
        pytest.param(
            python("import time; time.sleep(30)"), False, id="a command past its timeout fails"
        ),
        pytest.param(("/no/such/binary",), False, id="a command that cannot start fails"),
    ],
)
def test_a_command_check_wants_exit_code_0(
    tmp_path: Path, context: dict[str, Any], argv: tuple[str, ...], passes: bool
) -> None:
    check = HealthCheck(kind="command", argv=argv, timeout=0.5)
    assert probe_for(check, tmp_path, context)() is passes
