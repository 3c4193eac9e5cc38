"""The README's CLI quickstart, run as written against a live control plane."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from metapaas.testing import ControlPlane
from tests.cli.conftest import METAPAAS, Cli

README = Path(__file__).resolve().parents[2] / "README.md"
DOCUMENTED_URL = "http://127.0.0.1:8080"  # where `make run` serves


def console_commands(heading: str) -> list[str]:
    """The ``$ `` lines of the first console block in the README's section ``heading``."""
    section = README.read_text().split(f"## {heading}\n", 1)[1]
    block = re.search(r"```console\n(.*?)```", section, re.DOTALL)
    assert block is not None, f"the section {heading!r} has no ```console block"
    return [line[2:] for line in block.group(1).splitlines() if line.startswith("$ ")]


def checkout(tmp_path: Path, control_plane: ControlPlane, cli: Cli) -> tuple[Path, dict[str, str]]:
    """The directory `make run` was started in (its state is .metapaas/), and the
    environment a shell there has: the test's CLI, ``metapaas`` on the PATH."""
    workdir = tmp_path / "checkout"
    workdir.mkdir()
    (workdir / ".metapaas").symlink_to(control_plane.home)
    env = cli.environment() | {"PATH": f"{METAPAAS.parent}{os.pathsep}{os.environ['PATH']}"}
    return workdir, env


@pytest.mark.e2e
def test_the_readme_quickstart_runs_as_written(
    cli: Cli, control_plane: ControlPlane, tmp_path: Path
) -> None:
    commands = console_commands("Quickstart (CLI)")
    assert commands[0].startswith("metapaas login")
    assert commands[-1].startswith("metapaas delete")
    workdir, env = checkout(tmp_path, control_plane, cli)
    for command in commands:
        done = subprocess.run(
            ["bash", "-c", command.replace(DOCUMENTED_URL, control_plane.url)],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, f"$ {command}\n{done.stdout}\n{done.stderr}"
    assert cli.run("show", "demo", "hello").returncode == 1  # deleted at the end
