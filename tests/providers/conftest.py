"""Fixtures for the provider tests: local providers whose agent is a stand-in.

The real agent is not needed to prove what a provider does with processes, so
each node runs a tiny Python script instead. Every node a test creates is
deleted at the end, so no process outlives the test.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import BaseModel
from sqlalchemy.orm import sessionmaker

from metapaas.bundle import Bundles
from metapaas.db import Sealer
from metapaas.providers import (
    INSTANCE,
    MANAGED,
    ROLE,
    TYPE,
    LocalProvider,
    NodeSpec,
    NoSettings,
    ProviderContext,
)

SLEEPER = "import time; time.sleep(60)"

# An agent with a child: in its own process group, or in a session of its own
# with the agent ignoring SIGTERM, so only the SIGKILL after the grace ends both.
_TREE = """
import pathlib, signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                         start_new_session={detach})
if {detach}:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
pathlib.Path("child.pid").write_text(str(child.pid))
time.sleep(60)
"""
TREE_IN_GROUP = _TREE.format(detach=False)
TREE_DETACHED_STUBBORN = _TREE.format(detach=True)

MakeProvider = Callable[..., LocalProvider]


def script_argv(script: str) -> Callable[[str, Path], list[str]]:
    """An ``agent_argv`` that runs ``script`` with this interpreter in the node directory."""
    return lambda url, node_dir: [sys.executable, "-c", script]


def spec(name: str, *, instance: str = "i-1", ports: Mapping[str, int] | None = None) -> NodeSpec:
    """A spec with the labels the orchestrator always sets; ``dataclasses.replace`` the rest.
    ``ports`` are names and standard numbers (one ``http`` port by default)."""
    labels = {MANAGED: "true", INSTANCE: instance, TYPE: "demo", ROLE: "main"}
    return NodeSpec(name, labels, ports or {"http": 80}, "tok-1", "http://127.0.0.1:1")


def context(home: Path, settings: BaseModel | None = None) -> ProviderContext[Any]:
    """A context whose database nobody opens and whose calls back to the runtime do nothing:
    for providers that keep nothing there."""
    return ProviderContext(
        name="test",
        home=home,
        settings=settings or NoSettings(),
        sessions=sessionmaker(),
        sealer=Sealer(Fernet.generate_key()),
        bundles=Bundles(home),
        type_packages=dict,
        reconcile=lambda _ids: None,
        wake=lambda: None,
    )


def recorded(home: Path, name: str) -> dict[str, Any]:
    """The node's ``node.json``, as the provider wrote it."""
    data: dict[str, Any] = json.loads((home / "nodes" / name / "node.json").read_text())
    return data


def wait_for(predicate: Callable[[], bool], what: str) -> None:
    """Poll ``predicate`` a bounded number of times; fail naming ``what``."""
    for _ in range(400):
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"gave up waiting for {what}")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def make_local(home: Path) -> Iterator[MakeProvider]:
    """Builds providers on ``home``; at the end deletes every node found there."""

    def make(script: str = SLEEPER, grace: float = 5.0) -> LocalProvider:
        return LocalProvider(home, grace=grace, agent_argv=script_argv(script))

    yield make
    cleaner = make(grace=0.5)
    for info in cleaner.list_nodes({}):
        cleaner.delete_node(info.name)
