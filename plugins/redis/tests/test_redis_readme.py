"""The README's example session runs as written, so it cannot rot."""

from __future__ import annotations

from pathlib import Path

import pytest

from metapaas.testing import ControlPlane, run_example_session

pytestmark = pytest.mark.e2e

README = Path(__file__).parents[1] / "README.md"


def test_the_readme_session_runs_against_a_control_plane(control_plane: ControlPlane) -> None:
    session = run_example_session(README, control_plane, timeout=120)
    assert "NOPERM" in session.stdout  # the readonly user was refused the SET
