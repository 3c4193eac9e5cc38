"""The ssh provider's cheap check of a node's agent, run by a host's bare python3 (standard
library and ``_procs`` alone): true, false, or null for no such node."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from metapaas_ssh.hostside import LIVENESS_SCRIPT

from metapaas.providers import _procs

PYTHON = shutil.which("python3", path="/usr/bin") or sys.executable


def alive(node_file: Path) -> object:
    argv = [PYTHON, "-I", "-S", "-c", LIVENESS_SCRIPT, _procs.__file__, str(node_file)]
    done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30)
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        pytest.param(lambda pid, start: {"pid": pid, "start_time": start}, True, id="running"),
        pytest.param(
            lambda pid, start: {"pid": pid, "start_time": start + 1}, False, id="pid reused"
        ),
        pytest.param(lambda pid, start: {"pid": None, "start_time": None}, False, id="reserved"),
    ],
)
def test_the_script_tells_a_running_agent(tmp_path: Path, record: object, expected: bool) -> None:
    me = _procs.stat(os.getpid())
    assert me is not None
    node_file = tmp_path / "node.json"
    node_file.write_text(json.dumps(record(me.pid, me.start_time)))  # type: ignore[operator]
    assert alive(node_file) is expected


def test_no_node_file_is_no_node(tmp_path: Path) -> None:
    assert alive(tmp_path / "node.json") is None
