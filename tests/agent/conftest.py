"""Fixtures of the agent's tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest

from .helpers import ControlPlane, FakeClock, handler_for


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def control_plane() -> Iterator[tuple[ControlPlane, str]]:
    """A real HTTP server on 127.0.0.1:<free port>, stopped after the test."""
    plane = ControlPlane()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(plane))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield plane, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
