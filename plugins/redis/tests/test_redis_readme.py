"""The README's example session runs as written, so it cannot rot."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from metapaas.testing import ControlPlane

pytestmark = pytest.mark.e2e

README = Path(__file__).parents[1] / "README.md"


def example_session() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Example session", 1)[1]
    found = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert found is not None, "the README has no example session"
    return found.group(1)


def test_the_readme_session_runs_against_a_control_plane(control_plane: ControlPlane) -> None:
    env = {**os.environ, "METAPAAS_URL": control_plane.url, "TOKEN": control_plane.token}
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", example_session()],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "NOPERM" in result.stdout  # the readonly user was refused the SET
