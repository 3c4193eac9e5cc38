"""A third provider, written by someone else: a distribution built from the example in
``docs/providers.md`` in a temporary directory, pip-installed into a directory of its own on
the server's ``PYTHONPATH`` (never into the shared environment), chosen with
``METAPAAS_PROVIDER``; a ``demo`` instance becomes ACTIVE on it and is deleted."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from metapaas.testing import ControlPlane, wait_for

GUIDE = Path(__file__).parent.parent / "docs" / "providers.md"
PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "metapaas-mini"
version = "0.1.0"
dependencies = ["metapaas"]

{entry_points}
[tool.setuptools.packages.find]
where = ["src"]
"""
pytestmark = pytest.mark.e2e


def _example(language: str) -> str:
    """The guide's first example in ``language``."""
    text = GUIDE.read_text(encoding="utf-8")
    found = re.search(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)
    assert found is not None, f"docs/providers.md has no {language} example"
    return found.group(1)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The distribution, built from the guide and installed into a target directory."""
    project = tmp_path_factory.mktemp("metapaas-mini")
    package = project / "src" / "metapaas_mini"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(_example("python"))
    (project / "pyproject.toml").write_text(PYPROJECT.format(entry_points=_example("toml")))
    target = tmp_path_factory.mktemp("site")
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    subprocess.run(
        [*pip, "--target", str(target), str(project)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return target


@pytest.fixture
def plane(installed: Path, tmp_path: Path, e2e_database_url: str) -> Iterator[ControlPlane]:
    plane = ControlPlane(
        tmp_path / "home",
        e2e_database_url,
        METAPAAS_PROVIDER="mini",
        METAPAAS_MINI_DIRECTORY="elsewhere",
        PYTHONPATH=str(installed),
    )
    plane.start()
    try:
        yield plane
        plane.delete_all_instances(120)
    finally:
        plane.stop()


def test_the_guides_example_is_not_in_the_shared_environment() -> None:
    assert subprocess.run([sys.executable, "-c", "import metapaas_mini"]).returncode != 0


def test_a_demo_instance_runs_on_a_third_provider_and_is_deleted(plane: ControlPlane) -> None:
    with plane.client() as api:
        web = plane.create_instance(api, "demo", {"name": "web"}, timeout=120)
        path = f"/v1/types/demo/instances/{web['id']}"
        (node,) = api.get(f"{path}/nodes").json()["items"]
        nodes = plane.home / "elsewhere" / "nodes"  # the provider's, with its own setting
        assert (nodes / node["name"]).is_dir()
        assert not (plane.home / "nodes" / node["name"]).exists(), "not the local provider's"

        assert api.delete(path).status_code == 202
        wait_for(lambda: api.get(path).status_code == 404, 60, "the instance to be deleted")
        assert not (nodes / node["name"]).exists()
