"""``metapaas plugin new`` writes a project whose own tests pass as an author runs them,
and whose wheel builds (the wheel ``POST /v1/plugins`` installs)."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from typer.testing import CliRunner

from metapaas.cli.main import app
from metapaas.scaffold import ScaffoldError, new_project

PIP_SECONDS = 300


def author_venv(where: Path) -> Path:
    """A throwaway venv that sees this environment's packages (MetaPaaS, pytest, pip)
    the way a venv with ``--system-site-packages`` sees the system's: what the author
    installs goes into it, and this environment is left unchanged."""
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


def run(argv: list[str | Path], cwd: Path) -> str:
    done = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=PIP_SECONDS, check=False
    )
    assert done.returncode == 0, f"{argv} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.e2e
def test_a_new_project_installs_passes_its_own_tests_and_builds_its_wheel(
    tmp_path: Path,
) -> None:
    project = tmp_path / "metapaas-hello"
    result = CliRunner().invoke(app, ["plugin", "new", "hello", "--dir", str(project)])
    assert result.exit_code == 0, result.output
    python = author_venv(tmp_path / "venv")

    run([python, "-m", "pip", "install", "-q", "-e", ".[test]"], project)
    tests = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    assert "4 passed" in tests, tests
    run([python, "-m", "pip", "wheel", "-q", "--no-deps", "-w", "dist", "."], project)
    assert [p.name for p in (project / "dist").iterdir()] == [
        "metapaas_hello-0.1.0-py3-none-any.whl"
    ]


@pytest.mark.parametrize(
    ("slug", "reason"),
    [
        pytest.param("Hello", "must match", id="a slug with capitals is refused"),
        pytest.param("h", "must match", id="a one-letter slug is refused"),
        pytest.param("hello-world", "must match", id="a slug with a dash is refused"),
    ],
)
def test_a_bad_slug_writes_nothing(tmp_path: Path, slug: str, reason: str) -> None:
    with pytest.raises(ScaffoldError, match=reason):
        new_project(slug, tmp_path / "project")
    assert not (tmp_path / "project").exists()


def test_a_directory_with_files_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep", encoding="utf-8")
    result = CliRunner().invoke(app, ["plugin", "new", "hello", "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "is not empty" in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]


def test_names_follow_the_slug(tmp_path: Path) -> None:
    written = new_project("big_cache", tmp_path)
    relative = {str(p.relative_to(tmp_path)) for p in written}
    assert "src/metapaas_big_cache/__init__.py" in relative
    assert "src/metapaas_big_cache/migrations/versions/big_cache_0001_visits.py" in relative
    pyproject = (tmp_path / "pyproject.toml").read_text(encoding="utf-8")
    assert 'name = "metapaas-big-cache"' in pyproject
    assert 'big_cache = "metapaas_big_cache:BigCache"' in pyproject
