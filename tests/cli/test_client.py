"""The client against a real uvicorn: problems become ApiError, and an idempotent
request survives the server handing its socket over to a new process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from metapaas.client import ApiError, AsyncClient, Client
from metapaas.testing import wait_for

REPO = Path(__file__).resolve().parents[2]
APP = "tests.cli.handover_app:app"


class Servers:
    """uvicorn processes sharing one listening socket, as a server handing over does."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        """A new server process on the shared socket, once it answers a new connection."""
        fd = self.listener.fileno()
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", APP, "--fd", str(fd), "--log-level", "warning"],
            cwd=REPO,
            pass_fds=(fd,),
        )
        self.processes.append(process)
        wait_for(lambda: self.answering_pid() == process.pid, 30, "the new server to answer")
        return process

    def answering_pid(self) -> int | None:
        try:
            with Client(self.url, timeout=1) as fresh:
                return int(fresh.operations.get("probe").progress)
        except httpx.HTTPError:
            return None

    def unread_requests(self) -> bool:
        """Whether a connection to the socket holds bytes no process has read."""
        port = f"{self.listener.getsockname()[1]:04X}"
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, state, queues = fields[1], fields[3], fields[4]
                if local.endswith(f":{port}") and state == "01" and int(queues.split(":")[1], 16):
                    return True
        return False

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait(10)
        self.listener.close()


@pytest.fixture
def servers() -> Iterator[Servers]:
    started = Servers()
    yield started
    started.stop()


def test_a_problem_becomes_an_api_error_with_its_fields(servers: Servers) -> None:
    servers.start()
    with Client(servers.url) as api, pytest.raises(ApiError) as raised:
        api.types.get("invalid")
    error = raised.value
    assert (error.status, error.title) == (422, "The request is not valid")
    assert [(e.field, e.rule) for e in error.errors] == [
        ("replicas", "less_than_equal"),
        ("bogus", "extra_forbidden"),
    ]
    assert str(error) == "422 replicas: must be <= 3; bogus: not allowed"


@pytest.mark.parametrize(
    ("slug", "expected"),
    [
        ("gone", "404 Not found: type 'gone' is not installed"),
        ("proxied", "502 Bad Gateway: <html><body> <h1>502 Bad Gateway</h1> </body></html>"),
    ],
    ids=["a problem without fields says title and detail", "a proxy's HTML page is kept short"],
)
def test_an_error_reads_as_one_line(servers: Servers, slug: str, expected: str) -> None:
    servers.start()
    with Client(servers.url) as api, pytest.raises(ApiError) as raised:
        api.types.get(slug)
    assert str(raised.value) == expected
    assert "\n" not in str(raised.value)


class SyncCaller:
    def __init__(self, url: str) -> None:
        self.api = Client(url)

    def pid(self) -> int:
        """Which process answered a GET."""
        return int(self.api.operations.get("op").progress)

    def post(self) -> object:
        return self.api.instances("demo").retry("hello")

    def close(self) -> None:
        self.api.close()


class AsyncCaller:
    """The same requests through the AsyncClient, on a loop of its own."""

    def __init__(self, url: str) -> None:
        self.api = AsyncClient(url)
        self.loop = asyncio.new_event_loop()

    def pid(self) -> int:
        return int(self.loop.run_until_complete(self.api.operations.get("op")).progress)

    def post(self) -> object:
        return self.loop.run_until_complete(self.api.instances("demo").retry("hello"))

    def close(self) -> None:
        self.loop.run_until_complete(self.api.aclose())
        self.loop.close()


CASES = {
    "a sync GET is sent again to the new process": (SyncCaller, "GET"),
    "an async GET is sent again to the new process": (AsyncCaller, "GET"),
    "a sync POST is not sent twice": (SyncCaller, "POST"),
    "an async POST is not sent twice": (AsyncCaller, "POST"),
}


@pytest.mark.parametrize(("make_caller", "method"), CASES.values(), ids=CASES.keys())
def test_a_connection_closed_before_any_answer(
    servers: Servers, make_caller: type[SyncCaller | AsyncCaller], method: str
) -> None:
    """The old process dies with the request unread in its socket (the connection is
    reset); the new process already serves the listening socket."""
    old = servers.start()
    caller = make_caller(servers.url)
    outcome: dict[str, object] = {}

    def request() -> None:
        try:
            outcome["answer"] = caller.pid() if method == "GET" else caller.post()
        except httpx.TransportError as exc:
            outcome["error"] = exc

    try:
        assert caller.pid() == old.pid  # a connection kept alive, to the old process
        os.kill(old.pid, signal.SIGSTOP)
        new = servers.start()
        worker = threading.Thread(target=request)
        worker.start()
        wait_for(servers.unread_requests, 10, "the request to sit unread at the old server")
        os.kill(old.pid, signal.SIGKILL)
        worker.join(30)
        assert not worker.is_alive()
    finally:
        caller.close()
    if method == "GET":
        assert outcome == {"answer": new.pid}
    else:
        assert isinstance(outcome.get("error"), httpx.ReadError | httpx.RemoteProtocolError)
