"""``docs/building-a-plugin.md`` runs as written: a project made by ``metapaas plugin
new``, installed as its author would, passes its own tests, and its wheel builds; then
the wheel is installed into a running control plane over ``POST /v1/plugins`` and an
instance of the new type turns ACTIVE (steps 4 and 5).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from metapaas.testing import ControlPlane

GUIDE = Path(__file__).parents[2] / "docs" / "building-a-plugin.md"
STEP_SECONDS = 600
WHEEL = "metapaas-hello/dist/metapaas_hello-0.1.0-py3-none-any.whl"

pytestmark = pytest.mark.e2e


def guide_steps() -> list[str]:
    """The guide's ``sh`` blocks, in order."""
    return re.findall(r"```sh\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.DOTALL)


def author_venv(where: Path) -> Path:
    """A throwaway venv that sees this environment's packages (MetaPaaS, pytest, pip)
    as a ``--system-site-packages`` venv sees the system's: what the guide installs
    goes into it, and this environment is left unchanged."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    site_dir = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    parent = sysconfig.get_paths()["purelib"]
    Path(site_dir, "metapaas-parent.pth").write_text(
        f"import site; site.addsitedir({parent!r})\n", encoding="utf-8"
    )
    return python


def run_steps(steps: list[str], cwd: Path, **env: str) -> str:
    """The steps as one bash script (a ``cd`` carries on), in ``cwd``."""
    script = "\n".join(steps)
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # `metapaas`
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env={**os.environ, "PATH": path, **env},
        capture_output=True,
        text=True,
        timeout=STEP_SECONDS,
        check=False,
    )
    assert done.returncode == 0, f"the guide's steps failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_guide_runs_from_an_empty_directory_to_an_instance_of_the_installed_type(
    tmp_path: Path, control_plane: ControlPlane
) -> None:
    """Steps 1-3 make the project, pass its tests and build the wheel; 4 and 5 install it
    into the running control plane and make an instance."""
    python = author_venv(tmp_path / "venv")
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = {"PYTHON": str(python), "METAPAAS_URL": control_plane.url, "TOKEN": control_plane.token}
    output = run_steps(guide_steps(), workdir, **env)
    assert "5 passed" in output, output
    assert (workdir / WHEEL).is_file()
    assert '"slug":"hello"' in output
    assert '"api_key"' in output
