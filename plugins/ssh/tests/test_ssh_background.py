"""The host monitor is the provider's background work: a server with the ssh provider
installed, ``local`` its default and no host runs no monitor (nor an SSH thread); the first
host registered starts it, the last one removed stops it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest
from metapaas_ssh.tables import Host

from metapaas.api import AppState, build_state, prepare
from metapaas.api.app import start_orchestrator
from metapaas.config import Settings
from metapaas.testing import free_port, wait_for

KEY = asyncssh.generate_private_key("ssh-ed25519")


def threads() -> set[str]:
    return {thread.name for thread in threading.enumerate()}


@pytest.fixture
def state(tmp_path: Path, e2e_database_url: str) -> Iterator[AppState]:
    settings = Settings(home=tmp_path / "home", database_url=e2e_database_url, resync_seconds=30)
    state = build_state(settings)
    prepare(state)
    stop = start_orchestrator(state)
    yield state
    stop()
    state.engine.dispose()


def test_the_monitor_runs_only_while_a_host_is_registered(state: AppState) -> None:
    assert state.settings.provider == "local"
    assert {"local", "ssh"} <= set(state.providers.names())
    assert not threads() & {"host-monitor", "ssh"}

    with state.sessions.begin() as session:
        session.add(
            Host(
                name="h1",
                address="127.0.0.1",
                port=free_port(),  # nobody answers: the host is found UNREACHABLE
                sealed_private_key=state.sealer.seal(
                    {"private_key": KEY.export_private_key().decode()}
                ),
                host_key=KEY.export_public_key().decode().strip(),
                capacity_nodes=1,
                capacity_memory_mb=512,
            )
        )
    state.providers.wake("ssh")  # as the registering route does
    wait_for(lambda: "host-monitor" in threads(), 10, "the monitor to start", interval=0.05)
    wait_for(lambda: _state_of(state, "h1") == "UNREACHABLE", 30, "h1 to be checked")

    with state.sessions.begin() as session:
        session.delete(session.get(Host, "h1"))
    state.providers.wake("ssh")
    wait_for(lambda: "host-monitor" not in threads(), 40, "the monitor to stop", interval=0.05)


def _state_of(state: AppState, name: str) -> str:
    with state.sessions() as session:
        host = session.get(Host, name)
        return "" if host is None else str(host.state)
