"""Run the ``metapaas`` command as a user does: a subprocess, its own config directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from metapaas.testing import ControlPlane

METAPAAS = Path(sys.executable).with_name("metapaas")
COMMAND_SECONDS = 180


@dataclass
class Cli:
    """``metapaas`` with ``XDG_CONFIG_HOME`` under the test's tmp dir and no ``METAPAAS_*``
    from the outside; ``env`` adds variables."""

    config: Path
    env: dict[str, str] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("METAPAAS_")}
        return {**clean, "XDG_CONFIG_HOME": str(self.config), "COLUMNS": "200", **self.env}

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(METAPAAS), *args],
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=COMMAND_SECONDS,
            stdin=subprocess.DEVNULL,
        )

    def ok(self, *args: str) -> str:
        """Run a command that must succeed; its stdout."""
        done = self.run(*args)
        assert done.returncode == 0, f"metapaas {' '.join(args)}: {done.stderr}"
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--output", "json"))

    @property
    def profiles_file(self) -> Path:
        return self.config / "metapaas" / "profiles.toml"


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "config")


@pytest.fixture
def served_cli(cli: Cli, control_plane: ControlPlane) -> Cli:
    """The command pointed at a live control plane by METAPAAS_URL / METAPAAS_TOKEN."""
    cli.env.update(METAPAAS_URL=control_plane.url, METAPAAS_TOKEN=control_plane.token)
    return cli
