"""A control plane for the console's tests whose nodes are simulated, for what real nodes
would take long to do (a backup, a restore): the real API of an in-process control plane
(:class:`~metapaas.testing.InProcessControlPlane`) served over HTTP for the browser, and
its orchestrator over simulated agents (:mod:`metapaas.testing.simulation`) stepped in the
background at the pace of real time, so a page's polls see operations end as a server's
would."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from metapaas.testing import wait_for
from metapaas.testing.simulation import Simulation

TICK_SECONDS = 0.2
"""Real seconds between two rounds of the simulation, each moving its clock as far."""


@contextlib.contextmanager
def served(app: ASGIApp) -> Iterator[str]:
    """``app`` at ``http://127.0.0.1:<a free port>`` while the block runs."""
    listener = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, name="uvicorn")
    thread.start()
    try:
        wait_for(lambda: server.started, 30, "uvicorn to serve")
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        listener.close()


@contextlib.contextmanager
def keeping_time(simulation: Simulation) -> Iterator[None]:
    """A round of ``simulation`` every TICK_SECONDS while the block runs. A round that
    fails stops them, and the block fails with its error when it ends."""
    stop = threading.Event()
    failures: list[Exception] = []

    def rounds() -> None:
        try:
            while not stop.wait(TICK_SECONDS):
                simulation.round(TICK_SECONDS)
        except Exception as error:  # raised again on the test's thread
            failures.append(error)

    thread = threading.Thread(target=rounds, name="simulation")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)
    if failures:
        raise failures[0]
