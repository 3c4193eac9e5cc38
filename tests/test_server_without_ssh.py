"""A server whose only provider is ``local`` (the runtime sees no other entry point, as where
the ssh distribution is not installed) runs, and knows no host, no pool and no pin: no such
route in its OpenAPI document, no such page in its console, no such table in its database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect

from metapaas.api import AppState, build_state, create_app, prepare
from metapaas.api.app import start_orchestrator
from metapaas.config import Settings
from metapaas.providers import ENTRY_POINT_GROUP

LOCAL_ONLY = [point for point in entry_points(group=ENTRY_POINT_GROUP) if point.name == "local"]


@pytest.fixture
def state(tmp_path: Path, empty_database_url: str) -> Iterator[AppState]:
    settings = Settings(home=tmp_path / "home", database_url=empty_database_url)
    state = build_state(settings, provider_entry_points=LOCAL_ONLY)
    prepare(state)
    yield state
    state.engine.dispose()


def test_it_serves_with_local_alone_and_runs_its_orchestrator(state: AppState) -> None:
    assert state.providers.names() == ["local"]
    stop = start_orchestrator(state)
    try:
        names = {thread.name for thread in threading.enumerate()}
        assert not names & {"host-monitor", "ssh"}
        with TestClient(create_app(state)) as client:
            assert client.get("/readyz").json()["status"] == "ready"
    finally:
        stop()


def test_it_has_no_host_route_page_or_table(state: AppState) -> None:
    with TestClient(create_app(state)) as client:
        paths = client.get("/openapi.json").json()["paths"]
        assert paths, "the document lists the runtime's routes"
        assert not [p for p in paths if p.startswith(("/v1/hosts", "/v1/placement"))]
        assert client.get("/ui/extensions.json").json() == {"pages": []}
        assert client.get("/v1/hosts").status_code == 404
    tables = inspect(state.engine).get_table_names()
    assert "metapaas_alembic_version" in tables
    assert not [t for t in tables if t.startswith("ssh_")]
    assert not {"hosts", "host_nodes", "host_volumes", "placement_pins"} & set(tables)
